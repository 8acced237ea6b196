"""Checks an export the way TF Serving will run it, and builds client requests.

`check_serving(path)` loads a SavedModel with TensorFlow's C++ loader (through
the C API, `bertcnn_tf.c_api`: the loader `tensorflow_model_server` runs;
`tf.saved_model.load` is not enough, since it can succeed where a
session-based loader fails), then runs these steps in order and stops at the
first failure with a `ServingCheckError` that names it:

- `path`: a version directory, or a base path's highest version;
- `model card`: `assets.extra/model_card.json` is there and readable;
- `load`: `TF_LoadSessionFromSavedModel` accepts the export;
- `signatures`: `serving_default` and `predict_tokens` have the expected
  inputs and outputs, every output batch-first;
- `ops`: the ops outside core TensorFlow are tf-text ops that the server
  links; gives the minimum TF Serving version;
- `warmup`: the records of `assets.extra/tf_serving_warmup_requests` replay;
- `rest`: TF Serving's REST JSON forms (row `instances`, columnar `inputs`,
  plain strings and `{"b64": ...}`) give the same outputs as tensors;
- `keras`: the outputs of both signatures equal the Keras model's
  (max abs difference <= 1e-5 for a float32 model);
- `bad inputs`: empty and whitespace-only texts, 10,000 words, invalid UTF-8
  and an empty batch give valid outputs (or INVALID_ARGUMENT), never a
  broken session.

Client helpers build TF Serving requests and parse its responses:

    body = rest_request(["where is my parcel?"])      # POST .../models/NAME:predict
    outputs = parse_rest_response(response_json)       # {"label": array([...]), ...}
    request = grpc_predict_request(["where is my parcel?"], model_name="NAME")
"""

import base64
import dataclasses
import functools
import glob
import json
import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text  # also registers tf-text's ops for the C API loader
from tensorflow.core.framework import op_def_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from bertcnn_tf.c_api import SavedModelRunError
from bertcnn_tf.c_api import SavedModelSession
from bertcnn_tf.precision import with_compute_dtype

SERVING_SIGNATURE = "serving_default"
TOKENS_SIGNATURE = "predict_tokens"
TEXT_INPUT = "text"
PAIR_INPUT = "text_pair"
TOKEN_INPUTS = ("token_ids", "segment_ids", "padding_mask")

# Paths inside a version directory. `assets/` holds files a client or the
# graph may read (the labels); `assets.extra/` holds files that travel with
# the model but are not part of the graph: TF Serving reads its warmup file
# from there, and the model card and the Keras reference outputs belong with
# it, since no op ever reads them.
LABELS_ASSET = os.path.join("assets", "labels.txt")
MODEL_CARD = os.path.join("assets.extra", "model_card.json")
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
KERAS_REFERENCE = os.path.join("assets.extra", "keras_reference.json")

# The largest difference between the export's probabilities and Keras's, by
# the model's compute dtype. A float32 model must agree to 1e-5. A float16
# or bfloat16 model runs kernels that the session's graph optimizer may fuse
# differently from Keras's eager ones, so it gets a few units in the last
# place of its dtype (mixed_float16 tiny models differ by about 1e-4).
TOLERANCES = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1e-2}

