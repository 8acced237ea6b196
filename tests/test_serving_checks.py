"""`check_serving`, the REST and gRPC helpers, bad inputs through TensorFlow's
C API loader, the CLI commands, and (when its binary is on PATH) a real
`tensorflow_model_server`."""

import argparse
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from conftest import TEXTS
from serving_helpers import LABELS
from serving_helpers import PAIRS_A
from serving_helpers import PAIRS_B
from serving_helpers import keras_probabilities
from serving_helpers import exported_once
from serving_helpers import make_run
from serving_helpers import strings
from tensorflow_serving.apis import predict_pb2

import bertcnn_tf.serving.c_api
from bertcnn_tf.cli.serving import add_serving_commands
from bertcnn_tf.serving.c_api import SavedModelRunError
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.check import ServingCheckError
from bertcnn_tf.serving.check import check_serving
from bertcnn_tf.serving.export import export_for_serving
from bertcnn_tf.serving.grpc_requests import grpc_predict_request
from bertcnn_tf.serving.grpc_requests import parse_grpc_response
from bertcnn_tf.serving.grpc_requests import predict_request
from bertcnn_tf.serving.model_card import read_model_card
from bertcnn_tf.serving.rest import RestError
from bertcnn_tf.serving.rest import decode_rest_request
from bertcnn_tf.serving.rest import encode_rest_response
from bertcnn_tf.serving.rest import parse_rest_response
from bertcnn_tf.serving.rest import rest_body
from bertcnn_tf.serving.rest import rest_request
from bertcnn_tf.training.runs import load_run

STEPS = ["path", "model card", "load", "signatures", "ops", "warmup", "rest", "keras", "explain", "bad inputs"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A single-label model: (run folder, published version directory), built once a session."""
    return exported_once(tmp_path_factory, "served", make_run)


@pytest.fixture(scope="module")
def served_with_xla(served, tmp_path_factory):
    """`served`'s run exported with its model call compiled by XLA."""
    base = tmp_path_factory.mktemp("saved_models") / "feedback"
    return served[0], export_for_serving(served[0], base, jit_compile=True)


@pytest.fixture(scope="module")
def served_run(served):
    """The `Run` of `served`, reloaded from its folder."""
    return load_run(served[0])


@pytest.fixture(scope="module")
def pair_served(tmp_path_factory):
    """A multi-label sentence-pair model: (Run, published version directory), built once a session."""

    def make():
        return make_run(multi_label=True, text_pair=True)

    run_dir, path = exported_once(tmp_path_factory, "pair-served", make, model="pairs", from_run_folder=False)
    return load_run(run_dir), path


@pytest.fixture(scope="module")
def session(served):
    with SavedModelSession(served[1]) as session:
        yield session


@pytest.fixture(scope="module")
def pair_session(pair_served):
    with SavedModelSession(pair_served[1]) as session:
        yield session


# --- check_serving --------------------------------------------------------------


def test_check_serving_reports_every_step(served):
    report = check_serving(os.path.dirname(served[1]))  # the base path: its newest version
    assert report["ok"] and report["passed"] == STEPS
    assert report["path"] == served[1]
    assert report["reference"].startswith("keras outputs recorded at export")
    assert report["max_abs_diff"] <= 1e-5 and report["tolerance"] == 1e-5
    assert report["non_core_ops"] == [
        "CaseFoldUTF8",
        "FastWordpieceTokenizeWithOffsets",
        "RegexSplitWithOffsets",
    ]
    assert report["min_tf_serving_version"] == "2.12"
    assert "MatMul" in report["ops"] and "UnicodeTranscode" in report["ops"]
    assert report["warmup_requests"] == 3  # serving_default, predict_tokens, explain
    assert report["rest_forms"] == ["instances", "instances b64", "inputs", "inputs b64"]
    bad = ["empty string", "whitespace only", "10,000 words", "invalid UTF-8", "empty batch"]
    assert report["bad_inputs"] == dict.fromkeys(bad + [f"explain: {name}" for name in bad], "ok")
    json.dumps(report)  # the CLI prints it as one JSON line


def test_check_serving_with_the_run_compares_with_its_keras_model(served, served_run, pair_served):
    report = check_serving(served[1], run=served_run)
    assert report["reference"] == "keras model of the run"
    assert report["max_abs_diff"] <= 1e-5
    assert check_serving(pair_served[1], run=pair_served[0])["ok"]


def test_a_mixed_precision_model_is_compared_within_its_dtype(tmp_path):
    run = make_run(dtype="mixed_float16")
    path = export_for_serving(run, tmp_path / "feedback", check=False)  # checked once, here
    report = check_serving(path, run=run)
    assert report["tolerance"] == 2e-3 and report["max_abs_diff"] <= 2e-3
    assert read_model_card(path)["compute_dtype"] == "float16"


def _tamper_json(relative, change):
    def tamper(path):
        with open(os.path.join(path, relative), encoding="utf-8") as f:
            value = json.load(f)
        change(value)
        with open(os.path.join(path, relative), "w", encoding="utf-8") as f:
            json.dump(value, f)

    return tamper


def _remove(relative):
    def tamper(path):
        target = os.path.join(path, relative)
        shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)

    return tamper


