"""Checks an export the way TF Serving will run it.

`check_serving(path)` loads a SavedModel with TensorFlow's C++ loader (through
the C API, `bertcnn_tf.serving.c_api`: the loader `tensorflow_model_server`
runs; `tf.saved_model.load` is not enough, since it can succeed where a
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
  (max abs difference <= 1e-5 for a float32 model), and their labels are
  the decisions `bertcnn_tf.postprocessing` makes of their probabilities;
- `explain` (where the export has the signature): the same label, score and
  evidence spans (byte offsets, text, contributions) as `bertcnn_tf.explain`
  in Python, and the split adds up to the score;
- `bad inputs`: empty and whitespace-only texts, 10,000 words, invalid UTF-8
  and an empty batch give valid outputs (or INVALID_ARGUMENT), never a
  broken session, from every text signature.
"""

import dataclasses
import json
import os

import numpy as np

from bertcnn_tf import postprocessing
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.preprocessing import TOKEN_FEATURES
from bertcnn_tf.serving.c_api import SavedModelRunError
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.contract import EXPLAIN_SIGNATURE
from bertcnn_tf.serving.contract import KERAS_REFERENCE
from bertcnn_tf.serving.contract import PAIR_INPUT
from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import TEXT_INPUT
from bertcnn_tf.serving.contract import TOKENS_SIGNATURE
from bertcnn_tf.serving.contract import WARMUP_FILE
from bertcnn_tf.serving.contract import explain_output_specs
from bertcnn_tf.serving.contract import output_specs
from bertcnn_tf.serving.contract import string_array
from bertcnn_tf.serving.model_card import read_model_card
from bertcnn_tf.serving.ops import min_tf_serving_version
from bertcnn_tf.serving.ops import non_core_ops
from bertcnn_tf.serving.reference import PROBE_PAIRS
from bertcnn_tf.serving.reference import PROBE_TEXTS
from bertcnn_tf.serving.reference import explain_reference
from bertcnn_tf.serving.reference import keras_reference
from bertcnn_tf.serving.rest import decode_rest_request
from bertcnn_tf.serving.rest import decode_strings
from bertcnn_tf.serving.rest import encode_rest_response
from bertcnn_tf.serving.rest import parse_rest_response
from bertcnn_tf.serving.rest import rest_body
from bertcnn_tf.serving.versions import resolve_version_dir
from bertcnn_tf.serving.warmup import read_warmup_requests

# The largest difference between the export's probabilities and Keras's, by
# the model's compute dtype. A float32 model must agree to 1e-5. A float16
# or bfloat16 model runs kernels that the session's graph optimizer may fuse
# differently from Keras's eager ones, so it gets a few units in the last
# place of its dtype (mixed_float16 tiny models differ by about 1e-4).
TOLERANCES = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1e-2}
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