# TF Serving 2.12 to 2.19 link TF-Text 2.12.1, 2.20 links TF-Text 2.20. Of
# the 38 ops TF-Text 2.21 registers, these are the only ones missing from
# 2.12.1 (measured, see DESIGN.md; tensorflow/serving#2267).
TF_TEXT_OPS_NOT_IN_2_12_1 = frozenset(
    {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks", "TFText>Utf8Binarize"}
)
OLDEST_SERVING = "2.12"
SERVING_WITH_NEW_TF_TEXT = "2.20"
# Only tf-text ops decide the version: the core ops of these exports all exist
# in TF 2.12 (exports load and run in TF 2.12.1's C API loader with TF-Text
# 2.12.1's ops: tests/test_serving_checks.py, with BERTCNN_TF212_PYTHON set).

# Texts on which the export is compared with Keras: short, empty, accented
# and CJK, and longer than any sequence length (so truncation is exercised).
PROBE_TEXTS = (
    "The parcel arrived late and the box was damaged.",
    "great service, thank you!",
    "",
    "Café naïve résumé 東京 😀",
    " ".join(["refund please"] * 300),
    "ok",
)
PROBE_PAIRS = (
    "Was it late?",
    " ".join(["a much longer second text"] * 60),
    "not empty",
    "",
    "short",
    "   ",
)

BAD_INPUTS = {
    "empty string": [b""],
    "whitespace only": [b" \t\n  \r "],
    "10,000 words": [b" ".join([b"word"] * 10_000)],
    "invalid UTF-8": [b"\xff\xfe caf\xc3 \x80 bytes \xed\xa0\x80"],
    "empty batch": [],
}


class ServingCheckError(RuntimeError):
    """An export failed a serving check; `step` names the check that failed.

    `report` holds what the check found up to the failure, with
    `failed_step` and `error` set.
    """

    def __init__(self, step, message, report=None):
        self.step = step
        self.message = message
        self.report = report if report is not None else {}
        super().__init__(f"{step}: {message}")


class RestError(RuntimeError):
    """TF Serving answered a REST request with `{"error": ...}`."""


# --- Ops ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def tf_text_op_names():
    """The names of the ops that tensorflow-text registers (38 in 2.21).

    "Non-core" ops are found by asking each tf-text op library which ops it
    registered: `TF_LoadLibrary` on an already loaded library returns the op
    list recorded when it was first loaded (the same call `tf.load_op_library`
    makes). A snapshot of the registry taken before `import tensorflow_text`
    would be fragile: keras-hub imports tensorflow_text on its own import.
    """
    directory = os.path.dirname(tensorflow_text.__file__)
    names = set()
    for path in glob.glob(os.path.join(directory, "python", "**", "_*.so"), recursive=True):
        handle = pywrap_tf_session.TF_LoadLibrary(path)
        try:
            ops = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetOpList(handle))
        finally:
            pywrap_tf_session.TF_DeleteLibraryHandle(handle)
        names.update(op.name for op in ops.op)
    return frozenset(names)


def non_core_ops(op_names):
    """The ops of `op_names` that core TensorFlow does not register (tf-text's).

    >>> non_core_ops(["MatMul", "CaseFoldUTF8"])
    ['CaseFoldUTF8']
    """
    return sorted(set(op_names) & tf_text_op_names())


def min_tf_serving_version(non_core):
    """The oldest stock TF Serving that links every op of `non_core`.

    >>> min_tf_serving_version(["CaseFoldUTF8"]), min_tf_serving_version(["TFText>RoundRobinTrim"])
    ('2.12', '2.20')
    """
    return SERVING_WITH_NEW_TF_TEXT if set(non_core) & TF_TEXT_OPS_NOT_IN_2_12_1 else OLDEST_SERVING


def saved_model_ops(path):
    """Op names in a SavedModel's graph and its function library, from saved_model.pb."""
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    names = set()
    for meta_graph in saved_model.meta_graphs:
        names.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            names.update(node.op for node in function.node_def)
    return sorted(names)


# --- Layout ---------------------------------------------------------------


def numeric_versions(base_path):
    """The version numbers under a model's base path, as TF Serving sees them.

    TF Serving loads only children whose names are numbers, so hidden
    staging directories (`.NAME-tmp-...`) are never candidates.
    """
    if not os.path.isdir(base_path):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base_path)
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name))
    )


