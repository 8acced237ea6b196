"""Load and run a SavedModel through TensorFlow's C API, the way TF Serving does.

TF Serving loads a model with TensorFlow's C++ SavedModel loader
(`LoadSavedModel`, which builds a `Session`). The tensorflow pip wheel exports
the same loader through the C API (`TF_LoadSessionFromSavedModel`), so loading
an export here checks what TF Serving will check, without a TF Serving binary:
that every op is registered, that the variables restore, and that each
signature runs from its tensor names alone, with no Python function attached.
(Like TF Serving, the loader takes an export without a variables/ directory
for a model that has none; such a model fails only when a signature runs.)

Only the signature definitions are read with Python protobuf (from the
MetaGraphDef that the C API hands back); loading and running go through C.

Custom ops (tensorflow-text's `CaseFoldUTF8`, `FastWordpieceTokenizeWithOffsets`
...) must be registered in the process before loading: `import tensorflow_text`
(done here) registers them in the same op registry that the C API session uses.

    with SavedModelSession("saved_models/bertcnn/1") as session:
        print(session.signatures["serving_default"])
        outputs = session.run("serving_default", {"text": np.array([b"hi"], object)})
"""

import ctypes
import os

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tf-text ops every export uses
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow.core.protobuf import meta_graph_pb2

__all__ = ["SavedModelLoadError", "SavedModelRunError", "SavedModelSession"]

# Values of the C API's TF_DataType, which are those of DataType in types.proto.
_TF_STRING = types_pb2.DT_STRING

# Fixed-width dtypes share their memory layout between numpy and TensorFlow, so
# they are copied byte for byte.
_NUMPY_BY_TF_DTYPE = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
}
_TF_DTYPE_BY_NUMPY = {v: k for k, v in _NUMPY_BY_TF_DTYPE.items()}

# sizeof(TF_TString) (tsl/platform/ctstring_internal.h): a DT_STRING tensor's
# buffer is an array of these 24-byte structs, each holding a small string
# inline or pointing to a heap allocation. TF_DataTypeSize(TF_STRING) is 0, so
# the size cannot be asked of the library.
_TSTRING_SIZE = 24


class SavedModelLoadError(RuntimeError):
    """The C API's SavedModel loader refused an export directory."""

    def __init__(self, export_dir, code, message):
        self.export_dir = export_dir
        self.code = code
        self.message = message
        super().__init__(
            f"cannot load SavedModel {export_dir!r} through the TensorFlow "
            f"C API: {code}: {message}"
        )


class SavedModelRunError(RuntimeError):
    """TF_SessionRun failed; `code` is the status code's name (e.g. INVALID_ARGUMENT)."""

    def __init__(self, code, message):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class _TF_Buffer(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("length", ctypes.c_size_t),
        ("data_deallocator", ctypes.c_void_p),
    ]


