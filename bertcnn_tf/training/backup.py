"""Backups that a killed training run resumes from, to the step.

A backup folder holds `training_metadata.json` and the weights file it names
(model and optimizer state). The metadata is written last, atomically: it is
the commit point, so a run killed at any moment leaves the previous backup or
the new one, never a mix, and a weights file no metadata names is an
unfinished write, ignored and removed.

```
backup/full/
  training_metadata.json   {"epoch": 1, "step": 30, "weights": "epoch1-step30.weights.h5",
                            "sha256": "...", "best": 0.91, "wait": 0}
  epoch1-step30.weights.h5
```

It keeps Keras' `BackupAndRestore` layout (weights + `training_metadata.json`
with the epoch) but not its class, which in Keras 3.15 restores the epoch and
not the step (the interrupted epoch restarts from its first batch on weights
that already learned from part of it), records the mid-epoch backups made
after a restore as epoch 0 (its epoch counter moves only at epoch ends),
writes the weights in place (a kill during the write leaves a truncated file
and nothing to go back to), and forgets the best validation score, so the
first epoch after a restart overwrites the best checkpoint whatever its score.
"""

import contextlib
import dataclasses
import glob
import hashlib
import json
import math
import os
import shutil

import keras

from bertcnn_tf.io_utils import atomic_write_text

METADATA_FILE = "training_metadata.json"
WEIGHTS_PATTERN = "*.weights.h5"


class TrainingError(ValueError):
    """Training stopped for a reason its message explains.

    A `ValueError`, so that `bertcnn train` reports it as one `error:` line.
    """


class BackupError(TrainingError):
    """A backup that cannot be resumed from: partial, corrupt, or another model's."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class BackupState:
    """Where training stands: the step in the epoch, and the early-stopping state."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in epoch `epoch`
    best: float = None  # the best validation score so far
    wait: int = 0  # epochs since it last improved


def read_backup(backup_dir):
    """The `(BackupState, weights path)` of a backup folder, or `None` if it has none.

    Raises:
        BackupError: the metadata is unreadable, or the weights file it names
            is missing or does not hash to the recorded checksum.
    """
    metadata_path = os.path.join(backup_dir, METADATA_FILE)
    if not os.path.exists(metadata_path):
        return None
    try:
        with open(metadata_path, encoding="utf-8") as f:
            metadata = json.load(f)
        weights_path = os.path.join(backup_dir, metadata["weights"])
        state = BackupState(
            epoch=int(metadata["epoch"]),
            step=int(metadata["step"]),
            best=None if metadata.get("best") is None else float(metadata["best"]),
            wait=int(metadata.get("wait", 0)),
        )
        checksum = metadata["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(
            f"The backup metadata {metadata_path} is corrupt ({type(error).__name__}: "
            f"{error}). {start_over(backup_dir)}"
        ) from None
    if not os.path.exists(weights_path):
        raise BackupError(
            f"The backup in {backup_dir} is partial: {METADATA_FILE} names "
            f"{os.path.basename(weights_path)}, which is missing. {start_over(backup_dir)}"
        )
    if file_sha256(weights_path) != checksum:
        raise BackupError(
            f"The backup file {weights_path} is corrupt or truncated: its checksum "
            f"does not match {METADATA_FILE}. {start_over(backup_dir)}"
        )
    return state, weights_path


