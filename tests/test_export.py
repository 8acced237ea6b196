"""`export_for_serving`: signatures, outputs equal to Keras, per-batch padding,
op set, layout and atomic publishing. Exports are read back with TensorFlow's
C API loader (the one TF Serving runs), not with `tf.saved_model.load`."""

import contextlib
import io
import json
import os
import stat
import tempfile

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import TEXTS
from conftest import built_once
from conftest import tiny_tokenizer
from serving_helpers import LABELS
from serving_helpers import PAIRS_A
from serving_helpers import PAIRS_B
from serving_helpers import keras_probabilities
from serving_helpers import exported_once
from serving_helpers import make_run
from serving_helpers import save_run
from serving_helpers import strings
from serving_helpers import width_probe_run
from serving_helpers import widths_from_probabilities
from tensorflow_serving.apis import prediction_log_pb2

import bertcnn_tf.serving.export
import bertcnn_tf.serving.graph
from bertcnn_tf.cli import main
from bertcnn_tf.preprocessing import LENGTH_STEP
from bertcnn_tf.preprocessing import make_packer
from bertcnn_tf.serving.c_api import SavedModelRunError
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.check import ServingCheckError
from bertcnn_tf.serving.contract import WARMUP_FILE
from bertcnn_tf.serving.export import export_for_serving
from bertcnn_tf.serving.export import publish
from bertcnn_tf.serving.graph import ExportError
from bertcnn_tf.serving.model_card import XLA_SERVING_FLAG
from bertcnn_tf.serving.model_card import read_model_card
from bertcnn_tf.serving.ops import TF_TEXT_OPS_NOT_IN_2_12_1
from bertcnn_tf.serving.ops import min_tf_serving_version
from bertcnn_tf.serving.ops import non_core_ops
from bertcnn_tf.serving.ops import tf_text_op_names
from bertcnn_tf.serving.versions import numeric_versions
from bertcnn_tf.serving.warmup import read_warmup_requests
from bertcnn_tf.serving.warmup import single_text_lengths
from bertcnn_tf.training.runs import Run
from bertcnn_tf.training.runs import load_run

LONG_TEXT = " ".join(["the movie was not very good"] * 40)
KINDS = ["single", "multi", "pair", "seed"]
TOKENIZER_OPS = {"CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"}


def _export(tmp_path_factory, make, name):
    """`(run, version path)`: exported from the `Run` object once a session (`exported_once`), reloaded."""
    run_dir, path = exported_once(tmp_path_factory, f"export-{name}", make, model=name, from_run_folder=False)
    return load_run(run_dir), path


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Exported from a run folder, as `bertcnn export --model RUN` does; also records what the
    base folder held while the export's check ran (`checked.json`)."""

    def build(folder):
        run_dir = save_run(make_run(), folder / "run")
        base = folder / "feedback"
        seen = []
        real_check = bertcnn_tf.serving.export.check_serving

        def spy(path, run=None):
            seen.append((os.path.basename(path), os.path.dirname(path), _entries(base)))
            return real_check(path, run=run)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bertcnn_tf.serving.export, "check_serving", spy)
            export_for_serving(run_dir, base)
        (folder / "checked.json").write_text(json.dumps(seen))

    folder = built_once(tmp_path_factory, "export-single", build)
    return load_run(str(folder / "run")), str(folder / "feedback" / "1")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    # With the [CLS] vector beside the CNN's features, so that head option is exported too.
    return _export(tmp_path_factory, lambda: make_run(multi_label=True, with_cls_token=True), "tags")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    # keras-hub's default truncation, whose tf-text op old servers lack.
    return _export(tmp_path_factory, lambda: make_run(text_pair=True, truncate="round_robin"), "pairs")


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return _export(tmp_path_factory, lambda: make_run(head="seed"), "seed")


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


def test_multi_label_rows_list_several_labels_in_class_order(multi):
    # The tiny random model's sigmoids sit near 0.5, around the 0.4 threshold.
    run, path = multi
    with SavedModelSession(path) as session:
        outputs = session.run("serving_default", {"text": strings(TEXTS)})
    counts = (outputs["label_ids"] >= 0).sum(axis=1)
    assert counts.max() >= 2
    for row in outputs["label_ids"]:
        chosen = row[row >= 0]
        assert chosen.tolist() == sorted(chosen.tolist())


