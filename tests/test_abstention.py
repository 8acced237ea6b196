"""Abstaining: a tuned confidence below which the model answers "unknown", in Python, the CLI and the SavedModel."""

import json
import os

import numpy as np
import pytest
from conftest import quick_config
from conftest import sentiment_rows
from conftest import trained_once
from conftest import write_csv
from serving_helpers import make_run
from serving_helpers import strings

import bertcnn_tf
from bertcnn_tf import postprocessing
from bertcnn_tf.cli import main
from bertcnn_tf.data.files import DataError
from bertcnn_tf.inference import predict_logits
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.training.abstention import abstention_report
from bertcnn_tf.training.abstention import tune_abstain_below

LABELS = ["bad", "good", "service"]  # sentiment_rows
UNKNOWN_ROWS = [("a price , a plot , a film", "unknown"), ("ok , ok !", "unknown"), ("the the the", "unknown")]


def test_with_unknown_rows_the_threshold_maximizes_open_set_macro_f1():
    probabilities = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.6, 0.4]])
    targets = np.array([[1, 0], [0, 0], [0, 1], [0, 0]])  # rows 2 and 4 are unknown
    threshold = tune_abstain_below(probabilities, targets)
    assert 0.6 < threshold <= 0.8
    report = abstention_report(probabilities, targets, threshold)
    assert report["open_macro_f1"] == 1.0 and report["coverage"] == 0.5
    assert report["unknown_precision"] == report["unknown_recall"] == 1.0


def test_without_unknown_rows_the_threshold_answers_the_target_coverage():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet([1, 1, 1], size=1000)
    targets = np.eye(3)[rng.integers(0, 3, 1000)]
    threshold = tune_abstain_below(probabilities, targets, target_coverage=0.8)
    coverage = abstention_report(probabilities, targets, threshold)["coverage"]
    assert 0.8 <= coverage <= 0.801
    # Every row answered: the lowest confidence.
    assert tune_abstain_below(probabilities, targets, target_coverage=1.0) == probabilities.max(-1).min()


def test_a_validation_split_of_unknown_rows_only_is_refused():
    with pytest.raises(DataError, match="only unknown rows"):
        tune_abstain_below(np.array([[0.5, 0.5]]), np.zeros((1, 2)))


def test_abstaining_edges_none_and_all():
    probabilities = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], "float32")
    none = postprocessing.decisions(probabilities, ["a", "b"], False, abstain_below=0.0)
    assert none["label_id"].numpy().tolist() == [0, 0, 1]
    every = postprocessing.decisions(probabilities, ["a", "b"], False, abstain_below=1.01, unknown_label="none")
    assert every["label_id"].numpy().tolist() == [-1, -1, -1]
    assert every["label"].numpy().tolist() == [b"none"] * 3
    some = postprocessing.decisions(probabilities, ["a", "b"], False, abstain_below=0.85)
    assert some["label_id"].numpy().tolist() == [0, -1, -1]


def test_multi_label_models_do_not_abstain_but_say_so():
    with pytest.raises(ValueError, match="single-label"):
        postprocessing.decisions(np.array([[0.9, 0.1]]), ["a", "b"], True, abstain_below=0.5)
    with pytest.raises(ValueError, match="single-label"):
        bertcnn_tf.train(None, "unused", bertcnn_tf.TrainingConfig(multi_label=True, abstain=True))


@pytest.fixture(scope="module")
def abstaining_run(tmp_path_factory, tiny_preset):

    def build(folder):
        data = write_csv(folder / "train.csv", sentiment_rows(4) + UNKNOWN_ROWS * 4)
        config = quick_config(tiny_preset, epochs=2, abstain=True)
        bertcnn_tf.train(bertcnn_tf.read_examples(data), str(folder / "run"), config)

    return trained_once(tmp_path_factory, "abstaining", build)


def test_unknown_rows_are_not_a_class_and_tune_the_threshold(abstaining_run):
    run, report, run_dir, _ = abstaining_run
    assert "unknown" not in run.labels and len(run.labels) == 3
    assert run.abstain_below is not None and 0 <= run.abstain_below <= 1
    abstention = report["splits"]["validation"]["abstention"]
    # `run` is the reloaded folder: the threshold training tuned (its report) came back with it.
    assert abstention["abstain_below"] == run.abstain_below
    assert abstention["unknown_recall"] is not None  # the unknown rows went to the validation split
    assert os.path.exists(os.path.join(run_dir, "risk_coverage_validation.png"))


