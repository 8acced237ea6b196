"""`export_for_serving`: signatures, outputs equal to Keras, per-batch padding,
op set, layout and atomic publishing. Exports are read back with TensorFlow's
C API loader (the one TF Serving runs), not with `tf.saved_model.load`."""

import json
import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import TEXTS
from conftest import tiny_tokenizer
from serving_helpers import LABELS
from serving_helpers import PAIRS_A
from serving_helpers import PAIRS_B
from serving_helpers import keras_probabilities
from serving_helpers import make_run
from serving_helpers import save_run
from serving_helpers import strings
from serving_helpers import width_probe_run
from serving_helpers import widths_from_probabilities
from tensorflow_serving.apis import prediction_log_pb2

import bertcnn_tf.export
from bertcnn_tf.c_api import SavedModelSession
from bertcnn_tf.export import ExportError
from bertcnn_tf.export import export_for_serving
from bertcnn_tf.export import make_packer
from bertcnn_tf.runs import load_run
from bertcnn_tf.serving import TF_TEXT_OPS_NOT_IN_2_12_1
from bertcnn_tf.serving import ServingCheckError
from bertcnn_tf.serving import min_tf_serving_version
from bertcnn_tf.serving import non_core_ops
from bertcnn_tf.serving import numeric_versions
from bertcnn_tf.serving import read_model_card
from bertcnn_tf.serving import tf_text_op_names

LONG_TEXT = " ".join(["the movie was not very good"] * 40)
KINDS = ["single", "multi", "pair", "seed"]
TOKENIZER_OPS = {"CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"}