def test_a_fixed_length_model_rejects_other_token_widths(seed):
    run, path = seed
    with SavedModelSession(path) as session:
        with pytest.raises(SavedModelRunError) as excinfo:
            session.run(
                "predict_tokens",
                {k: np.ones((1, 5), np.int32) for k in ("token_ids", "segment_ids", "padding_mask")},
            )
        assert excinfo.value.code == "INVALID_ARGUMENT"
        # Raw text is padded to the model's length, whatever its own length.
        assert session.run("serving_default", {"text": strings(["ok"])})["probabilities"].shape == (1, 3)


# --- Padding ----------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    # Not checked against Keras: the probe's logits depend on padding on purpose,
    # and the serving graph pads its parts differently from Keras's batches.
    run = width_probe_run()
    return run, export_for_serving(run, tmp_path_factory.mktemp("saved_models") / "probe", check=False)


def _widths(path, batches):
    with SavedModelSession(path) as session:
        return [
            set(
                widths_from_probabilities(
                    session.run("serving_default", {"text": strings(b)})["probabilities"]
                )
            )
            for b in batches
        ]


BATCHES = [["loved it"], ["the movie was great !", "ok"], ["", " "], [LONG_TEXT, "a"]]


def test_each_part_of_a_batch_is_padded_to_its_longest_text(probe):
    # The probe model's logits are [0, width / 16], where width is the time
    # dimension of the token batch that the serving graph fed it. The last
    # batch splits: "a" alone is padded to 8 (the rounding step), not to 16.
    assert _widths(probe[1], BATCHES) == [{4}, {7}, {2}, {8, 16}]
    # (A head="seed" model gets its one length: it equals Keras above only so.)