def check_serving(path, run=None):
    """Checks an export as TF Serving would run it; returns a report dict.

    Args:
        path: A version directory, or a base path (its highest version is
            checked).
        run: Optional `bertcnn_tf.Run` the export came from: compare
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
        if card.get("explain_top_k"):
            report.update(_step(report, "explain", compare_explanations, session, path, card, run))
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
    token_shape = [None, None, None] if card.get("window_stride") else [None, card["fixed_sequence_length"]]
    expected_inputs = {
        SERVING_SIGNATURE: {key: ("DT_STRING", [None]) for key in text_inputs},
        TOKENS_SIGNATURE: {key: ("DT_INT32", token_shape) for key in TOKEN_FEATURES},
    }
    outputs = {name: output_specs(len(card["labels"]), card["multi_label"]) for name in expected_inputs}
    if card.get("explain_top_k"):
        expected_inputs[EXPLAIN_SIGNATURE] = expected_inputs[SERVING_SIGNATURE]
        outputs[EXPLAIN_SIGNATURE] = explain_output_specs(card["explain_top_k"])
    found = {}
    for name, inputs in expected_inputs.items():
        if name not in session.signatures:
            raise ValueError(f"no signature {name!r}; the export has {sorted(session.signatures)}")
        signature = {
            kind: {key: [dtype, shape] for key, (_, dtype, shape) in session.signatures[name][kind].items()}
            for kind in ("inputs", "outputs")
        }
        for kind, expected in (("inputs", inputs), ("outputs", outputs[name])):
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
    direct = session.run(SERVING_SIGNATURE, {k: string_array(v) for k, v in columns.items()})
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
    texts = {TEXT_INPUT: string_array(reference["texts"])}
    if card["text_pair"]:
        texts[PAIR_INPUT] = string_array(reference["text_pairs"])
    tokens = {key: np.asarray(reference[key], dtype=np.int32) for key in TOKEN_FEATURES}
    expected = np.asarray(reference["probabilities"], dtype=np.float32)
    tolerance = TOLERANCES[card["compute_dtype"]]
    worst = 0.0
    for name, inputs in ((SERVING_SIGNATURE, texts), (TOKENS_SIGNATURE, tokens)):
        outputs = session.run(name, inputs)
        difference = float(np.max(np.abs(outputs["probabilities"] - expected)))
        if not difference <= tolerance:
            raise ValueError(f"{name} differs from the Keras model by {difference:.3g} > {tolerance}")
        decisions = postprocessing.decisions(
            outputs["probabilities"], card["labels"], card["multi_label"], card["threshold"],
            card.get("abstain_below"), card.get("unknown_label", "unknown"),
        )
        for key, value in decisions.items():
            if not np.array_equal(outputs[key], value.numpy()):
                raise ValueError(f"{name} output {key!r} does not match its probabilities")
        worst = max(worst, difference)
    return {"reference": source, "max_abs_diff": worst, "tolerance": tolerance}


def compare_explanations(session, path, card, run=None):
    """The `explain` signature gives what `bertcnn_tf.explain` gives in Python, and adds up.

    The label, the score and each span's byte offsets, text and kernel size
    must be the same; scores and contributions may differ by the float
    rounding of the compute dtype (in logits: ten times `TOLERANCES`, at
    least 1e-4). Spans are matched by their offsets, so that two windows
    whose contributions tie within rounding may come in either order.
    """
    with open(os.path.join(path, KERAS_REFERENCE), encoding="utf-8") as f:
        reference = json.load(f)
    texts, pairs = reference["texts"], reference["text_pairs"]
    expected = reference.get("explain")
    if run is not None:
        serving_dtype = card.get("backbone", {}).get("dtype")
        if serving_dtype:
            run = dataclasses.replace(run, model=with_compute_dtype(run.model, serving_dtype))
        expected = explain_reference(run, texts, pairs, card["explain_top_k"], reference["probabilities"])
    if expected is None:
        raise ValueError(f"{KERAS_REFERENCE} holds no Python explanations to compare with")
    inputs = {TEXT_INPUT: string_array(texts)}
    if card["text_pair"]:
        inputs[PAIR_INPUT] = string_array(pairs)
    served = session.run(EXPLAIN_SIGNATURE, inputs)
    tolerance = max(1e-4, 10 * TOLERANCES[card["compute_dtype"]])
    worst = 0.0
    for row, want in enumerate(expected):
        label = served["label"][row].decode("utf-8")
        if label != want["label"]:
            raise ValueError(f"text {row}: explains {label!r}, Python explains {want['label']!r}")
        parts = served["bias"][row] + served["cls_token"][row] + served["rest"][row]
        total = parts + served["evidence_contribution"][row].sum()
        spans = {}
        for begin, end, text, contribution, size, segment in zip(
            served["evidence_begin"][row], served["evidence_end"][row], served["evidence_text"][row],
            served["evidence_contribution"][row], served["evidence_kernel_size"][row], served["evidence_segment"][row],
        ):
            if begin < 0:
                continue
            source = (texts if segment == 0 else pairs)[row].encode("utf-8")
            if text != source[begin:end]:
                raise ValueError(f"text {row}: evidence_text {text!r} is not bytes {begin}:{end} of its text")
            spans[(int(begin), int(end), int(size))] = float(contribution)
        wanted = {(begin, end, size): contribution for begin, end, contribution, size in want["spans"]}
        if set(spans) != set(wanted):
            raise ValueError(f"text {row}: spans {sorted(spans)} differ from Python's {sorted(wanted)}")
        differences = [abs(spans[key] - wanted[key]) for key in spans]
        differences += [abs(served["score"][row] - want["score"]), abs(total - served["score"][row])]
        worst = max(worst, *differences)
        if not worst <= tolerance:
            raise ValueError(f"text {row}: scores or contributions differ by {worst:.3g} > {tolerance}")
    return {"explain_max_abs_diff": float(worst), "explain_tolerance": tolerance}


def check_bad_inputs(session, card):
    """Awkward texts give valid outputs or INVALID_ARGUMENT, and the session lives on."""
    keys = list(session.signatures[SERVING_SIGNATURE]["inputs"])
    signatures = [SERVING_SIGNATURE] + ([EXPLAIN_SIGNATURE] if EXPLAIN_SIGNATURE in session.signatures else [])
    results = {}
    for signature in signatures:
        for name, texts in BAD_INPUTS.items():
            inputs = {key: string_array(texts) for key in keys}
            label = name if signature == SERVING_SIGNATURE else f"{signature}: {name}"
            try:
                _check_outputs(session.run(signature, inputs), len(texts), card)
                results[label] = "ok"
            except SavedModelRunError as error:
                if error.code != "INVALID_ARGUMENT":
                    raise ValueError(f"{label}: {error}") from error
                results[label] = f"INVALID_ARGUMENT: {error.message.splitlines()[0]}"
    probe = {key: string_array(PROBE_TEXTS[:1]) for key in keys}
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
    if "probabilities" not in outputs:  # the explain signature
        probability = outputs["probability"]
        if not (np.all(np.isfinite(probability)) and np.all((probability >= 0) & (probability <= 1))):
            raise ValueError("probability is not finite values in [0, 1]")
        return
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
            same = np.array_equal(parsed[name], decode_strings(value.tolist()))
        else:
            same = np.allclose(parsed[name], value, rtol=0, atol=1e-7)
        if not same:
            raise ValueError(f"{what}: output {name!r} differs from the tensor outputs")