def start_over(backup_dir):
    return (
        f"Delete the folder {backup_dir} to train from the start (the run's other "
        "files are kept), or put back an intact copy of it."
    )


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TrainingBackup(keras.callbacks.Callback):
    """Backs training up every `save_every_steps` steps and at each epoch end.

    Call `restore(model)` before `fit`: it loads the backup of `restore_dir`
    and returns where training stands, which decides what `fit` is given
    (`bertcnn_tf.training.trainer.fit_resumable`). In multi-worker training every
    worker restores the chief's backup (`restore_dir`, on storage all
    workers see) and saves to its own `backup_dir`, which is the chief's
    only on the chief.

    It also stops training, with `NonFiniteLossError`, at the first batch
    whose loss is NaN or infinite, before that state reaches a backup or a
    checkpoint.

    Args:
        backup_dir: The folder to save to.
        save_every_steps: int. Also back up mid-epoch every this many steps;
            0 backs up at epoch ends only.
        restore_dir: The folder to restore from; defaults to `backup_dir`.
        checkpoint: Optional `ModelCheckpoint` and `early_stopping`: optional
            `EarlyStopping`, whose best score and patience count are kept
            in the backup and given back to them after a restart.
        averaged_weights: Optional `bertcnn_tf.training.averaging.AveragedWeights`;
            backups hold the raw weights even while it has put the average
            in the model.
        nan_advice: What to change after a NaN loss, for the message of
            `NonFiniteLossError`.

    Example:
    ```python
    backup = TrainingBackup("run/backup", save_every_steps=100)
    state = backup.restore(model)
    model.fit(data.skip(state.epoch * steps + state.step), ..., callbacks=[backup])
    ```
    """

    def __init__(
        self,
        backup_dir,
        save_every_steps=0,
        restore_dir=None,
        checkpoint=None,
        early_stopping=None,
        averaged_weights=None,
        nan_advice="",
    ):
        super().__init__()
        if save_every_steps < 0:
            raise ValueError(f"save_every_steps must be 0 or more, not {save_every_steps}.")
        self.backup_dir = backup_dir
        self.save_every_steps = save_every_steps
        self.restore_dir = restore_dir or backup_dir
        self.checkpoint = checkpoint
        self.early_stopping = early_stopping
        self.averaged_weights = averaged_weights
        self.nan_advice = nan_advice
        self.state = BackupState()

    def restore(self, model):
        """Loads the backup of `restore_dir` into `model`; returns the `BackupState`."""
        found = read_backup(self.restore_dir)
        if found is None:
            self.state = BackupState()
            return self.state
        state, weights_path = found
        if model.optimizer is not None and not model.optimizer.built:
            # The backup holds the optimizer's moments and step count too.
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(weights_path)
        except (ValueError, OSError, KeyError) as error:
            raise BackupError(
                f"The backup {weights_path} does not fit this model ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}); it was written by a run with other settings "
                f"or it is damaged. {start_over(self.restore_dir)}"
            ) from None
        self.state = state
        return state

    def on_train_begin(self, logs=None):
        # `EarlyStopping.on_train_begin` has just reset them (it runs first).
        if self.checkpoint is not None and self.state.best is not None:
            self.checkpoint.best = self.state.best
        if self.early_stopping is not None:
            self.early_stopping.best = self.state.best
            self.early_stopping.wait = self.state.wait

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self.state.epoch:
            self.state.epoch, self.state.step = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(self.non_finite_message(float(loss)))
        self.state.step += 1
        if self.save_every_steps and self.state.step % self.save_every_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        # Last in the callback list, so the checkpoint and early stopping
        # have already taken this epoch's score.
        self.state.epoch, self.state.step = epoch + 1, 0
        if self.checkpoint is not None:
            self.state.best = finite_or_none(self.checkpoint.best)
        if self.early_stopping is not None:
            self.state.wait = self.early_stopping.wait
        self.save()

    def non_finite_message(self, loss):
        kept = ""
        if self.checkpoint is not None and os.path.exists(self.checkpoint.filepath):
            kept = f"The best checkpoint so far, {self.checkpoint.filepath}, is intact."
        elif self.checkpoint is not None:
            kept = "No best checkpoint had been written yet."
        parts = (
            f"The training loss became {loss} at epoch {self.state.epoch + 1}, step "
            f"{self.state.step + 1}; training stopped.",
            kept,
            self.nan_advice,
            f"Delete {self.restore_dir} first to start over rather than resume from "
            "the last backup.",
        )
        return " ".join(part for part in parts if part)

    def save(self):
        """Writes the weights, then commits them with the metadata."""
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch{self.state.epoch}-step{self.state.step}.weights.h5"
        weights_path = os.path.join(self.backup_dir, name)
        raw = self.averaged_weights.raw_weights() if self.averaged_weights else contextlib.nullcontext()
        with raw:
            self.model.save_weights(weights_path, overwrite=True)
        metadata = dict(dataclasses.asdict(self.state), weights=name, sha256=file_sha256(weights_path))
        atomic_write_text(os.path.join(self.backup_dir, METADATA_FILE), json.dumps(metadata) + "\n")
        for stale in glob.glob(os.path.join(self.backup_dir, WEIGHTS_PATTERN)):
            if os.path.basename(stale) != name:
                os.remove(stale)

    def remove(self):
        """Deletes the backup folder once training has finished."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)


def finite_or_none(value):
    value = None if value is None else float(value)
    return value if value is not None and math.isfinite(value) else None
