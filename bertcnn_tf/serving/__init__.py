"""TF Serving: export (`export`), the checks with TensorFlow's C++ loader (`check`), and clients.

The graph an export holds is `graph`; the names clients use are `contract`;
`rest` and `grpc_requests` build requests and read responses; `c_api`
runs an export in-process through the C++ loader TF Serving itself runs.
"""