def length_split(sorted_lengths, step, levels):
    """The parts `length_split_logits` runs, as lists of sorted lengths."""
    rounded = [-(-n // step) * step for n in sorted_lengths]
    count = len(rounded)
    if levels == 0 or count == 0:
        return [sorted_lengths] if count else []
    positions = [k * rounded[k - 1] + (count - k) * rounded[-1] for k in range(1, count + 1)]
    cut = max(k for k in range(1, count + 1) if positions[k - 1] == min(positions))
    return length_split(sorted_lengths[:cut], step, levels - 1) + length_split(
        sorted_lengths[cut:], step, levels - 1
    )


def test_a_request_runs_in_length_sorted_parts_and_keeps_its_order(tmp_path, monkeypatch):
    # Rows are sorted by length and split where padding is least, SPLIT_LEVELS
    # times; each part is trimmed to its longest (rounded up to
    # LENGTH_STEP, at most the request's width); outputs come back in
    # request order. A step of 2 gives the probe's 16 positions room for more
    # than two part widths.
    monkeypatch.setattr(bertcnn_tf.serving.graph, "LENGTH_STEP", 2)
    export_dir = export_for_serving(width_probe_run(), tmp_path / "probe", check=False)
    rng = np.random.default_rng(0)
    words = rng.permutation(np.concatenate([rng.integers(0, 6, 11), rng.integers(7, 20, 10)]))
    texts = [" ".join(["great"] * int(n)) for n in words]
    tokenizer = tiny_tokenizer()
    lengths = np.array([min(16, len(tokenizer(t)) + 2) for t in texts])
    order = np.argsort(lengths, kind="stable")
    step = bertcnn_tf.serving.graph.LENGTH_STEP
    parts = length_split(lengths[order].tolist(), step, bertcnn_tf.serving.graph.SPLIT_LEVELS)
    assert len(parts) > 2  # the request really splits, and a part splits again
    expected = np.empty(len(texts), dtype=int)
    start = 0
    for part in parts:
        expected[order[start : start + len(part)]] = min(lengths.max(), -(-max(part) // step) * step)
        start += len(part)
    with SavedModelSession(export_dir) as session:
        probabilities = session.run("serving_default", {"text": strings(texts)})["probabilities"]
    assert widths_from_probabilities(probabilities).tolist() == expected.tolist()


# Row 3 overflows the budget of 7 with 11 + 12 tokens: waterfall gives all
# of it to the first text, round robin shares it 4 / 3.
SECOND_TEXT_KEPT = {"waterfall": [2, 0, 1, 0, 1], "round_robin": [2, 0, 1, 3, 1]}


@pytest.mark.parametrize("truncate", ["waterfall", "round_robin"])
def test_pair_packing_equals_the_keras_preprocessor(truncate):
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tiny_tokenizer(), sequence_length=10, truncate=truncate
    )
    pairs = (tf.constant(PAIRS_A), tf.constant(PAIRS_B))
    # keras-hub's traced path (tf.data, as in training), padded to 10.
    dataset = tf.data.Dataset.from_tensor_slices(pairs).batch(len(PAIRS_A))
    expected = next(iter(dataset.map(lambda a, b: preprocessor(x=(a, b)))))
    packed = tf.function(make_packer(preprocessor))(*pairs)
    width = packed["token_ids"].shape[1]
    assert width == int(tf.reduce_max(tf.reduce_sum(tf.cast(expected["padding_mask"], tf.int32), 1)))
    for key in ("token_ids", "segment_ids", "padding_mask"):
        full = tf.cast(expected[key], tf.int32).numpy()
        np.testing.assert_array_equal(packed[key].numpy(), full[:, :width], err_msg=key)
        assert not full[:, width:].any()
    second_text = packed["segment_ids"].numpy().sum(axis=1) - 1  # minus its [SEP]
    assert second_text.tolist() == SECOND_TEXT_KEPT[truncate]


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
    for name in (
        "saved_model.pb",
        "variables",
        "assets/labels.txt",
        "assets.extra/tf_serving_warmup_requests",
    ):
        assert os.path.exists(os.path.join(path, name)), name
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == LABELS
    # Readable by a server running as another user, as the umask allows.
    umask = os.umask(0)
    os.umask(umask)
    for name in (".", "assets/labels.txt", "assets.extra/model_card.json"):
        mode = stat.S_IMODE(os.stat(os.path.join(path, name)).st_mode)
        assert mode == (0o777 if name == "." else 0o666) & ~umask, name
    card = read_model_card(path)
    assert card["labels"] == LABELS
    assert (card["head"], card["sequence_length"], card["fixed_sequence_length"]) == ("cnn", 16, None)
    assert card["compute_dtype"] == "float32"
    assert card["backbone"]["source"] == "tiny-random"
    assert card["backbone"]["hidden_dim"] == 16
    assert card["metrics"] == {"validation": {"examples": 6, "accuracy": 0.5, "macro_f1": 0.25}}
    assert card["versions"]["tensorflow"] == tf.__version__
    assert card["versions"]["keras"] == keras.__version__
    assert set(card["versions"]) == {"tensorflow", "tensorflow_text", "keras", "keras_hub", "bertcnn_tf"}
    assert card["min_tf_serving_version"] == "2.12"
    assert (card["jit_compile"], card["tf_serving_flags"]) == (False, [])
    assert card["source_run"] and os.path.exists(os.path.join(card["source_run"], "model.keras"))


def test_warmup_file_holds_prediction_logs_that_replay(single):
    run, path = single
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 3
    requests = [log.predict_log.request for log in logs]
    assert [r.model_spec.signature_name for r in requests] == ["serving_default", "predict_tokens", "explain"]
    assert {r.model_spec.name for r in requests} == {"feedback"}
    with SavedModelSession(path) as session:
        for request in requests:
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            outputs = session.run(request.model_spec.signature_name, inputs)
            assert {v.shape[0] for v in outputs.values()} == {3}
    # One warmup text fills the sequence length, so the widest shape is warm.
    assert tf.make_ndarray(requests[1].inputs["token_ids"]).shape == (3, 16)


# --- Publishing ---------------------------------------------------------------


def _entries(base):
    return sorted(os.listdir(base))


def _staged(base):
    os.makedirs(base, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".feedback-tmp-", dir=base)
    with open(os.path.join(staging, "saved_model.pb"), "wb") as f:
        f.write(b"stand-in")
    return staging


def test_versions_increment_and_are_never_overwritten(tmp_path):
    base = str(tmp_path / "feedback")
    assert publish(_staged(base), base) == os.path.join(base, "1")
    assert publish(_staged(base), base) == os.path.join(base, "2")
    staging = _staged(base)
    with pytest.raises(ExportError, match="version 2 already exists.*publish as 3"):
        publish(staging, base, version=2)
    assert os.listdir(os.path.join(base, "2")) == ["saved_model.pb"]
    assert publish(staging, base, version=10) == os.path.join(base, "10")
    assert publish(_staged(base), base) == os.path.join(base, "11")
    assert _entries(base) == ["1", "10", "11", "2"]


def test_export_refuses_a_taken_version_before_writing(tmp_path):
    base = tmp_path / "feedback"
    os.makedirs(base / "3")
    # A stand-in run: the refusal must come before the model is touched.
    with pytest.raises(ExportError, match="version 3 already exists.*publish as 4"):
        export_for_serving(Run(model=None, labels=[], settings={}), base, version=3)
    with pytest.raises(ExportError, match="non-negative integer"):
        export_for_serving(Run(model=None, labels=[], settings={}), base, version=-1)
    assert _entries(base) == ["3"]


def test_check_runs_on_a_hidden_staging_directory(single):
    base = os.path.dirname(single[1])
    with open(os.path.join(os.path.dirname(base), "checked.json"), encoding="utf-8") as f:
        checked = json.load(f)
    [(name, parent, entries_during_check)] = checked
    assert name.startswith(".feedback-tmp-") and parent == str(base)
    assert entries_during_check == [name]  # nothing TF Serving would load
    assert numeric_versions(base) == [1] and _entries(base) == ["1"]


def test_a_failed_check_publishes_nothing(tmp_path, monkeypatch):
    # A half-written export (its graph file cut short) must not become a version.
    base = tmp_path / "feedback"
    real_check = bertcnn_tf.serving.export.check_serving

    def check_half_written(path, run=None):
        graph = os.path.join(path, "saved_model.pb")
        os.truncate(graph, os.path.getsize(graph) // 2)
        return real_check(path, run=run)

    monkeypatch.setattr(bertcnn_tf.serving.export, "check_serving", check_half_written)
    with pytest.raises(ServingCheckError, match="cannot load SavedModel") as excinfo:
        export_for_serving(width_probe_run(), base)
    assert excinfo.value.step == "load"
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


# --- XLA-compiled exports ---------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """`bertcnn export --jit-compile`: the run, the version's path and what the command printed."""

    def build(folder):
        run_dir = save_run(make_run(), folder / "run")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["export", "--model", run_dir, "--export-dir", str(folder / "compiled"), "--jit-compile"]) == 0
        (folder / "printed.txt").write_text(printed.getvalue())

    folder = built_once(tmp_path_factory, "export-compiled", build)
    return load_run(str(folder / "run")), str(folder / "compiled" / "1"), (folder / "printed.txt").read_text()


def _functions_that_xla_must_compile(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    library = saved_model.meta_graphs[0].graph_def.library
    return [f.signature.name for f in library.function if f.attr["_XlaMustCompile"].b]


def test_an_xla_export_compiles_the_model_call_and_equals_keras(compiled, single):
    run, path, _ = compiled
    assert _functions_that_xla_must_compile(path)
    assert not _functions_that_xla_must_compile(single[1])
    card = read_model_card(path)
    assert (card["jit_compile"], card["tf_serving_flags"]) == (True, [XLA_SERVING_FLAG])
    texts = TEXTS + [LONG_TEXT, ""]
    with SavedModelSession(path) as session:
        served = session.run("serving_default", {"text": strings(texts)})["probabilities"]
        one_by_one = [session.run("serving_default", {"text": strings([t])})["probabilities"][0] for t in texts]
    expected = keras_probabilities(run, texts)
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(one_by_one, expected, atol=1e-5, rtol=0)


def test_an_xla_export_warms_up_a_single_text_of_every_width(compiled):
    run, path, _ = compiled
    requests = read_warmup_requests(os.path.join(path, WARMUP_FILE))
    texts = [inputs["text"] for name, inputs in requests if name == "serving_default"]
    singles = [text[0].decode() for text in texts if len(text) == 1]
    mask = run.model.preprocessor(x=singles)["padding_mask"]
    widths = -(-np.asarray(mask).sum(axis=1) // LENGTH_STEP) * LENGTH_STEP
    assert sorted(widths) == [8, 16]


def test_an_xla_export_runs_only_the_widths_its_warmup_compiled(tmp_path):
    # The plain export runs a request's longest part at its exact length
    # (test_each_part_of_a_batch_is_padded_to_its_longest_text); compiled,
    # every part is padded to the 8-token steps that the warmup covers.
    export_dir = export_for_serving(width_probe_run(), tmp_path / "probe", check=False, jit_compile=True)
    assert _widths(export_dir, BATCHES) == [{8}, {8}, {8}, {8, 16}]


@pytest.mark.parametrize("text_pair", [False, True])
def test_single_text_lengths_pack_to_each_serving_width(text_pair):
    preprocessor = make_run(text_pair=text_pair, sequence_length=30).model.preprocessor
    texts = single_text_lengths(30, segments=2 if text_pair else 1)
    mask = np.asarray(preprocessor(x=(texts, texts) if text_pair else texts)["padding_mask"]).sum(axis=1)
    widths = np.minimum(-(-mask // LENGTH_STEP) * LENGTH_STEP, 30)
    assert widths.tolist() == [8, 16, 24, 30]


def test_export_command_takes_jit_compile_and_names_the_server_flag(compiled):
    _, path, printed = compiled
    assert f"run tensorflow_model_server with: {XLA_SERVING_FLAG}" in printed
    assert read_model_card(path)["jit_compile"] is True