def test_evaluate_and_predict_answer_unknown_below_the_threshold(abstaining_run, tmp_path, capsys):
    _, _, run_dir, data = abstaining_run
    assert main(["evaluate", "--model", run_dir, "--data", data, "--report-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("coverage", "selective_accuracy", "unknown_precision", "unknown_recall", "open_macro_f1"):
        assert key in summary
    assert os.path.exists(tmp_path / "risk_coverage_evaluation.png")
    assert main(["predict", "--model", run_dir, "--abstain-below", "1.01", "late delivery", "loved it"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [record["label"] for record in records] == ["unknown", "unknown"]
    assert main(["predict", "--model", run_dir, "--abstain-below", "0", "late delivery"]) == 0
    assert json.loads(capsys.readouterr().out.strip())["label"] in LABELS


def test_a_validation_file_of_unknown_rows_only_is_a_clear_error(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    validation_csv = write_csv(tmp_path / "dev.csv", UNKNOWN_ROWS)
    code = main([
        "train", "--train", train_csv, "--validation", validation_csv, "--output", str(tmp_path / "run"),
        "--backbone", tiny_preset, "--abstain", "--epochs", "1",
    ])
    err = capsys.readouterr().err
    assert code == 2 and "every validation row is labelled 'unknown'" in err and "Traceback" not in err


def test_the_saved_model_applies_the_temperature_and_answers_the_unknown_label(tmp_path):
    texts = ["the movie was great !", "late delivery", "", "refund the price", "ok"]
    tempered = make_run().with_settings(temperature=1.5)
    tops = sorted(max(record["probabilities"].values()) for record in bertcnn_tf.predict(tempered, texts))
    threshold = round((tops[1] + tops[2]) / 2, 6)  # between the second and third: some rows on each side
    run = tempered.with_settings(abstain_below=threshold, unknown_label="other")
    # The export's check compares these decisions with Python's before publishing.
    path = bertcnn_tf.export_for_serving(run, tmp_path / "open")
    with SavedModelSession(path) as session:
        served = session.run("serving_default", {"text": strings(texts)})
    expected = bertcnn_tf.predict(run, texts)
    assert [label.decode() for label in served["label"]] == [record["label"] for record in expected]
    top = served["probabilities"].max(-1)
    np.testing.assert_array_equal(served["label_id"] == -1, top < threshold)
    assert (served["label_id"] == -1).sum() == 2  # the two least sure
    assert ((served["label_id"] == -1) == (served["label"] == b"other")).all()
    # The temperature applies: the served probabilities are softmax(logits / 1.5).
    logits = predict_logits(run.model, bertcnn_tf.Examples.unlabelled(texts))
    expected_probabilities = postprocessing.probabilities(logits, False, temperature=1.5).numpy()
    np.testing.assert_allclose(served["probabilities"], expected_probabilities, atol=1e-5)
    card = bertcnn_tf.read_model_card(path)
    assert (card["abstain_below"], card["unknown_label"], card["temperature"]) == (threshold, "other", 1.5)
    # --abstain-below at export time overrides the run's own (the same graph,
    # checked above; unchecked here to keep the suite short).
    everything = bertcnn_tf.export_for_serving(run, tmp_path / "open", abstain_below=1.01, check=False)
    with SavedModelSession(everything) as session:
        assert (session.run("serving_default", {"text": strings(texts)})["label_id"] == -1).all()


def test_compare_scores_an_abstaining_run_right_where_it_abstains_on_unknown_rows(abstaining_run):
    from bertcnn_tf.training.evaluation import correct_per_example

    run, _, _, data = abstaining_run
    examples = bertcnn_tf.read_examples(data)
    unknown = np.array([labels == ["unknown"] for labels in examples.labels])
    everything = run.with_settings(abstain_below=1.01)  # abstains on every row
    np.testing.assert_array_equal(correct_per_example(everything, examples), unknown)