def _overwrite(relative, data):
    def tamper(path):
        with open(os.path.join(path, relative), "wb") as f:
            f.write(data)

    return tamper


def _shift_reference(value):
    value["probabilities"] = (np.asarray(value["probabilities"]) + 1e-3).tolist()


TAMPERINGS = {
    "corrupt graph": (
        _overwrite("saved_model.pb", b"\x0a\xff not a protobuf"),
        "load",
        "cannot load SavedModel",
    ),
    "card says sentence pairs": (
        _tamper_json("assets.extra/model_card.json", lambda card: card.update(text_pair=True)),
        "signatures",
        "serving_default inputs",
    ),
    "card claims another server": (
        _tamper_json("assets.extra/model_card.json", lambda card: card.update(min_tf_serving_version="2.20")),
        "ops",
        "needs TF Serving >= 2.12",
    ),
    "no warmup file": (
        _remove("assets.extra/tf_serving_warmup_requests"),
        "warmup",
        "tf_serving_warmup_requests",
    ),
    "no variables": (_remove("variables"), "warmup", "Could not find variable"),
    "keras disagrees": (
        _tamper_json("assets.extra/keras_reference.json", _shift_reference),
        "keras",
        "differs",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_a_failing_check_names_its_step(served, tmp_path, case):
    tamper, step, message = TAMPERINGS[case]
    path = str(tmp_path / "1")
    shutil.copytree(served[1], path)
    tamper(path)
    with pytest.raises(ServingCheckError) as excinfo:
        check_serving(path)
    assert excinfo.value.step == step
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith(f"{step}: ")
    assert excinfo.value.report["failed_step"] == step and not excinfo.value.report["ok"]


# --- REST -------------------------------------------------------------------------


def test_rest_request_forms():
    assert rest_request(["hi", "é"]) == {"signature_name": "serving_default", "instances": ["hi", "é"]}
    assert rest_request(["hi"], b64=True)["instances"] == [{"b64": "aGk="}]
    assert rest_request(["hi"], form="inputs") == {
        "signature_name": "serving_default",
        "inputs": {"text": ["hi"]},
    }
    assert rest_request(["a", "b"], text_pairs=["c", "d"])["instances"] == [
        {"text": "a", "text_pair": "c"},
        {"text": "b", "text_pair": "d"},
    ]
    assert rest_request([b"\xff"], form="inputs", b64=True)["inputs"] == {"text": [{"b64": "/w=="}]}
    tokens = rest_body({"token_ids": np.array([[2, 5, 3]], np.int32)}, "predict_tokens", form="inputs")
    assert json.loads(json.dumps(tokens)) == {
        "signature_name": "predict_tokens",
        "inputs": {"token_ids": [[2, 5, 3]]},
    }
    with pytest.raises(ValueError, match="form"):
        rest_request(["hi"], form="rows")
    with pytest.raises(ValueError, match="one value per example"):
        rest_request(["a", "b"], text_pairs=["c"])
    with pytest.raises(UnicodeDecodeError):
        rest_request([b"\xff"])  # binary text needs b64=True


def test_parse_rest_response_forms():
    rows = parse_rest_response(
        '{"predictions": [{"label": "billing", "label_id": 0, "probabilities": [0.9, 0.1]},'
        ' {"label": "praise", "label_id": 1, "probabilities": [0.2, 0.8]}]}'
    )
    assert rows["label"].tolist() == ["billing", "praise"]
    assert rows["label_id"].tolist() == [0, 1]
    np.testing.assert_allclose(rows["probabilities"], [[0.9, 0.1], [0.2, 0.8]])
    columns = parse_rest_response({"outputs": {"label": ["billing"], "raw_bytes": [{"b64": "/w=="}]}})
    assert columns["label"].tolist() == ["billing"] and columns["raw_bytes"].tolist() == [b"\xff"]
    assert parse_rest_response({"predictions": [[0.5, 0.5]]})["predictions"].shape == (1, 2)
    with pytest.raises(RestError, match="Could not parse"):
        parse_rest_response({"error": "Could not parse example input"})


@pytest.mark.parametrize("form", ["instances", "inputs"])
@pytest.mark.parametrize("b64", [False, True])
@pytest.mark.parametrize("paired", [False, True], ids=["single", "pair"])
def test_rest_bodies_run_like_tensors(session, pair_session, form, b64, paired):
    # Through JSON, TF Serving's decoding of it, the C API, and back.
    active = pair_session if paired else session
    pairs = PAIRS_B[:4] if paired else None
    body = json.loads(json.dumps(rest_request(PAIRS_A[:4], pairs, form=form, b64=b64)))
    name, inputs = decode_rest_request(body, active.signatures)
    response = json.loads(json.dumps(encode_rest_response(active.run(name, inputs), form)))
    parsed = parse_rest_response(response)
    direct_inputs = {"text": strings(PAIRS_A[:4])}
    if paired:
        direct_inputs["text_pair"] = strings(PAIRS_B[:4])
    direct = active.run("serving_default", direct_inputs)
    assert set(parsed) == set(direct)
    np.testing.assert_array_equal(parsed["probabilities"].astype(np.float32), direct["probabilities"])
    key = "labels" if paired else "label"
    assert parsed[key].tolist() == np.vectorize(bytes.decode, otypes=[object])(direct[key]).tolist()


def test_rest_b64_carries_bytes_that_are_not_utf8(session):
    body = json.loads(json.dumps(rest_request([b"caf\xe9 late delivery"], b64=True)))
    name, inputs = decode_rest_request(body, session.signatures)
    assert inputs["text"].tolist() == [b"caf\xe9 late delivery"]
    assert session.run(name, inputs)["probabilities"].shape == (1, 3)


def test_rest_token_signature(session, served_run):
    run = served_run
    features = run.model.preprocessor(x=TEXTS)
    columns = {
        key: np.asarray(features[key], np.int32).tolist()
        for key in ("token_ids", "segment_ids", "padding_mask")
    }
    for form in ("instances", "inputs"):
        body = json.loads(json.dumps(rest_body(columns, "predict_tokens", form=form)))
        name, inputs = decode_rest_request(body, session.signatures)
        assert name == "predict_tokens" and inputs["token_ids"].dtype == np.int32
        outputs = parse_rest_response(encode_rest_response(session.run(name, inputs), form))
        np.testing.assert_allclose(outputs["probabilities"], keras_probabilities(run, TEXTS), atol=1e-5)


# --- gRPC -------------------------------------------------------------------------


def test_grpc_predict_request(session, pair_session):
    request = grpc_predict_request(TEXTS, model_name="feedback", version=3)
    assert isinstance(request, predict_pb2.PredictRequest)
    assert (request.model_spec.name, request.model_spec.signature_name) == ("feedback", "serving_default")
    assert request.model_spec.version.value == 3
    assert request.inputs["text"].dtype == tf.string.as_datatype_enum
    assert [d.size for d in request.inputs["text"].tensor_shape.dim] == [len(TEXTS)]
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
    inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
    outputs = session.run(request.model_spec.signature_name, inputs)
    np.testing.assert_array_equal(
        outputs["probabilities"], session.run("serving_default", {"text": strings(TEXTS)})["probabilities"]
    )
    response = predict_pb2.PredictResponse()
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    parsed = parse_grpc_response(predict_pb2.PredictResponse.FromString(response.SerializeToString()))
    assert parsed["label"].tolist() == outputs["label"].tolist()
    np.testing.assert_array_equal(parsed["probabilities"], outputs["probabilities"])

    pair_request = grpc_predict_request(PAIRS_A, "pairs", text_pairs=PAIRS_B)
    assert sorted(pair_request.inputs) == ["text", "text_pair"]
    assert not pair_request.model_spec.HasField("version")  # the server picks its newest
    pair_inputs = {key: tf.make_ndarray(proto) for key, proto in pair_request.inputs.items()}
    assert pair_session.run("serving_default", pair_inputs)["labels"].shape == (len(PAIRS_A), 3)


def test_grpc_token_request_is_int32():
    request = predict_request(
        {"token_ids": [[2, 5, 3]], "segment_ids": [[0, 0, 0]]}, "feedback", "predict_tokens"
    )
    assert request.inputs["token_ids"].dtype == tf.int32.as_datatype_enum
    assert tf.make_ndarray(request.inputs["segment_ids"]).shape == (1, 3)


# --- Bad input, through the C API loader --------------------------------------------


LONG = b" ".join([b"good"] * 10_000)
BAD = {
    "empty string": [b""],
    "whitespace only": [b"   \t\n  ", b" "],
    "10,000 words": [LONG],
    "invalid UTF-8": [b"late \xff\xfe delivery \xc3", b"\x80\x80"],
    "empty batch": [],
}


def _check_valid(outputs, rows, multi_label):
    assert outputs["probabilities"].shape == (rows, 3)
    assert np.all(np.isfinite(outputs["probabilities"]))
    if multi_label:
        assert outputs["labels"].shape == outputs["label_ids"].shape == (rows, 3)
    else:
        np.testing.assert_allclose(outputs["probabilities"].sum(axis=-1), 1.0, atol=1e-6)
        assert outputs["label_id"].shape == outputs["label"].shape == (rows,)
        assert set(outputs["label"].tolist()) <= {label.encode() for label in LABELS}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("paired", [False, True], ids=["single", "pair"])
def test_bad_input_gives_valid_outputs(session, pair_session, case, paired):
    texts = BAD[case]
    active = pair_session if paired else session
    inputs = {key: strings(texts) for key in active.signatures["serving_default"]["inputs"]}
    _check_valid(active.run("serving_default", inputs), len(texts), multi_label=paired)
    # The session is still healthy afterwards.
    healthy = {key: strings(["late delivery"]) for key in inputs}
    _check_valid(active.run("serving_default", healthy), 1, multi_label=paired)


def test_long_text_is_truncated_not_rejected(session):
    cut = b" ".join([b"good"] * 14)  # 14 words + [CLS] + [SEP] = sequence length 16
    outputs = session.run("serving_default", {"text": strings([LONG, cut])})
    np.testing.assert_allclose(outputs["probabilities"][0], outputs["probabilities"][1], atol=1e-6)


def test_invalid_utf8_reads_as_replacement_characters(session):
    outputs = session.run(
        "serving_default", {"text": strings([b"late \xff delivery", "late \ufffd delivery"])}
    )
    np.testing.assert_allclose(outputs["probabilities"][0], outputs["probabilities"][1], atol=1e-6)


def test_mismatched_pair_batch_is_invalid_argument(pair_session):
    with pytest.raises(SavedModelRunError, match="same number of rows") as excinfo:
        pair_session.run("serving_default", {"text": strings(["a", "b"]), "text_pair": strings(["c"])})
    assert excinfo.value.code == "INVALID_ARGUMENT"
    _check_valid(
        pair_session.run("serving_default", {"text": strings(["a"]), "text_pair": strings(["c"])}), 1, True
    )


# --- CLI --------------------------------------------------------------------------


def _cli(argv):
    parser = argparse.ArgumentParser(prog="bertcnn")
    add_serving_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_export_then_check_serving(served, tmp_path, capsys):
    run_dir = served[0]
    base = str(tmp_path / "saved_models" / "feedback")
    assert _cli(["export", "--model", run_dir, "--export-dir", base]) == 0
    out = capsys.readouterr().out
    assert f"published {os.path.join(base, '1')}" in out and "minimum TF Serving: 2.12" in out

    assert _cli(["check-serving", base]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and report["path"] == os.path.join(base, "1")

    assert _cli(["check-serving", os.path.join(base, "1"), "--model", run_dir]) == 0
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reference"] == "keras model of the run"
    )

    assert _cli(["export", "--model", run_dir, "--export-dir", base, "--version", "1"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: version 1 already exists")
    assert "Traceback" not in captured.err


def test_cli_failures_exit_non_zero_with_a_message(tmp_path, capsys):
    assert _cli(["check-serving", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: check-serving failed at step 'path': no SavedModel")
    assert json.loads(captured.out.strip().splitlines()[-1])["failed_step"] == "path"

    assert _cli(["export", "--model", str(tmp_path / "nothing"), "--export-dir", str(tmp_path / "m")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "is not a run folder" in captured.err
    assert "Traceback" not in captured.err
    assert not os.path.exists(tmp_path / "m" / "1")


# --- A real tensorflow_model_server --------------------------------------------------

MODEL_SERVER = shutil.which("tensorflow_model_server")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.load(response)


def _wait_until_available(url, server, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"tensorflow_model_server exited with {server.returncode}")
        try:
            states = [v["state"] for v in _get_json(url)["model_version_status"]]
            if "AVAILABLE" in states:
                return
        except (urllib.error.URLError, ConnectionError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"the model did not become AVAILABLE within {timeout}s")


@pytest.mark.skipif(
    MODEL_SERVER is None,
    reason="tensorflow_model_server is not on PATH (see docs/serving.md to run the official "
    "tensorflow/serving image, or install the tensorflow-model-server package)",
)
@pytest.mark.parametrize("export", ["served", "served_with_xla"])
def test_real_tensorflow_model_server(export, served_run, request, tmp_path):
    version_dir = request.getfixturevalue(export)[1]
    base = str(tmp_path / "feedback")
    shutil.copytree(os.path.dirname(version_dir), base)
    rest_port, grpc_port = _free_port(), _free_port()
    log = open(tmp_path / "model_server.log", "wb")
    server = subprocess.Popen(
        [
            MODEL_SERVER,
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            "--model_name=feedback",
            f"--model_base_path={base}",
            # An XLA-compiled export needs --xla_cpu_compilation_enabled=true.
            *read_model_card(version_dir)["tf_serving_flags"],
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{rest_port}/v1/models/feedback"
        _wait_until_available(url, server)
        expected = keras_probabilities(served_run, TEXTS)
        for form in ("instances", "inputs"):
            for b64 in (False, True):
                outputs = parse_rest_response(
                    _get_json(f"{url}:predict", rest_request(TEXTS, form=form, b64=b64))
                )
                np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
                assert outputs["label"].tolist() == [LABELS[i] for i in expected.argmax(-1)]

        grpc = pytest.importorskip("grpc")
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(grpc_predict_request(TEXTS, model_name="feedback"), timeout=30)
        np.testing.assert_allclose(parse_grpc_response(response)["probabilities"], expected, atol=1e-5)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


# --- The oldest supported TF Serving's loader ---------------------------------------

OLD_TF_PYTHON = os.environ.get("BERTCNN_TF212_PYTHON")

# Runs in a Python with TF 2.12 and TF-Text 2.12.1, what TF Serving 2.12 links:
# registers tf-text's ops (importing tensorflow_text 2.12 needs tensorflow_hub,
# so its op libraries are loaded directly), loads each export with that TF's
# C API loader (this package's c_api.py, loaded by path) and prints the
# probabilities as JSON.
OLD_TF_SCRIPT = """
import glob, importlib.util, json, os, sys
import numpy as np
import tensorflow as tf
text_dir = os.path.dirname(importlib.util.find_spec("tensorflow_text").origin)
for library in glob.glob(os.path.join(text_dir, "python", "ops", "_*.so")):
    tf.load_op_library(library)
spec = importlib.util.spec_from_file_location("c_api", sys.argv[1])
c_api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c_api)
texts = json.loads(sys.argv[2])
results = {"tensorflow": tf.__version__}
for path in sys.argv[3:]:
    with c_api.SavedModelSession(path) as session:
        keys = session.signatures["serving_default"]["inputs"]
        inputs = {key: np.array([t.encode() for t in texts], dtype=object) for key in keys}
        results[path] = session.run("serving_default", inputs)["probabilities"].tolist()
print(json.dumps(results))
"""


@pytest.mark.skipif(
    not OLD_TF_PYTHON,
    reason="set BERTCNN_TF212_PYTHON to a Python with tensorflow-cpu==2.12.1 and "
    "tensorflow-text==2.12.1 (what TF Serving 2.12 to 2.19 link) to load the exports with that loader",
)
def test_exports_load_and_run_in_tensorflow_2_12(served, session, pair_served, pair_session):
    result = subprocess.run(
        [
            OLD_TF_PYTHON,
            "-c",
            OLD_TF_SCRIPT,
            bertcnn_tf.serving.c_api.__file__,
            json.dumps(TEXTS),
            served[1],
            pair_served[1],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    old = json.loads(result.stdout.strip().splitlines()[-1])
    assert old["tensorflow"].startswith("2.12.")
    for path, current in ((served[1], session), (pair_served[1], pair_session)):
        inputs = {key: strings(TEXTS) for key in current.signatures["serving_default"]["inputs"]}
        expected = current.run("serving_default", inputs)["probabilities"]
        np.testing.assert_allclose(old[path], expected, atol=1e-5)
