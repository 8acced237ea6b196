"""TF Serving's gRPC API: `PredictRequest`s for texts or tokens, and responses as numpy.

    request = grpc_predict_request(["where is my parcel?"], model_name="NAME")
    outputs = parse_grpc_response(stub.Predict(request, timeout=10))
"""

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import string_array
from bertcnn_tf.serving.contract import text_columns

def grpc_predict_request(texts, model_name, text_pairs=None, signature_name=SERVING_SIGNATURE, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for texts.

    >>> request = grpc_predict_request(["hi"], model_name="feedback", version=2)
    >>> request.model_spec.version.value, request.inputs["text"].dtype  # DT_STRING is 7
    (2, 7)
    """
    return predict_request(text_columns(texts, text_pairs), model_name, signature_name, version)


def predict_request(columns, model_name, signature_name=SERVING_SIGNATURE, version=None):
    """A `PredictRequest` from `{input name: one value per example}`.

    Strings become DT_STRING, integers DT_INT32 (what `predict_tokens` takes).
    """
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, values in columns.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(_column_array(values)))
    return request


def parse_grpc_response(response):
    """{output name: numpy array} from a `PredictResponse` (strings as bytes).

    Example:
    ```python
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel("localhost:8500"))
    request = bertcnn_tf.grpc_predict_request(["where is my parcel?"], model_name="feedback")
    parse_grpc_response(stub.Predict(request, timeout=10))["label"]  # array([b'delivery'], dtype=object)
    ```
    """
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def _column_array(values):
    if all(isinstance(value, (str, bytes)) for value in values):
        return string_array(values)
    array = np.asarray(values)
    return array.astype(np.int32) if array.dtype.kind in "iu" else array