def _export(tmp_path_factory, run, name):
    return run, export_for_serving(run, tmp_path_factory.mktemp("saved_models") / name)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Exported from a run folder, as `bertcnn export --model RUN` does."""
    run_dir = save_run(make_run(), tmp_path_factory.mktemp("run") / "feedback")
    path = export_for_serving(run_dir, tmp_path_factory.mktemp("saved_models") / "feedback")
    return load_run(run_dir), path


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return _export(tmp_path_factory, make_run(multi_label=True), "tags")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    # keras-hub's default truncation, whose tf-text op old servers lack.
    return _export(tmp_path_factory, make_run(text_pair=True, truncate="round_robin"), "pairs")


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return _export(tmp_path_factory, make_run(head="seed"), "seed")


@pytest.fixture
def export(request):
    return request.getfixturevalue(request.param)


def _text_inputs(run, texts, pairs):
    inputs = {"text": strings(texts)}
    if run.text_pair_column:
        inputs["text_pair"] = strings(pairs)
    return inputs


# --- Signatures and outputs -------------------------------------------------


@pytest.mark.parametrize("export", KINDS, indirect=True)
def test_signatures_are_batch_first_with_named_outputs(export):
    run, path = export
    fixed = 16 if run.settings["head"] == "seed" else None
    text_keys = {"text", "text_pair"} if run.text_pair_column else {"text"}
    if run.multi_label:
        outputs = {
            "probabilities": ("DT_FLOAT", [None, 3]),
            "label_ids": ("DT_INT32", [None, 3]),
            "labels": ("DT_STRING", [None, 3]),
        }
    else:
        outputs = {
            "probabilities": ("DT_FLOAT", [None, 3]),
            "label_id": ("DT_INT32", [None]),
            "label": ("DT_STRING", [None]),
        }
    with SavedModelSession(path) as session:
        signatures = session.signatures
    serving = signatures["serving_default"]
    tokens = signatures["predict_tokens"]
    assert {k: v[1:] for k, v in serving["inputs"].items()} == {k: ("DT_STRING", [None]) for k in text_keys}
    assert {k: v[1:] for k, v in tokens["inputs"].items()} == {
        k: ("DT_INT32", [None, fixed]) for k in ("token_ids", "segment_ids", "padding_mask")
    }
    for signature in (serving, tokens):
        assert {k: v[1:] for k, v in signature["outputs"].items()} == outputs


@pytest.mark.parametrize("export", KINDS, indirect=True)
def test_outputs_equal_the_keras_model(export):
    run, path = export
    texts = TEXTS + [LONG_TEXT, "Café, ÜBER gut!"]
    pairs = (PAIRS_B * 2)[: len(texts)]
    pairs[-2] = LONG_TEXT
    expected = keras_probabilities(run, texts, pairs if run.text_pair_column else None)
    segments = texts if not run.text_pair_column else (texts, pairs)
    keras_tokens = {k: np.asarray(v, np.int32) for k, v in run.model.preprocessor(x=segments).items()}
    with SavedModelSession(path) as session:
        from_text = session.run("serving_default", _text_inputs(run, texts, pairs))
        from_tokens = session.run("predict_tokens", keras_tokens)
    for outputs in (from_text, from_tokens):
        assert outputs["probabilities"].dtype == np.float32
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5, rtol=0)
        if run.multi_label:
            for row, ids, names in zip(outputs["probabilities"], outputs["label_ids"], outputs["labels"]):
                chosen = np.flatnonzero(row >= run.threshold)
                assert ids.tolist() == chosen.tolist() + [-1] * (3 - len(chosen))
                assert names.tolist() == [LABELS[i].encode() for i in chosen] + [b""] * (3 - len(chosen))
        else:
            assert outputs["label_id"].tolist() == expected.argmax(-1).tolist()
            assert outputs["label"].tolist() == [LABELS[i].encode() for i in expected.argmax(-1)]


def test_multi_label_can_choose_several_labels_or_none(multi):
    # The tiny random model's sigmoids sit near 0.5; thresholds around them
    # must give rows with several labels and rows with none, in class order.
    run, path = multi
    with SavedModelSession(path) as session:
        outputs = session.run("serving_default", {"text": strings(TEXTS)})
    counts = (outputs["label_ids"] >= 0).sum(axis=1)
    assert counts.max() >= 2
    for row in outputs["label_ids"]:
        chosen = row[row >= 0]
        assert chosen.tolist() == sorted(chosen.tolist())


# --- Padding ----------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return _export(tmp_path_factory, width_probe_run(), "probe")


@pytest.fixture(scope="module")
def fixed_probe(tmp_path_factory):
    return _export(tmp_path_factory, width_probe_run(fixed_length=16), "fixed_probe")


def _widths(path, batches):
    with SavedModelSession(path) as session:
        return [
            set(widths_from_probabilities(session.run("serving_default", {"text": strings(b)})["probabilities"]))
            for b in batches
        ]


BATCHES = [["loved it"], ["the movie was great !", "ok"], ["", " "], [LONG_TEXT, "a"]]


def test_each_batch_is_padded_to_its_longest_text(probe):
    # The probe model's logits are [0, width / 16], where width is the time
    # dimension of the token batch that the serving graph fed it.
    tokenizer = tiny_tokenizer()
    expected = [{min(16, max(len(tokenizer(t)) for t in batch) + 2)} for batch in BATCHES]
    assert expected == [{4}, {7}, {2}, {16}]
    assert _widths(probe[1], BATCHES) == expected


def test_a_fixed_length_model_gets_its_length(fixed_probe):
    assert _widths(fixed_probe[1], BATCHES) == [{16}] * len(BATCHES)


@pytest.mark.parametrize("truncate", ["waterfall", "round_robin"])
@pytest.mark.parametrize("paired", [False, True])
def test_packing_equals_the_keras_preprocessor(truncate, paired):
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tiny_tokenizer(), sequence_length=10, truncate=truncate
    )
    segments = (tf.constant(PAIRS_A), tf.constant(PAIRS_B)) if paired else (tf.constant(PAIRS_A),)
    # keras-hub's traced path (tf.data), as in training; it pads to 10.
    dataset = tf.data.Dataset.from_tensor_slices(segments).batch(len(PAIRS_A))
    expected = next(iter(dataset.map(lambda *x: preprocessor(x=x if paired else x[0]))))
    packed = tf.function(make_packer(preprocessor))(*segments)
    width = packed["token_ids"].shape[1]
    assert width == int(tf.reduce_max(tf.reduce_sum(tf.cast(expected["padding_mask"], tf.int32), 1)))
    for key in ("token_ids", "segment_ids", "padding_mask"):
        full = tf.cast(expected[key], tf.int32).numpy()
        np.testing.assert_array_equal(packed[key].numpy(), full[:, :width], err_msg=key)
        assert not full[:, width:].any()


def test_round_robin_and_waterfall_trim_pairs_differently():
    # Guards the test above: with these pairs the two rules must disagree.
    results = [
        tf.function(
            make_packer(
                keras_hub.models.BertTextClassifierPreprocessor(tiny_tokenizer(), sequence_length=10, truncate=rule)
            )
        )(tf.constant(PAIRS_A), tf.constant(PAIRS_B))["segment_ids"].numpy()
        for rule in ("waterfall", "round_robin")
    ]
    assert not np.array_equal(*results)


# --- Ops ----------------------------------------------------------------------


def test_tf_text_op_names_are_what_tf_text_registers():
    names = tf_text_op_names()
    assert len(names) == 38
    assert TF_TEXT_OPS_NOT_IN_2_12_1 < names
    assert TOKENIZER_OPS < names
    assert not names & {"MatMul", "StringSplitV2", "RaggedTensorToTensor", "UnicodeTranscode"}


@pytest.mark.parametrize("export", KINDS, indirect=True)
def test_graph_uses_only_core_and_tf_text_2_12_1_ops(export):
    run, path = export
    with SavedModelSession(path) as session:
        ops = session.ops()
    tf_text_2_12_1 = tf_text_op_names() - TF_TEXT_OPS_NOT_IN_2_12_1
    assert TOKENIZER_OPS <= set(non_core_ops(ops)) <= tf_text_2_12_1
    assert min_tf_serving_version(non_core_ops(ops)) == "2.12"
    assert read_model_card(path)["non_core_ops"] == non_core_ops(ops)


def test_op_check_flags_keras_hub_round_robin_packing():
    # The check must catch what it guards against: keras-hub's own packer.
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tiny_tokenizer(), sequence_length=10, truncate="round_robin"
    )
    traced = tf.function(lambda a, b: preprocessor(x=(a, b))).get_concrete_function(
        tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)
    )
    graph = traced.graph.as_graph_def()
    ops = {node.op for node in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert "TFText>RoundRobinTrim" in non_core_ops(ops)
    assert min_tf_serving_version(non_core_ops(ops)) == "2.20"


# --- Layout, model card, warmup ------------------------------------------------


def test_layout_labels_and_model_card(single):
    run, path = single
    base = os.path.dirname(path)
    assert os.path.basename(path) == "1"
    assert os.listdir(base) == ["1"]  # no staging directory left behind
    for name in ("saved_model.pb", "variables", "assets/labels.txt", "assets.extra/tf_serving_warmup_requests"):
        assert os.path.exists(os.path.join(path, name)), name
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS
    card = read_model_card(path)
    assert card["labels"] == LABELS
    assert (card["head"], card["sequence_length"], card["fixed_sequence_length"]) == ("cnn", 16, None)
    assert card["backbone"]["source"] == "tiny-random"
    assert card["backbone"]["hidden_dim"] == 16
    assert card["metrics"] == {"validation": {"examples": 6, "accuracy": 0.5, "macro_f1": 0.25}}
    assert card["versions"]["tensorflow"] == tf.__version__
    assert card["versions"]["keras"] == keras.__version__
    assert set(card["versions"]) == {"tensorflow", "tensorflow_text", "keras", "keras_hub", "bertcnn_tf"}
    assert card["min_tf_serving_version"] == "2.12"
    assert card["source_run"] and os.path.exists(os.path.join(card["source_run"], "model.keras"))


def test_warmup_file_holds_prediction_logs_that_replay(single):
    run, path = single
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 2
    requests = [log.predict_log.request for log in logs]
    assert [r.model_spec.signature_name for r in requests] == ["serving_default", "predict_tokens"]
    assert {r.model_spec.name for r in requests} == {"feedback"}
    with SavedModelSession(path) as session:
        for request in requests:
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            outputs = session.run(request.model_spec.signature_name, inputs)
            assert {v.shape[0] for v in outputs.values()} == {3}
    # One warmup text fills the sequence length, so the widest shape is warm.
    assert tf.make_ndarray(requests[1].inputs["token_ids"]).shape == (3, 16)


# --- Publishing ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run():
    return make_run()


def _entries(base):
    return sorted(os.listdir(base))


def test_versions_increment_and_are_never_overwritten(small_run, tmp_path):
    base = tmp_path / "feedback"
    assert os.path.basename(export_for_serving(small_run, base, check=False)) == "1"
    assert os.path.basename(export_for_serving(small_run, base, check=False)) == "2"
    with open(base / "2" / "saved_model.pb", "rb") as f:
        published = f.read()
    with pytest.raises(ExportError, match="version 2 already exists.*publish as 3"):
        export_for_serving(small_run, base, version=2, check=False)
    with open(base / "2" / "saved_model.pb", "rb") as f:
        assert f.read() == published
    assert os.path.basename(export_for_serving(small_run, base, version=10, check=False)) == "10"
    assert os.path.basename(export_for_serving(small_run, base, check=False)) == "11"
    assert _entries(base) == ["1", "10", "11", "2"]
    with pytest.raises(ExportError, match="non-negative integer"):
        export_for_serving(small_run, base, version=-1, check=False)


def test_check_runs_on_a_hidden_staging_directory(small_run, tmp_path, monkeypatch):
    base = tmp_path / "feedback"
    seen = []
    real_check = bertcnn_tf.export.check_serving

    def spy(path, run=None):
        seen.append((os.path.basename(path), os.path.dirname(path), _entries(base)))
        return real_check(path, run=run)

    monkeypatch.setattr(bertcnn_tf.export, "check_serving", spy)
    export_for_serving(small_run, base)
    [(name, parent, entries_during_check)] = seen
    assert name.startswith(".feedback-tmp-") and parent == str(base)
    assert entries_during_check == [name]  # nothing TF Serving would load
    assert numeric_versions(base) == [1] and _entries(base) == ["1"]


def test_a_failed_check_publishes_nothing(small_run, tmp_path, monkeypatch):
    # A half-written export (its variables missing) must not become a version.
    base = tmp_path / "feedback"
    real_check = bertcnn_tf.export.check_serving

    def check_half_written(path, run=None):
        for name in os.listdir(os.path.join(path, "variables")):
            os.remove(os.path.join(path, "variables", name))
        return real_check(path, run=run)

    monkeypatch.setattr(bertcnn_tf.export, "check_serving", check_half_written)
    with pytest.raises(ServingCheckError, match="Could not find variable") as excinfo:
        export_for_serving(small_run, base)
    assert excinfo.value.step == "warmup"
    assert _entries(base) == []


def test_model_card_is_json_with_the_run_settings(multi):
    run, path = multi
    with open(os.path.join(path, "assets.extra", "model_card.json"), encoding="utf-8") as f:
        card = json.load(f)
    assert (card["multi_label"], card["threshold"], card["text_pair"]) == (True, 0.4, False)
    assert card["metrics"] is None and card["source_run"] is None  # exported from a Run object
    assert card["signatures"]["serving_default"] == {
        "inputs": ["text"],
        "outputs": ["label_ids", "labels", "probabilities"],
    }
