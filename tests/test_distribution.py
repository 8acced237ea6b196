"""Strategies, global batches, static shapes, and training on several replicas or workers."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import sentiment_rows
from conftest import tiny_tokenizer
from conftest import write_csv

from bertcnn_tf import make_preprocessor
from bertcnn_tf.cli import main
from bertcnn_tf.data.files import Examples
from bertcnn_tf.data.files import read_examples
from bertcnn_tf.data.pipeline import make_dataset
from bertcnn_tf.training.config import TrainingConfig
from bertcnn_tf.training.distribution import StrategyError
from bertcnn_tf.training.distribution import describe
from bertcnn_tf.training.distribution import global_batch_size
from bertcnn_tf.training.distribution import is_chief
from bertcnn_tf.training.distribution import make_strategy
from bertcnn_tf.training.trainer import read_training_log
from bertcnn_tf.training.trainer import train

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_worker.py")
# A bound on each subprocess, so that a hung collective cannot hang the suite.
SUBPROCESS_TIMEOUT = 240


def worker_env(**extra):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env.update(extra)
    return env


def free_ports(count):
    """Ports no one listens on now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def load_npz(path):
    with np.load(path) as weights:
        return [weights[f"arr_{i}"] for i in range(len(weights.files))]


def test_strategy_names_and_batch_sizes():
    strategy = make_strategy("auto")  # no GPU or TPU here: the default strategy
    assert strategy is tf.distribute.get_strategy() and is_chief(strategy)
    assert global_batch_size(8, strategy) == 8
    assert "default (one device), 1 replica; global batch 8" in describe(strategy, 8)
    one = make_strategy("one-device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy) and make_strategy("one-device") is one
    with pytest.raises(StrategyError, match="Unknown strategy 'gpu'; use one of auto, one-device"):
        make_strategy("gpu")


def test_strategy_setup_errors_say_what_to_change(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(StrategyError, match="multi-worker needs TF_CONFIG.*docs/distributed.md"):
        make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    with pytest.raises(StrategyError, match="TF_CONFIG is not valid JSON"):
        make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(StrategyError, match="both a 'cluster' and a 'task'"):
        make_strategy("multi-worker")
    # No TPU on this machine: the local lookup fails at once, with advice.
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(StrategyError, match="No TPU at 'local'.*--tpu"):
        make_strategy("tpu")


def test_cli_strategy_flags(tmp_path, tiny_preset, capsys, monkeypatch):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    with pytest.raises(SystemExit):
        main(["train", "--train", train_csv, "--output", str(tmp_path / "r"), "--strategy", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "--train", train_csv, "--output", str(tmp_path / "r"),
                 "--backbone", tiny_preset, "--strategy", "multi-worker"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --strategy multi-worker needs TF_CONFIG")
    assert "Traceback" not in err


def texts_of_lengths(lengths):
    words = "the movie was great fun and very good".split()
    return [" ".join(words[i % len(words)] for i in range(n)) for n in lengths]


def test_static_shapes_pipeline_is_fixed_size_and_numeric():
    """What TPUs need, checked on CPU: one shape for every batch, no strings."""
    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=16)
    examples = Examples(texts=texts_of_lengths(range(1, 12)), labels=[["x"]] * 11)
    targets = np.eye(2, dtype="float32")[np.arange(11) % 2]
    training = make_dataset(examples, preprocessor, targets, batch_size=4, training=True, static_shapes=True)
    evaluation = make_dataset(examples, preprocessor, targets, batch_size=4, static_shapes=True)
    for dataset in (training, evaluation):
        specs = tf.nest.flatten(dataset.element_spec)
        assert all(spec.shape.is_fully_defined() for spec in specs), dataset.element_spec
        assert all(spec.dtype != tf.string for spec in specs)
        assert dataset.element_spec[0]["token_ids"].shape == (4, 16)
        assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
    # The evaluation set is padded to whole batches with rows of weight 0:
    # all 11 rows count once, none is dropped.
    weights = np.concatenate([w.numpy() for _, _, w in evaluation])
    assert len(weights) == 12 and weights.sum() == 11 and weights[-1] == 0
    # Without static shapes, batches are cut to their longest text.
    dynamic = make_dataset(examples, preprocessor, targets, batch_size=4)
    assert dynamic.element_spec[0]["token_ids"].shape.as_list() == [None, None]
    with pytest.raises(ValueError, match="static_shapes needs targets"):
        make_dataset(examples, preprocessor, batch_size=4, static_shapes=True)


def test_static_shapes_pipeline_of_documents_in_windows():
    """Documents on a TPU: every batch `[documents, most windows, window]`, a multiple of the replicas."""
    from bertcnn_tf.data.pipeline import training_steps

    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=8, max_document_length=32, window_stride=4)
    examples = Examples(texts=texts_of_lengths(range(1, 30, 3)), labels=[["x"]] * 10)
    targets = np.eye(2, dtype="float32")[np.arange(10) % 2]
    options = dict(batch_size=16, static_shapes=True, replicas=2)  # 16 windows, at most 8 a document: 2 documents
    training = make_dataset(examples, preprocessor, targets, training=True, **options)
    evaluation = make_dataset(examples, preprocessor, targets, **options)
    for dataset in (training, evaluation):
        assert dataset.element_spec[0]["token_ids"].shape == (2, 8, 8)
    weights = np.concatenate([w.numpy() for _, _, w in evaluation])
    assert len(weights) == 10 and weights.sum() == 10
    assert training_steps(examples, preprocessor, 16, replicas=2, static_shapes=True) == 5


def test_tpu_setting_trains_on_static_batches_with_xla(tmp_path, tiny_preset, monkeypatch):
    """TPU wiring, as far as a CPU goes.

    `train`, under a strategy taken for a TPU, feeds static batches only,
    and the numeric model compiles with XLA (the TPU's compiler), which a
    string op would make fail.
    """
    import bertcnn_tf.training.trainer as training

    seen = []

    def recording_make_dataset(*args, **kwargs):
        dataset = make_dataset(*args, **kwargs)
        seen.append(dataset.element_spec)
        return dataset

    monkeypatch.setattr(training, "is_tpu", lambda strategy: True)
    monkeypatch.setattr(training, "make_dataset", recording_make_dataset)
    data = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(4)))
    config = TrainingConfig(
        backbone=tiny_preset, epochs=1, batch_size=4, sequence_length=16,
        learning_rate=3e-3, warmup_ratio=0.0, xla=True, verbose=0,
    )
    run, report = train(data, str(tmp_path / "run"), config)
    assert len(seen) == 2  # training and validation
    for spec in seen:
        assert all(s.shape.is_fully_defined() and s.dtype != tf.string for s in tf.nest.flatten(spec))
    # 3 validation rows, padded to one batch of 4 on the device; the report counts 3.
    assert report["splits"]["validation"]["examples"] == 3