def resolve_version_dir(path):
    """`path` if it holds a SavedModel, else its highest numeric version directory."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = numeric_versions(path)
    if not versions:
        raise FileNotFoundError(
            f"no SavedModel at {path!r}: it has no saved_model.pb and no numeric "
            "version directory. Pass saved_models/NAME or saved_models/NAME/VERSION."
        )
    return os.path.join(path, str(versions[-1]))


def read_model_card(path):
    """The model card (a dict) of a version directory."""
    with open(os.path.join(path, MODEL_CARD), encoding="utf-8") as f:
        return json.load(f)


def read_warmup_requests(path):
    """[(signature name, {input: numpy array})] from a TF Serving warmup file."""
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"a warmup record holds a {log.WhichOneof('log_type')}, not a predict_log")
        request = log.predict_log.request
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or SERVING_SIGNATURE, inputs))
    return requests


# --- Outputs --------------------------------------------------------------


def output_specs(num_labels, multi_label):
    """{output name: (dtype name, shape)} of both signatures.

    Single-label: `probabilities`, `label_id`, `label`. Multi-label:
    `probabilities`, and `label_ids` / `labels` `[batch, num_labels]`: the
    ids and names over the threshold first, in class order, then -1 / "".
    """
    probabilities = ("DT_FLOAT", [None, num_labels])
    if multi_label:
        return {
            "probabilities": probabilities,
            "label_ids": ("DT_INT32", [None, num_labels]),
            "labels": ("DT_STRING", [None, num_labels]),
        }
    return {
        "probabilities": probabilities,
        "label_id": ("DT_INT32", [None]),
        "label": ("DT_STRING", [None]),
    }


def expected_decisions(probabilities, labels, multi_label, threshold):
    """The label outputs the graph gives for `probabilities`, computed in numpy.

    >>> expected_decisions(np.array([[0.2, 0.8]]), ["a", "b"], False, 0.5)["label"]
    array([b'b'], dtype=object)
    """
    probabilities = np.asarray(probabilities)
    names = np.array([label.encode() for label in labels], dtype=object)
    if not multi_label:
        ids = probabilities.argmax(axis=-1).astype(np.int32)
        return {"label_id": ids, "label": names[ids]}
    label_ids = np.full(probabilities.shape, -1, dtype=np.int32)
    chosen = np.full(probabilities.shape, b"", dtype=object)
    threshold = probabilities.dtype.type(threshold)  # compared in float32, as in the graph
    for row, values in enumerate(probabilities):
        ids = np.flatnonzero(values >= threshold)
        label_ids[row, : len(ids)] = ids
        chosen[row, : len(ids)] = names[ids]
    return {"label_ids": label_ids, "labels": chosen}


def probabilities_from_logits(logits, multi_label):
    """Softmax (single-label) or sigmoid (multi-label) probabilities, in float32."""
    logits = keras.ops.convert_to_tensor(np.asarray(logits, dtype="float32"))
    activation = keras.ops.sigmoid if multi_label else keras.ops.softmax
    return keras.ops.convert_to_numpy(activation(logits))


def keras_reference(run, texts=PROBE_TEXTS, text_pairs=None):
    """The Keras model's inputs and probabilities for `texts` (and `text_pairs`).

    Runs the run's own preprocessor, which pads to its `sequence_length`, so
    a match with the export also shows that per-batch padding changes nothing.
    """
    model = run.model
    segments = list(texts) if text_pairs is None else (list(texts), list(text_pairs))
    # `x=`: a positional tuple would be read as (x, y) by keras-hub.
    features = model.preprocessor(x=segments)
    inputs = {key: np.asarray(value, dtype=np.int32) for key, value in features.items()}
    logits = model(inputs, training=False)
    reference = {key: inputs[key].tolist() for key in TOKEN_INPUTS}
    reference.update(
        texts=list(texts),
        text_pairs=None if text_pairs is None else list(text_pairs),
        probabilities=probabilities_from_logits(logits, run.multi_label).tolist(),
    )
    return reference


# --- REST -----------------------------------------------------------------


def rest_request(texts, text_pairs=None, signature_name=SERVING_SIGNATURE, form="instances", b64=False):
    """The JSON body of a TF Serving REST predict request for texts.

    `form="instances"` is the row format, `form="inputs"` the columnar one;
    `b64=True` sends each text as `{"b64": ...}` (any bytes, UTF-8 or not).

    >>> rest_request(["hi", "no"])
    {'signature_name': 'serving_default', 'instances': ['hi', 'no']}
    >>> rest_request(["hi"], form="inputs", b64=True)
    {'signature_name': 'serving_default', 'inputs': {'text': [{'b64': 'aGk='}]}}
    """
    return rest_body(_text_columns(texts, text_pairs), signature_name, form, b64)


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

    String outputs are written as text, except outputs named `*_bytes`,
    which TF Serving base64-encodes.
    """
    columns = {name: _output_to_json(name, value) for name, value in outputs.items()}
    if form == "inputs":
        return {"outputs": columns if len(columns) > 1 else next(iter(columns.values()))}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}


