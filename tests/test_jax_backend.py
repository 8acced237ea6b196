"""The numeric model is pure Keras: it trains under JAX, and TensorFlow serves the result."""

import csv
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import sentiment_rows
from conftest import write_csv

import bertcnn_tf.training.runs  # noqa: F401  registers the optimizer and schedule model.keras names
from bertcnn_tf.data.files import read_examples
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.training.runs import load_run

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_worker.py")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="jax is not installed; `pip install -e .[jax]` installs it for CPU",
)


def test_trains_under_jax_then_loads_and_predicts_under_tensorflow(tmp_path, tiny_preset):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(4))
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, WORKER, "jax", str(tmp_path), tiny_preset],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "training_log.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 1  # one epoch, trained under JAX
    # This process runs TensorFlow: the model JAX trained loads here with its
    # tokenizer and gives the same probabilities, ready for export.
    run = load_run(str(tmp_path / "run"))
    assert run.labels == ["bad", "good", "service"]
    probabilities = predict_probabilities(run.model, read_examples(data))
    np.testing.assert_allclose(probabilities, np.load(tmp_path / "probabilities.npy"), atol=1e-5)


def test_weight_averaging_works_under_jax():
    # Under JAX a training step donates the weights' buffers: the average
    # must be copied into the model, not shared with it.
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    test_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_averaging.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", test_file],  # one process
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:]