class _TF_Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def _load_library():
    """Bind the C API functions used here, with their C signatures.

    `import tensorflow` has already loaded libtensorflow_cc.so.2 (which
    exports the session and SavedModel functions) and its dependency
    libtensorflow_framework.so.2 (status, buffer and tensor functions).
    Opening the same file again returns the loaded copy, so the op registry
    and kernels are shared with the Python side; symbol lookup through this
    handle also searches its dependencies, hence one handle for both.
    """
    lib = ctypes.CDLL(os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2"))
    p, i, i64, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_size_t
    signatures = {
        # Status
        "TF_NewStatus": (p, []),
        "TF_DeleteStatus": (None, [p]),
        "TF_GetCode": (i, [p]),
        "TF_Message": (ctypes.c_char_p, [p]),
        # Buffers, graphs, sessions
        "TF_NewBuffer": (ctypes.POINTER(_TF_Buffer), []),
        "TF_DeleteBuffer": (None, [ctypes.POINTER(_TF_Buffer)]),
        "TF_NewGraph": (p, []),
        "TF_DeleteGraph": (None, [p]),
        "TF_GraphOperationByName": (p, [p, ctypes.c_char_p]),
        "TF_GraphNextOperation": (p, [p, ctypes.POINTER(size)]),
        "TF_OperationOpType": (ctypes.c_char_p, [p]),
        "TF_NewSessionOptions": (p, []),
        "TF_DeleteSessionOptions": (None, [p]),
        "TF_SetConfig": (None, [p, ctypes.c_void_p, size, p]),
        "TF_LoadSessionFromSavedModel": (
            p,
            [p, p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), i, p,
             ctypes.POINTER(_TF_Buffer), p],
        ),
        "TF_SessionRun": (
            None,
            [p, p, ctypes.POINTER(_TF_Output), ctypes.POINTER(p), i,
             ctypes.POINTER(_TF_Output), ctypes.POINTER(p), i,
             ctypes.POINTER(p), i, p, p],
        ),
        "TF_CloseSession": (None, [p, p]),
        "TF_DeleteSession": (None, [p, p]),
        # Tensors
        "TF_AllocateTensor": (p, [i, ctypes.POINTER(i64), i, size]),
        "TF_DeleteTensor": (None, [p]),
        "TF_TensorType": (i, [p]),
        "TF_NumDims": (i, [p]),
        "TF_Dim": (i64, [p, i]),
        "TF_TensorByteSize": (size, [p]),
        "TF_TensorData": (p, [p]),
        # TF_TString_* in ctstring.h are static inline (no symbols); these
        # exported wrappers from tensorflow/c/tf_tstring.h do the same.
        "TF_StringInit": (None, [p]),
        "TF_StringCopy": (None, [p, ctypes.c_char_p, size]),
        "TF_StringGetDataPointer": (p, [p]),
        "TF_StringGetSize": (size, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = _load_library()


def _code_name(code):
    return error_codes_pb2.Code.Name(code)


class _Status:
    """A TF_Status that is always freed, even when an exception escapes."""

    def __enter__(self):
        self.ptr = _lib.TF_NewStatus()
        return self

    def __exit__(self, *exc):
        _lib.TF_DeleteStatus(self.ptr)

    @property
    def code(self):
        return _lib.TF_GetCode(self.ptr)

    @property
    def message(self):
        return _lib.TF_Message(self.ptr).decode("utf-8", "replace")


def _shape_list(shape_proto):
    """A TensorShapeProto as a list with None for unknown dims (None if unknown rank)."""
    if shape_proto.unknown_rank:
        return None
    return [d.size if d.size >= 0 else None for d in shape_proto.dim]


def _tensor_from_numpy(value):
    """A new TF_Tensor holding a copy of `value`; the caller must delete it.

    Copying into a buffer TensorFlow allocated (rather than wrapping numpy's
    memory) leaves no lifetime coupling between the numpy array and the
    session, and gives TensorFlow the alignment it wants.
    """
    array = np.asarray(value)
    dims = (ctypes.c_int64 * array.ndim)(*array.shape)
    if array.dtype.kind in "OSU":
        return _string_tensor(array, dims)
    dtype = _TF_DTYPE_BY_NUMPY.get(array.dtype)
    if dtype is None:
        raise TypeError(f"cannot feed numpy dtype {array.dtype} to TensorFlow")
    array = np.ascontiguousarray(array)
    tensor = _allocate_tensor(dtype, dims, array.ndim, array.nbytes)
    if array.nbytes:
        ctypes.memmove(_lib.TF_TensorData(tensor), array.ctypes.data, array.nbytes)
    return tensor


def _allocate_tensor(dtype, dims, ndim, nbytes):
    tensor = _lib.TF_AllocateTensor(dtype, dims, ndim, nbytes)
    if not tensor:
        raise MemoryError(f"TF_AllocateTensor failed for {nbytes} bytes")
    return tensor


def _string_tensor(array, dims):
    """A DT_STRING TF_Tensor from an array of bytes or str (str is UTF-8 encoded)."""
    items = [
        item.encode("utf-8") if isinstance(item, str) else bytes(item)
        for item in array.ravel()
    ]
    tensor = _allocate_tensor(_TF_STRING, dims, array.ndim, _TSTRING_SIZE * len(items))
    # In TF 2.21, TF_AllocateTensor leaves a DT_STRING buffer uninitialised
    # (TF_StringCopy into it crashes), so each TF_TString is set to empty
    # first. TF_DeleteTensor does free their heap parts afterwards.
    base = _lib.TF_TensorData(tensor)
    for index, item in enumerate(items):
        element = base + index * _TSTRING_SIZE
        _lib.TF_StringInit(element)
        _lib.TF_StringCopy(element, item, len(item))
    return tensor


def _tensor_to_numpy(tensor):
    """A numpy copy of a TF_Tensor's contents (DT_STRING → object array of bytes)."""
    shape = tuple(_lib.TF_Dim(tensor, d) for d in range(_lib.TF_NumDims(tensor)))
    count = int(np.prod(shape, dtype=np.int64))
    dtype = _lib.TF_TensorType(tensor)
    if dtype == _TF_STRING:
        base = _lib.TF_TensorData(tensor)
        out = np.empty(count, dtype=object)
        for index in range(count):
            element = base + index * _TSTRING_SIZE
            out[index] = ctypes.string_at(
                _lib.TF_StringGetDataPointer(element), _lib.TF_StringGetSize(element)
            )
        return out.reshape(shape)
    np_dtype = _NUMPY_BY_TF_DTYPE.get(dtype)
    if np_dtype is None:
        raise TypeError(f"cannot convert a {types_pb2.DataType.Name(dtype)} output to numpy")
    if count == 0:
        return np.empty(shape, dtype=np_dtype)
    raw = ctypes.string_at(_lib.TF_TensorData(tensor), _lib.TF_TensorByteSize(tensor))
    return np.frombuffer(raw, dtype=np_dtype, count=count).reshape(shape).copy()


class SavedModelSession:
    """A SavedModel loaded with TF_LoadSessionFromSavedModel (TF Serving's loader).

    Example:
    ```python
    with bertcnn_tf.SavedModelSession("saved_models/demo/1") as session:
        outputs = session.run("serving_default", {"text": np.array([b"charged twice"], dtype=object)})
    outputs["label"]  # array([b'billing'], dtype=object)
    ```

    `SavedModelSession(export_dir, tags=("serve",))` loads the MetaGraph with
    those tags and restores its variables, or raises `SavedModelLoadError`.
    Use it as a context manager, or call `close()`. `config`, a
    `tf.compat.v1.ConfigProto`, sets what TF Serving's flags set, such as
    `intra_op_parallelism_threads` (`--tensorflow_intra_op_parallelism`).

    Attributes: `export_dir`; `meta_graph_def` (the loaded MetaGraphDef
    proto); `signatures`, {name: {"inputs": {key: (tensor name, dtype name
    such as "DT_FLOAT", shape list with None for unknown dims)}, "outputs":
    {...}}}.
    """

    def __init__(self, export_dir, tags=("serve",), config=None):
        self.export_dir = os.fspath(export_dir)
        if isinstance(tags, str):
            tags = (tags,)
        self._session = None
        self._graph = _lib.TF_NewGraph()
        options = _lib.TF_NewSessionOptions()
        meta_graph_buffer = _lib.TF_NewBuffer()
        tag_array = (ctypes.c_char_p * len(tags))(*(t.encode() for t in tags))
        try:
            if config is not None:
                serialized = config.SerializeToString()
                with _Status() as status:
                    _lib.TF_SetConfig(options, serialized, len(serialized), status.ptr)
                    if status.code != error_codes_pb2.OK:
                        raise ValueError(f"invalid session config: {status.message}")
            with _Status() as status:
                session = _lib.TF_LoadSessionFromSavedModel(
                    options, None, self.export_dir.encode(), tag_array, len(tags),
                    self._graph, meta_graph_buffer, status.ptr,
                )
                if status.code != error_codes_pb2.OK:
                    raise SavedModelLoadError(
                        self.export_dir, _code_name(status.code), status.message
                    )
            self._session = session
            buffer = meta_graph_buffer.contents
            self.meta_graph_def = meta_graph_pb2.MetaGraphDef.FromString(
                ctypes.string_at(buffer.data, buffer.length)
            )
        finally:
            _lib.TF_DeleteBuffer(meta_graph_buffer)
            _lib.TF_DeleteSessionOptions(options)
            if self._session is None:
                _lib.TF_DeleteGraph(self._graph)
                self._graph = None
        self.signatures = {
            name: {
                "inputs": self._tensor_infos(signature.inputs),
                "outputs": self._tensor_infos(signature.outputs),
            }
            for name, signature in self.meta_graph_def.signature_def.items()
        }

    @staticmethod
    def _tensor_infos(infos):
        """{key: (tensor_name, dtype name such as "DT_FLOAT", shape list)}."""
        return {
            key: (info.name, types_pb2.DataType.Name(info.dtype), _shape_list(info.tensor_shape))
            for key, info in infos.items()
        }

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the session and free it and its graph; safe to call twice."""
        if self._session is not None:
            with _Status() as status:
                _lib.TF_CloseSession(self._session, status.ptr)
                _lib.TF_DeleteSession(self._session, status.ptr)
            self._session = None
        if self._graph is not None:
            _lib.TF_DeleteGraph(self._graph)
            self._graph = None

    def _output(self, tensor_name):
        """The TF_Output for a tensor name such as "serving_default_x:0"."""
        op_name, _, index = tensor_name.partition(":")
        operation = _lib.TF_GraphOperationByName(self._graph, op_name.encode())
        if not operation:
            raise KeyError(f"no operation {op_name!r} in the graph of {self.export_dir!r}")
        return _TF_Output(operation, int(index or 0))

    def run(self, signature_name, inputs):
        """Run a signature: {input key: numpy array} → {output key: numpy array}.

        Arrays are fed with their own dtype (no casting, as a C++ client
        would); str and bytes arrays become DT_STRING. Failures inside
        TensorFlow raise `SavedModelRunError`; the session stays usable.
        """
        if self._session is None:
            raise RuntimeError(f"the session for {self.export_dir!r} is closed")
        if signature_name not in self.signatures:
            raise KeyError(
                f"no signature {signature_name!r} in {self.export_dir!r}; "
                f"it has {sorted(self.signatures)}"
            )
        signature = self.signatures[signature_name]
        if set(inputs) != set(signature["inputs"]):
            raise ValueError(
                f"signature {signature_name!r} takes inputs "
                f"{sorted(signature['inputs'])}, got {sorted(inputs)}"
            )
        input_keys = sorted(inputs)
        output_keys = sorted(signature["outputs"])
        feeds = (_TF_Output * len(input_keys))(
            *(self._output(signature["inputs"][k][0]) for k in input_keys)
        )
        fetches = (_TF_Output * len(output_keys))(
            *(self._output(signature["outputs"][k][0]) for k in output_keys)
        )
        feed_values = (ctypes.c_void_p * len(input_keys))()
        fetch_values = (ctypes.c_void_p * len(output_keys))()
        try:
            for index, key in enumerate(input_keys):
                feed_values[index] = _tensor_from_numpy(inputs[key])
            with _Status() as status:
                _lib.TF_SessionRun(
                    self._session, None,
                    feeds, feed_values, len(input_keys),
                    fetches, fetch_values, len(output_keys),
                    None, 0, None, status.ptr,
                )
                if status.code != error_codes_pb2.OK:
                    raise SavedModelRunError(_code_name(status.code), status.message)
            return {
                key: _tensor_to_numpy(fetch_values[index])
                for index, key in enumerate(output_keys)
            }
        finally:
            # Null entries (a feed that failed to convert, fetches of a failed
            # run) are skipped; TF_DeleteTensor also frees TF_TString heap data.
            for tensor in (*feed_values, *fetch_values):
                if tensor:
                    _lib.TF_DeleteTensor(tensor)

    def ops(self):
        """Sorted op type names in the loaded graph and in its library functions.

        Exported tf.functions keep most of their ops inside FunctionDefs
        (reached through PartitionedCall), so both places are listed.
        """
        if self._graph is None:
            raise RuntimeError(f"the session for {self.export_dir!r} is closed")
        names = set()
        position = ctypes.c_size_t(0)
        while True:
            operation = _lib.TF_GraphNextOperation(self._graph, ctypes.byref(position))
            if not operation:
                break
            names.add(_lib.TF_OperationOpType(operation).decode())
        for function in self.meta_graph_def.graph_def.library.function:
            names.update(node.op for node in function.node_def)
        return sorted(names)