def _text_columns(texts, text_pairs):
    columns = {TEXT_INPUT: list(texts)}
    if text_pairs is not None:
        columns[PAIR_INPUT] = list(text_pairs)
    return columns


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
        return _string_array(values)
    return np.asarray(values, dtype=tf.as_dtype(types_pb2.DataType.Value(dtype_name)).as_numpy_dtype)


def _string_array(values):
    """An object array of bytes; str items are UTF-8 encoded."""
    flat = [value.encode("utf-8") if isinstance(value, str) else value for value in values]
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def _output_to_json(name, value):
    if value.dtype != object:
        return value.tolist()
    binary = name.endswith("_bytes")
    return _to_json(value.tolist(), b64=binary) if binary else _decode_strings(value.tolist())


def _decode_strings(value):
    if isinstance(value, list):
        return [_decode_strings(item) for item in value]
    return value.decode("utf-8", "replace")


# --- gRPC -----------------------------------------------------------------


def grpc_predict_request(texts, model_name, text_pairs=None, signature_name=SERVING_SIGNATURE, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for texts.

    >>> request = grpc_predict_request(["hi"], model_name="feedback", version=2)
    >>> request.model_spec.version.value, request.inputs["text"].dtype  # DT_STRING is 7
    (2, 7)
    """
    return predict_request(_text_columns(texts, text_pairs), model_name, signature_name, version)


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
    """{output name: numpy array} from a `PredictResponse` (strings as bytes)."""
    return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}


def _column_array(values):
    if all(isinstance(value, (str, bytes)) for value in values):
        return _string_array(values)
    array = np.asarray(values)
    return array.astype(np.int32) if array.dtype.kind in "iu" else array


# --- The check ------------------------------------------------------------


def check_serving(path, run=None):
    """Checks an export as TF Serving would run it; returns a report dict.

    Args:
        path: A version directory, or a base path (its highest version is
            checked).
        run: Optional `bertcnn_tf.runs.Run` the export came from: compare
            with its Keras model. Without it, the comparison uses the Keras
            outputs recorded at export time in `assets.extra/keras_reference.json`
            (computed by the same Keras model, on the same texts), so that a
            published version can be checked anywhere, without the run folder
            or a second copy of the weights.

    Raises `ServingCheckError` naming the failed step.

    Example:
    ```python
    report = check_serving("saved_models/feedback")
    report["min_tf_serving_version"], report["non_core_ops"]
    ```
    """
    report = {"path": os.fspath(path), "ok": False, "passed": []}
    path = report["path"] = _step(report, "path", resolve_version_dir, path)
    card = _step(report, "model card", read_model_card, path)
    with _step(report, "load", SavedModelSession, path) as session:
        report.update(_step(report, "signatures", check_signatures, session, card))
        report.update(_step(report, "ops", check_ops, session, card))
        report.update(_step(report, "warmup", replay_warmup, session, path, card))
        report.update(_step(report, "rest", check_rest_forms, session, card))
        report.update(_step(report, "keras", compare_with_keras, session, path, card, run))
        report.update(_step(report, "bad inputs", check_bad_inputs, session, card))
    report["ok"] = True
    return report


def _step(report, name, check, *args):
    try:
        result = check(*args)
    except Exception as error:
        message = str(error) or type(error).__name__
        report.update(failed_step=name, error=message)
        raise ServingCheckError(name, message, report) from error
    report["passed"].append(name)
    return result


def check_signatures(session, card):
    """Both signatures have the inputs and outputs the model card implies."""
    text_inputs = [TEXT_INPUT] + ([PAIR_INPUT] if card["text_pair"] else [])
    token_shape = [None, card["fixed_sequence_length"]]
    expected_inputs = {
        SERVING_SIGNATURE: {key: ("DT_STRING", [None]) for key in text_inputs},
        TOKENS_SIGNATURE: {key: ("DT_INT32", token_shape) for key in TOKEN_INPUTS},
    }
    outputs = output_specs(len(card["labels"]), card["multi_label"])
    found = {}
    for name, inputs in expected_inputs.items():
        if name not in session.signatures:
            raise ValueError(f"no signature {name!r}; the export has {sorted(session.signatures)}")
        signature = {
            kind: {key: [dtype, shape] for key, (_, dtype, shape) in session.signatures[name][kind].items()}
            for kind in ("inputs", "outputs")
        }
        for kind, expected in (("inputs", inputs), ("outputs", outputs)):
            if signature[kind] != {key: list(spec) for key, spec in expected.items()}:
                raise ValueError(f"{name} {kind} are {signature[kind]}, expected {expected}")
        found[name] = signature
    return {"signatures": found}


def check_ops(session, card):
    """Every non-core op is a tf-text op; the model card's minimum version holds."""
    ops = session.ops()
    non_core = non_core_ops(ops)
    version = min_tf_serving_version(non_core)
    if card.get("min_tf_serving_version") != version:
        raise ValueError(
            f"the graph needs TF Serving >= {version} (non-core ops {non_core}), but "
            f"the model card says {card.get('min_tf_serving_version')!r}"
        )
    return {"ops": ops, "non_core_ops": non_core, "min_tf_serving_version": version}


def replay_warmup(session, path, card):
    """Runs every warmup record, as TF Serving does before it serves a version."""
    requests = read_warmup_requests(os.path.join(path, WARMUP_FILE))
    if not requests:
        raise ValueError(f"{WARMUP_FILE} holds no records")
    for signature, inputs in requests:
        outputs = session.run(signature, inputs)
        _check_outputs(outputs, len(next(iter(inputs.values()))), card)
    return {"warmup_requests": len(requests)}


def check_rest_forms(session, card):
    """Each REST form and encoding gives the outputs of the tensors themselves."""
    columns = _probe_columns(card)
    direct = session.run(SERVING_SIGNATURE, {k: _string_array(v) for k, v in columns.items()})
    forms = []
    for form in ("instances", "inputs"):
        for b64 in (False, True):
            body = json.loads(json.dumps(rest_body(columns, SERVING_SIGNATURE, form, b64)))
            name, inputs = decode_rest_request(body, session.signatures)
            response = json.dumps(encode_rest_response(session.run(name, inputs), form))
            _assert_same_outputs(parse_rest_response(response), direct, f"REST {form}, b64={b64}")
            forms.append(f"{form}{' b64' if b64 else ''}")
    return {"rest_forms": forms}


def compare_with_keras(session, path, card, run=None):
    """Both signatures' probabilities equal Keras's, within TOLERANCES of the compute dtype."""
    with open(os.path.join(path, KERAS_REFERENCE), encoding="utf-8") as f:
        reference = json.load(f)
    source = f"keras outputs recorded at export ({KERAS_REFERENCE})"
    if run is not None:
        # An export may serve in another dtype than the run trained in.
        serving_dtype = card.get("backbone", {}).get("dtype")
        if serving_dtype:
            run = dataclasses.replace(run, model=with_compute_dtype(run.model, serving_dtype))
        reference = keras_reference(run, reference["texts"], reference["text_pairs"])
        source = "keras model of the run"
    texts = {TEXT_INPUT: _string_array(reference["texts"])}
    if card["text_pair"]:
        texts[PAIR_INPUT] = _string_array(reference["text_pairs"])
    tokens = {key: np.asarray(reference[key], dtype=np.int32) for key in TOKEN_INPUTS}
    expected = np.asarray(reference["probabilities"], dtype=np.float32)
    tolerance = TOLERANCES[card["compute_dtype"]]
    worst = 0.0
    for name, inputs in ((SERVING_SIGNATURE, texts), (TOKENS_SIGNATURE, tokens)):
        outputs = session.run(name, inputs)
        difference = float(np.max(np.abs(outputs["probabilities"] - expected)))
        if not difference <= tolerance:
            raise ValueError(f"{name} differs from the Keras model by {difference:.3g} > {tolerance}")
        decisions = expected_decisions(
            outputs["probabilities"], card["labels"], card["multi_label"], card["threshold"]
        )
        for key, value in decisions.items():
            if not np.array_equal(outputs[key], value):
                raise ValueError(f"{name} output {key!r} does not match its probabilities")
        worst = max(worst, difference)
    return {"reference": source, "max_abs_diff": worst, "tolerance": tolerance}


def check_bad_inputs(session, card):
    """Awkward texts give valid outputs or INVALID_ARGUMENT, and the session lives on."""
    keys = list(session.signatures[SERVING_SIGNATURE]["inputs"])
    results = {}
    for name, texts in BAD_INPUTS.items():
        inputs = {key: _string_array(texts) for key in keys}
        try:
            _check_outputs(session.run(SERVING_SIGNATURE, inputs), len(texts), card)
            results[name] = "ok"
        except SavedModelRunError as error:
            if error.code != "INVALID_ARGUMENT":
                raise ValueError(f"{name}: {error}") from error
            results[name] = f"INVALID_ARGUMENT: {error.message.splitlines()[0]}"
    probe = {key: _string_array(PROBE_TEXTS[:1]) for key in keys}
    _check_outputs(session.run(SERVING_SIGNATURE, probe), 1, card)
    return {"bad_inputs": results}


def _probe_columns(card):
    columns = {TEXT_INPUT: list(PROBE_TEXTS)}
    if card["text_pair"]:
        columns[PAIR_INPUT] = list(PROBE_PAIRS)
    return columns


def _check_outputs(outputs, batch_size, card):
    """Outputs are batch-first, with finite probabilities in [0, 1]."""
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != batch_size:
            raise ValueError(
                f"output {name!r} has shape {value.shape}, not batch-first for {batch_size} rows"
            )
    probabilities = outputs["probabilities"]
    if probabilities.shape != (batch_size, len(card["labels"])):
        raise ValueError(f"probabilities have shape {probabilities.shape}")
    if not (np.all(np.isfinite(probabilities)) and np.all((probabilities >= 0) & (probabilities <= 1))):
        raise ValueError("probabilities are not finite values in [0, 1]")


def _assert_same_outputs(parsed, direct, what):
    if set(parsed) != set(direct):
        raise ValueError(f"{what}: outputs {sorted(parsed)}, expected {sorted(direct)}")
    for name, value in direct.items():
        if value.dtype == object:
            same = np.array_equal(parsed[name], _decode_strings(value.tolist()))
        else:
            same = np.allclose(parsed[name], value, rtol=0, atol=1e-7)
        if not same:
            raise ValueError(f"{what}: output {name!r} differs from the tensor outputs")
