"""Temperature scaling: fitted after training, saved with the run, applied in predict, evaluate and the SavedModel."""

import json
import os

import numpy as np
import pytest
from conftest import quick_config
from conftest import sentiment_rows
from conftest import trained_once
from conftest import write_csv

import bertcnn_tf
from bertcnn_tf import postprocessing
from bertcnn_tf.cli import main
from bertcnn_tf.inference import predict_logits
from bertcnn_tf.training.calibration import expected_calibration_error
from bertcnn_tf.training.calibration import fit_temperature
from bertcnn_tf.training.calibration import negative_log_likelihood
from bertcnn_tf.training.calibration import reliability_bins


def calibrated_sample(rows=4000, classes=4, seed=0):
    """Logits whose softmax is the true class distribution the targets are drawn from."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(rows, classes))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    drawn = np.array([rng.choice(classes, p=row) for row in probabilities])
    return logits, np.eye(classes)[drawn]


def test_temperature_undoes_over_confidence_and_lowers_nll_and_ece():
    logits, targets = calibrated_sample()
    confident = 4.0 * logits  # the same ranking, four times too sure
    temperature = fit_temperature(confident, targets, multi_label=False)
    assert temperature == pytest.approx(4.0, rel=0.1)
    before = postprocessing.probabilities(confident, False).numpy()
    after = postprocessing.probabilities(confident, False, temperature=temperature).numpy()
    assert negative_log_likelihood(after, targets, False) < 0.8 * negative_log_likelihood(before, targets, False)
    assert expected_calibration_error(after, targets, False) < 0.5 * expected_calibration_error(before, targets, False)
    np.testing.assert_array_equal(after.argmax(-1), before.argmax(-1))  # the labels stay


def test_multi_label_models_get_one_temperature_per_label():
    logits, targets = calibrated_sample(classes=3)
    sigmoid_targets = (np.random.default_rng(1).random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(float)
    scaled = logits * np.array([1.0, 3.0, 0.5])
    temperatures = fit_temperature(scaled, sigmoid_targets, multi_label=True)
    assert len(temperatures) == 3
    np.testing.assert_allclose(temperatures, [1.0, 3.0, 0.5], rtol=0.15)


def test_reliability_bins_cover_every_row_once():
    probabilities = np.array([[0.95, 0.05], [0.55, 0.45], [0.5, 0.5], [0.1, 0.9]])
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    bins = reliability_bins(probabilities, targets, multi_label=False)
    assert sum(row["count"] for row in bins) == 4
    assert all(row["bin"][0] < row["confidence"] <= row["bin"][1] for row in bins)


def test_a_model_that_outputs_probabilities_takes_the_temperature_of_its_logits():
    outputs = np.array([[2.0, 0.5, -1.0]], "float32")
    probabilities = postprocessing.probabilities(outputs, False).numpy()
    np.testing.assert_allclose(
        postprocessing.probabilities(probabilities, False, from_logits=False, temperature=2.5).numpy(),
        postprocessing.probabilities(outputs, False, temperature=2.5).numpy(),
        atol=1e-6,
    )


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory, tiny_preset):

    def build(folder):
        data = write_csv(folder / "train.csv", sentiment_rows(4))
        bertcnn_tf.train(bertcnn_tf.read_examples(data), str(folder / "run"), quick_config(tiny_preset, epochs=2))

    return trained_once(tmp_path_factory, "calibrated", build)


def test_training_fits_a_temperature_and_predict_applies_it(calibrated_run):
    run, report, run_dir, data = calibrated_run
    temperature = run.temperature
    assert isinstance(temperature, float) and temperature > 0 and temperature != 1.0
    examples = bertcnn_tf.read_examples(data)
    expected = postprocessing.probabilities(predict_logits(run.model, examples), False, temperature=temperature)
    predicted = bertcnn_tf.predict(run, examples.texts)
    for record, row in zip(predicted, expected.numpy()):
        assert list(record["probabilities"].values()) == pytest.approx(row.tolist(), abs=1e-5)
    calibration = report["splits"]["validation"]["calibration"]
    # `run` is the reloaded folder: the temperature training fitted (its report) came back with it.
    assert calibration["temperature"] == temperature
    # Fitted on the validation split by NLL: it cannot be worse there than no temperature.
    assert calibration["nll"]["after"] <= calibration["nll"]["before"] + 1e-6
    assert os.path.exists(os.path.join(run_dir, "reliability_validation.png"))


def test_evaluate_reports_ece_and_nll_before_and_after_and_draws_the_reliability_diagram(
    calibrated_run, tmp_path, capsys
):
    _, _, run_dir, data = calibrated_run
    assert main(["evaluate", "--model", run_dir, "--data", data, "--report-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("ece", "nll"):
        assert set(summary[name]) == {"before", "after"} and summary[name]["after"] >= 0
    assert os.path.exists(tmp_path / "reliability_evaluation.png")


def test_no_calibration_keeps_the_logits(tmp_path, tiny_preset):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    run, _ = bertcnn_tf.train(
        bertcnn_tf.read_examples(data), str(tmp_path / "run"), quick_config(tiny_preset, epochs=1, calibrate=False)
    )
    assert run.temperature == 1.0
