"""TF Serving's REST API: request bodies, responses, and a stand-in for its JSON handling.

    body = rest_request(["where is my parcel?"])      # POST .../models/NAME:predict
    outputs = parse_rest_response(response_json)       # {"label": array([...]), ...}

`decode_rest_request` and `encode_rest_response` follow TF Serving's JSON
rules, so the checks can run REST bodies through the C++ loader here.
"""

import base64
import json

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import string_array
from bertcnn_tf.serving.contract import text_columns

class RestError(RuntimeError):
    """TF Serving answered a REST request with `{"error": ...}`."""


def rest_request(texts, text_pairs=None, signature_name=SERVING_SIGNATURE, form="instances", b64=False):
    """The JSON body of a TF Serving REST predict request for texts.

    `form="instances"` is the row format, `form="inputs"` the columnar one;
    `b64=True` sends each text as `{"b64": ...}` (any bytes, UTF-8 or not).

    >>> rest_request(["hi", "no"])
    {'signature_name': 'serving_default', 'instances': ['hi', 'no']}
    >>> rest_request(["hi"], form="inputs", b64=True)
    {'signature_name': 'serving_default', 'inputs': {'text': [{'b64': 'aGk='}]}}
    """
    return rest_body(text_columns(texts, text_pairs), signature_name, form, b64)


def rest_body(columns, signature_name=SERVING_SIGNATURE, form="instances", b64=False):
    """A REST predict body from `{input name: one value per example}`.

    Row format with a single input sends bare values, as TF Serving allows;
    with several inputs, one object per example.

    >>> rest_body({"token_ids": [[2, 5, 3]], "segment_ids": [[0, 0, 0]]}, "predict_tokens")
    {'signature_name': 'predict_tokens', 'instances': [{'token_ids': [2, 5, 3], 'segment_ids': [0, 0, 0]}]}
    """
    if form not in ("instances", "inputs"):
        raise ValueError(f"form must be 'instances' or 'inputs', not {form!r}")
    if len({len(values) for values in columns.values()}) > 1:
        raise ValueError("every input needs one value per example")
    columns = {name: [_to_json(value, b64) for value in values] for name, values in columns.items()}
    if form == "inputs":
        payload = columns
    elif len(columns) == 1:
        payload = next(iter(columns.values()))
    else:
        payload = [dict(zip(columns, row)) for row in zip(*columns.values())]
    return {"signature_name": signature_name, form: payload}


def parse_rest_response(body):
    """{output name: numpy array} from a TF Serving REST predict response.

    Accepts the row (`predictions`) and columnar (`outputs`) forms, as a
    dict or JSON text; strings come back as `str`, `{"b64": ...}` as bytes.
    Raises `RestError` for an `{"error": ...}` body.

    >>> parse_rest_response('{"predictions": [{"label": "billing", "label_id": 0}]}')["label"]
    array(['billing'], dtype=object)
    """
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    if "error" in body:
        raise RestError(body["error"])
    if "predictions" in body:
        rows = body["predictions"]
        if rows and _is_named(rows[0]):
            columns = {name: [row[name] for row in rows] for name in rows[0]}
        else:
            columns = {"predictions": rows}
    elif "outputs" in body:
        outputs = body["outputs"]
        columns = outputs if _is_named(outputs) else {"outputs": outputs}
    else:
        raise ValueError(f"not a TF Serving predict response: keys {sorted(body)}")
    return {name: _array(_from_json(values)) for name, values in columns.items()}


def decode_rest_request(body, signatures):
    """What TF Serving feeds for a REST body: (signature name, {input: array}).

    >>> decode_rest_request({"instances": ["hi"]}, {"serving_default": {"inputs": {"text": ("text:0", "DT_STRING", [None])}}})
    ('serving_default', {'text': array([b'hi'], dtype=object)})

    Follows TF Serving's JSON rules (tensorflow_serving/util/json_tensor.cc):
    `instances` rows are bare values for a one-input signature or objects
    keyed by input name; `inputs` columns are one value or an object keyed by
    input name; `{"b64": ...}` decodes to bytes; other strings are UTF-8.
    """
    name = body.get("signature_name", SERVING_SIGNATURE)
    specs = signatures[name]["inputs"]
    if ("instances" in body) == ("inputs" in body):
        raise ValueError("a predict body has exactly one of 'instances' and 'inputs'")
    if "instances" in body:
        rows = body["instances"]
        if rows and _is_named(rows[0]):
            columns = {key: [row[key] for row in rows] for key in specs}
        else:
            columns = {_only_input(specs): rows}
    else:
        inputs = body["inputs"]
        columns = inputs if _is_named(inputs) else {_only_input(specs): inputs}
    return name, {key: _feed_array(_from_json(columns[key]), specs[key][1]) for key in specs}


def encode_rest_response(outputs, form="instances"):
    """The JSON body TF Serving answers for `outputs` ({name: numpy array}).

    >>> encode_rest_response({"label": np.array([b"billing"], dtype=object), "label_id": np.array([0])})
    {'predictions': [{'label': 'billing', 'label_id': 0}]}

    String outputs are written as text, except outputs named `*_bytes`,
    which TF Serving base64-encodes.
    """
    columns = {name: _output_to_json(name, value) for name, value in outputs.items()}
    if form == "inputs":
        return {"outputs": columns if len(columns) > 1 else next(iter(columns.values()))}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}


def _is_named(value):
    """Whether a JSON object maps input or output names (not a `{"b64": ...}` value)."""
    return isinstance(value, dict) and set(value) != {"b64"}


def _only_input(specs):
    if len(specs) != 1:
        raise ValueError(f"this signature takes inputs {sorted(specs)}: name them in each instance")
    return next(iter(specs))


def _to_json(value, b64):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_to_json(item, b64) for item in value]
    if isinstance(value, (str, bytes)):
        data = value.encode("utf-8") if isinstance(value, str) else value
        if b64:
            return {"b64": base64.b64encode(data).decode("ascii")}
        return data.decode("utf-8")  # bytes that are not UTF-8 need b64=True
    return value.item() if isinstance(value, np.generic) else value


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


def _array(values):
    array = np.array(values)
    return array.astype(object) if array.dtype.kind in "US" else array


def _feed_array(values, dtype_name):
    if dtype_name == "DT_STRING":
        return string_array(values)
    return np.asarray(values, dtype=tf.as_dtype(types_pb2.DataType.Value(dtype_name)).as_numpy_dtype)


def _output_to_json(name, value):
    if value.dtype != object:
        return value.tolist()
    binary = name.endswith("_bytes")
    return _to_json(value.tolist(), b64=binary) if binary else decode_strings(value.tolist())


def decode_strings(value):
    if isinstance(value, list):
        return [decode_strings(item) for item in value]
    return value.decode("utf-8", "replace")
