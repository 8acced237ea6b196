"""Killed runs resume to the step; damaged backups and NaN losses stop with a clear message."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
from conftest import sentiment_rows
from conftest import tiny_classifier
from conftest import write_csv

import bertcnn_tf.optimizers as optimization
import bertcnn_tf.training.trainer as training
from bertcnn_tf.cli import main
from bertcnn_tf.training.backup import BackupError
from bertcnn_tf.training.backup import BackupState
from bertcnn_tf.training.backup import METADATA_FILE
from bertcnn_tf.training.backup import TrainingBackup

# A bound on each subprocess, so that a stuck run cannot hang the suite.
SUBPROCESS_TIMEOUT = 240


def train_command(data, output, preset, *extra):
    return [
        sys.executable, "-m", "bertcnn_tf", "train", "--train", str(data), "--output", str(output),
        "--backbone", preset, "--epochs", "2", "--batch-size", "4", "--sequence-length", "16",
        "--learning-rate", "3e-3", "--warmup-ratio", "0",
        # At 20x this fast rate the head's path swings with the dropout masks a restart redraws;
        # label smoothing (the single-label default) widens that swing in the first epoch
        # (validation loss 0.32 resumed at step 2 against 0.41 uninterrupted, beyond the
        # tolerance below), so these runs are unsmoothed, as the tolerance was set.
        "--head-learning-rate-multiplier", "1", "--label-smoothing", "0", *map(str, extra),
    ]


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def kill_mid_first_epoch(process, backup_dir, timeout=SUBPROCESS_TIMEOUT):
    """SIGKILLs `process` while its backup stands in the first epoch, past step 0.

    Returns that backup's metadata. The process is frozen (SIGSTOP) before
    the backup is read again, so the state read is the state it dies in.
    """
    metadata = os.path.join(backup_dir, METADATA_FILE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if mid_first_epoch(read_json(metadata)):
            process.send_signal(signal.SIGSTOP)
            state = read_json(metadata)
            if mid_first_epoch(state):
                process.kill()
                process.wait()
                return state
            process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the run left its first epoch before a backup in it could be caught")


def mid_first_epoch(state):
    return state is not None and state["epoch"] == 0 and state["step"] > 0


def test_sigkilled_run_resumes_from_its_backup_to_the_step(tmp_path, tiny_preset, capsys):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(12))  # 96 training rows: 24 steps
    run_dir, reference_dir = tmp_path / "run", tmp_path / "reference"
    backup_dir = run_dir / "backup" / "full"
    command = train_command(data, run_dir, tiny_preset, "--backup-every-steps", 2)
    victim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        state = kill_mid_first_epoch(victim, backup_dir)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    # The same command again; meanwhile, the uninterrupted run, in this process.
    resumed = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reference_code = main(train_command(data, reference_dir, tiny_preset, "--backup-every-steps", 2)[3:])
        resumed_output, resumed_errors = resumed.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.wait()
    assert reference_code == 0, capsys.readouterr().err
    assert resumed.returncode == 0, resumed_errors[-3000:]
    assert (
        f"Resuming from the backup in {backup_dir}: epoch 1 of 2, step {state['step']} of 24 "
        "(a previous run was interrupted)."
    ) in resumed_output
    assert "validation: accuracy" in resumed_output
    assert not backup_dir.exists()  # finished: nothing left to resume from
    # The resumed run finished the first epoch on the batches it had left,
    # rather than starting it again (which would add `step` steps): its best
    # checkpoint, in model.keras, was taken after a whole number of epochs.
    assert optimizer_steps(run_dir) in (24, 48)
    resumed_log = training.read_training_log(run_dir / "training_log.csv")
    reference_log = training.read_training_log(reference_dir / "training_log.csv")
    assert len(resumed_log["val_loss"]) == len(reference_log["val_loss"]) == 2  # a row an epoch
    # Close, not equal: Keras does not save the dropout layers' random state,
    # so the masks after the restart differ from the uninterrupted run's.
    np.testing.assert_allclose(resumed_log["val_loss"], reference_log["val_loss"], atol=0.05)
    resumed_metrics = json.loads((run_dir / "report.json").read_text())["splits"]["validation"]
    reference_metrics = json.loads((reference_dir / "report.json").read_text())["splits"]["validation"]
    assert resumed_metrics["accuracy"] == pytest.approx(reference_metrics["accuracy"], abs=0.1)
    assert resumed_metrics["macro_f1"] == pytest.approx(reference_metrics["macro_f1"], abs=0.1)


def optimizer_steps(run_dir):
    model = keras.saving.load_model(run_dir / "model.keras")
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


@pytest.fixture
def backup_dir(tmp_path):
    """A backup of a compiled tiny model with trained-looking state, at epoch 1, step 3."""
    model = compiled_model()
    model.optimizer.build(model.trainable_variables)  # as after a training step
    model.optimizer.iterations.assign(7)
    for variable in model.trainable_weights:
        variable.assign(np.full(variable.shape, 0.25, variable.dtype))
    backup = TrainingBackup(str(tmp_path / "backup"))
    backup.set_model(model)
    backup.state = BackupState(epoch=1, step=3, best=0.5, wait=1)
    backup.save()
    return tmp_path / "backup"


def compiled_model(num_classes=3):
    model = tiny_classifier(num_classes=num_classes)
    model.compile(optimizer=optimization.make_optimizer(1e-3, total_steps=10), loss="mse")
    return model


def weights_file(backup_dir):
    return backup_dir / json.loads((backup_dir / METADATA_FILE).read_text())["weights"]


def test_backup_restores_weights_optimizer_and_position(backup_dir):
    model = compiled_model()
    state = TrainingBackup(str(backup_dir)).restore(model)
    assert state == BackupState(epoch=1, step=3, best=0.5, wait=1)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 7
    for variable in model.trainable_weights:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), 0.25)


def h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garble(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, garble])
def test_damaged_backup_file_is_named_with_the_fix(backup_dir, damage):
    path = weights_file(backup_dir)
    damage(path)
    with pytest.raises(BackupError, match=f"{path} is corrupt or truncated.*Delete the folder {backup_dir}"):
        TrainingBackup(str(backup_dir)).restore(compiled_model())


def test_partial_or_unreadable_backups_are_reported(backup_dir):
    os.remove(weights_file(backup_dir))
    with pytest.raises(BackupError, match="is partial: training_metadata.json names epoch1-step3.weights.h5, which is missing"):
        TrainingBackup(str(backup_dir)).restore(compiled_model())
    (backup_dir / METADATA_FILE).write_text('{"epoch": 1, "st')
    with pytest.raises(BackupError, match="metadata .*training_metadata.json is corrupt"):
        TrainingBackup(str(backup_dir)).restore(compiled_model())


def test_backup_of_another_model_is_refused(backup_dir):
    with pytest.raises(BackupError, match="does not fit this model.*other settings"):
        TrainingBackup(str(backup_dir)).restore(compiled_model(num_classes=5))


def test_unfinished_first_backup_is_ignored(tmp_path):
    """A weights file no metadata names is a write a kill interrupted."""
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "epoch0-step2.weights.h5").write_bytes(b"half a file")
    assert TrainingBackup(str(tmp_path / "backup")).restore(compiled_model()) == BackupState()


def test_unreadable_best_checkpoint_is_reported(tmp_path):
    (tmp_path / "best.weights.h5").write_bytes(b"cut short")
    dirs = training.RunDirs(read=str(tmp_path), write=str(tmp_path))
    with pytest.raises(BackupError, match="best checkpoint .*best.weights.h5 cannot be read.*Run the same command again"):
        training.load_best_weights(tiny_classifier(), dirs)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_reports_a_corrupt_backup_in_one_line(tmp_path, tiny_preset, capsys, backup_dir):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    os.rename(backup_dir, run_dir / "backup" / "full")
    garble(weights_file(run_dir / "backup" / "full"))
    code, _, err = run_cli(capsys, *train_command(data, run_dir, tiny_preset)[3:])
    assert code == 2 and err.startswith("error: The backup file ") and "Traceback" not in err
    assert f"Delete the folder {run_dir / 'backup' / 'full'} to train from the start" in err


STEPS_PER_EPOCH = 6  # sentiment_rows(3): 24 training rows in batches of 4


def exploding_optimizer(learning_rate, total_steps, **kwargs):
    """The real learning rate for the first epoch, then 1e30."""
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([STEPS_PER_EPOCH], [learning_rate, 1e30])
    return optimization.GlobalClipAdamW(schedule, global_clipnorm=1.0)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_best_checkpoint(tmp_path, tiny_preset, capsys, monkeypatch):
    monkeypatch.setattr(training, "make_optimizer", exploding_optimizer)
    data = write_csv(tmp_path / "train.csv", sentiment_rows(3))
    run_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, *train_command(data, run_dir, tiny_preset)[3:])
    assert code == 2 and err.startswith("error: The training loss became "), err
    assert "at epoch 2, step " in err and "training stopped" in err and "Traceback" not in err
    assert f"The best checkpoint so far, {run_dir / 'best.weights.h5'}, is intact." in err
    assert "Lower the learning rate (--learning-rate)" in err
    assert not (run_dir / "model.keras").exists()
    # The checkpoint holds the weights of the end of epoch 1, which the
    # backup of that moment holds too; none of the diverged steps reached either.
    kept = h5_arrays(run_dir / "best.weights.h5")
    backed_up = h5_arrays(weights_file(run_dir / "backup" / "full"))
    assert json.loads((run_dir / "backup" / "full" / METADATA_FILE).read_text())["epoch"] == 1
    assert kept.keys() == backed_up.keys() and len(kept) > 10
    for name, array in kept.items():
        assert np.all(np.isfinite(array)), name
        np.testing.assert_array_equal(array, backed_up[name], err_msg=name)