def long_rows(rows):
    """Rows of 1 or 2 windows of 16 tokens: batches of 8 and 4 documents, on 1 replica as on 2."""
    return [(" ".join([text] * (1 + i % 3)), label) for i, (text, label) in enumerate(rows)]


@pytest.mark.parametrize("mode", ["mirrored", "mirrored-windows"])
def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path, mode):
    """Same global batch (8 = 2 replicas × 4), same data order, dropout 0."""
    rows = sentiment_rows(6)
    write_csv(tmp_path / "train.csv", long_rows(rows) if mode == "mirrored-windows" else rows)
    result = subprocess.run(
        [sys.executable, WORKER, mode, str(tmp_path)],
        env=worker_env(), capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Strategy: MirroredStrategy, 2 replicas; global batch 8 (4 per replica)." in result.stdout
    with np.load(tmp_path / "one-device.npz") as a, np.load(tmp_path / "mirrored.npz") as b:
        one_device, mirrored = dict(a), dict(b)
    assert one_device.keys() == mirrored.keys() and len(one_device) > 10
    losses = [read_training_log(tmp_path / name / "training_log.csv")["loss"] for name in ("one-device", "mirrored")]
    # Every weight that differs, not just the first, with the losses: enough
    # to tell a late divergence in one weight from the whole run drifting.
    differing = {
        path: (int((~np.isclose(mirrored[path], value, rtol=1e-4, atol=1e-5)).sum()), value.size,
               float(np.abs(mirrored[path] - value).max()))
        for path, value in one_device.items()
        if not np.allclose(mirrored[path], value, rtol=1e-4, atol=1e-5)
    }
    assert not differing, f"(values off, of, max difference) per weight: {differing}; losses {losses}"
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_multi_worker_two_processes_agree_and_only_the_chief_writes(tmp_path, tiny_preset):
    write_csv(tmp_path / "train.csv", sentiment_rows(4))
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    scratch = tmp_path / "worker1_tmp"  # the non-chief's temporary folders go here
    scratch.mkdir()
    workers = []
    try:
        for index in (0, 1):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            env = worker_env(TF_CONFIG=tf_config, **({"TMPDIR": str(scratch)} if index else {}))
            workers.append(subprocess.Popen(
                [sys.executable, WORKER, "multi-worker", str(tmp_path), tiny_preset],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        outputs = [worker.communicate(timeout=max(1, deadline - time.monotonic()))[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
        assert "MultiWorkerMirroredStrategy, 2 replicas on 2 workers; global batch 8" in output
    chief, other = load_npz(tmp_path / "worker0.npz"), load_npz(tmp_path / "worker1.npz")
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)
    # Worker 0 is the chief: a complete run folder, the backup gone once done.
    written = set(os.listdir(tmp_path / "run0"))
    assert {"model.keras", "best.weights.h5", "labels.txt", "settings.json", "report.json",
            "training_log.csv"} <= written
    assert "backup" not in written
    # Worker 1 wrote nothing of its own and left no temporary folder behind.
    assert not (tmp_path / "run1").exists() and not os.listdir(scratch)
    assert json.loads((tmp_path / "worker1.json").read_text()) == {"report": False}
    assert json.loads((tmp_path / "worker0.json").read_text()) == {"report": True}
