"""Fine-tuning with `model.fit`: strategy, data, callbacks, and the run folder."""

import csv
import dataclasses
import os
import shutil

import keras
import numpy as np

from bertcnn_tf.choices import TRAINING_PRECISIONS
from bertcnn_tf.data.files import DataError
from bertcnn_tf.data.files import LabelVocabulary
from bertcnn_tf.data.files import concatenate
from bertcnn_tf.data.files import split_unknown
from bertcnn_tf.data.files import stratified_split
from bertcnn_tf import postprocessing
from bertcnn_tf.inference import predict_logits
from bertcnn_tf.data.pipeline import make_dataset
from bertcnn_tf.data.pipeline import training_steps
from bertcnn_tf.models import BertCNNClassifier
from bertcnn_tf.optimizers import GlobalClipAdamW
from bertcnn_tf.optimizers import check_layer_decay
from bertcnn_tf.optimizers import head_learning_rate_multipliers
from bertcnn_tf.optimizers import layer_decay_learning_rate_multipliers
from bertcnn_tf.optimizers import make_optimizer
from bertcnn_tf.preprocessing import detached_preprocessor
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.training.averaging import AveragedWeights
from bertcnn_tf.training.backup import BackupError
from bertcnn_tf.training.backup import TrainingBackup
from bertcnn_tf.training.abstention import tune_abstain_below
from bertcnn_tf.training.calibration import fit_temperature
from bertcnn_tf.training.config import TrainingConfig
from bertcnn_tf.training.config import with_resolved_defaults
from bertcnn_tf.training.distribution import describe
from bertcnn_tf.training.distribution import global_batch_size
from bertcnn_tf.training.distribution import is_chief
from bertcnn_tf.training.distribution import is_tpu
from bertcnn_tf.training.distribution import make_strategy
from bertcnn_tf.training.distribution import needs_host_copy
from bertcnn_tf.training.distribution import writable_dir
from bertcnn_tf.training.evaluation import evaluate
from bertcnn_tf.training.evaluation import plot_training_curves
from bertcnn_tf.training.evaluation import best_threshold
from bertcnn_tf.training.evaluation import write_report
from bertcnn_tf.training.keras_fixes import keras_fit_fixes
from bertcnn_tf.training.metrics import loss_and_metrics
from bertcnn_tf.training.runs import MODEL_FILE
from bertcnn_tf.training.runs import Run
from bertcnn_tf.training.runs import save_labels
from bertcnn_tf.training.runs import save_settings

BEST_WEIGHTS = "best.weights.h5"
HEAD_WARMUP_DONE = "head_warmup.weights.h5"
TRAINING_LOG = "training_log.csv"
BACKUP_DIR = "backup"


def balanced_sample_weights(targets):
    """Weights `n / (classes * count)`, sklearn's "balanced" class weights."""
    counts = targets.sum(axis=0)
    weights = len(targets) / (len(counts) * np.maximum(counts, 1))
    return (targets.argmax(-1)[:, None] == np.arange(len(counts))).astype("float32") @ weights


def build_classifier(config, num_classes):
    """The default model: a `BertCNNClassifier` as `config` describes it."""
    return BertCNNClassifier.from_preset(
        config.backbone,
        num_classes=num_classes,
        sequence_length=config.sequence_length,
        max_document_length=config.max_document_length,
        window_stride=config.window_stride,
        head=config.head,
        dropout=config.dropout,
        dtype=None if config.precision == "float32" else config.precision,
        **head_shape(config),
    )


def head_shape(config):
    """The head's shape settings that `config` sets, as `BertCNNClassifier` arguments."""
    shape = {
        "kernel_sizes": config.kernel_sizes,
        "filters": config.filters,
        "pooling": config.pooling,
        "with_cls_token": config.with_cls_token,
    }
    return {name: value for name, value in shape.items() if value is not None}


def train(
    train_examples,
    output_dir,
    config=None,
    validation_examples=None,
    test_examples=None,
    model_factory=build_classifier,
):
    """Fine-tunes a `BertCNNClassifier` and writes a complete run folder.

    Training runs under the `tf.distribute` strategy `config.strategy`
    names: the model and optimizer are created in its scope, each step reads
    `config.batch_size` examples per replica, and under a multi-worker
    strategy only the chief writes the run folder (the returned report is
    `None` on the other workers). A run started again with the same
    arguments after being killed resumes from its last backup, to the step.

    Args:
        train_examples: `bertcnn_tf.Examples` to train on.
        output_dir: The run folder: model, labels, settings, checkpoints,
            logs, report and plots go there.
        config: `TrainingConfig`.
        validation_examples: Optional `Examples`; by default a stratified
            `config.validation_split` of the training rows.
        test_examples: Optional `Examples`, evaluated once at the end.
        model_factory: `(config, num_classes) -> keras-hub task` with an
            attached preprocessor; lets a baseline (say keras-hub's
            `BertTextClassifier`) train through exactly the same pipeline.

    Returns:
        `(Run, report)`.

    Raises:
        bertcnn_tf.training.backup.TrainingError: the loss became NaN or infinite
            (`NonFiniteLossError`), or a backup or checkpoint cannot be read
            (`BackupError`); the message says what to do.
        bertcnn_tf.training.distribution.StrategyError: the strategy cannot be set
            up here.

    Example:
    ```python
    import bertcnn_tf

    examples = bertcnn_tf.read_examples("train.csv")
    run, report = bertcnn_tf.train(examples, "runs/first", bertcnn_tf.TrainingConfig(epochs=2))
    report["splits"]["validation"]["macro_f1"]
    ```
    """
    config = with_resolved_defaults(config or TrainingConfig())
    check_config(config)
    # A multi-worker strategy must exist before TensorFlow does other work.
    strategy = make_strategy(config.strategy, config.tpu)
    keras.utils.set_random_seed(config.seed)

    unknown_label = config.unknown_label if config.abstain else None
    train_examples, unknown_rows = split_unknown(train_examples, unknown_label)
    vocabulary = LabelVocabulary.from_examples(train_examples, config.multi_label, unknown_label)
    if validation_examples is None:
        train_examples, validation_examples = stratified_split(
            train_examples, config.validation_split, config.seed
        )
        # Rows outside every class are never trained on; they tune when to abstain.
        validation_examples = concatenate(validation_examples, unknown_rows)
    elif len(unknown_rows):
        print(f"{len(unknown_rows)} training rows labelled {unknown_label!r} are not a class: left out.")
    # Fit picks its checkpoints on the rows of known classes.
    known_validation = known_rows(validation_examples, unknown_label)
    train_targets = vocabulary.encode(train_examples)
    validation_targets = vocabulary.encode(known_validation)
    if test_examples is not None:
        vocabulary.encode(test_examples)  # unknown test labels fail now, not after training
    chief = is_chief(strategy)
    if chief:
        os.makedirs(output_dir, exist_ok=True)
        save_labels(output_dir, vocabulary.labels)
        save_settings(output_dir, dataclasses.asdict(config))
    print(describe(strategy, config.batch_size))

    batch_size = global_batch_size(config.batch_size, strategy)
    with writable_dir(output_dir, strategy) as write_dir:
        with strategy.scope():
            model = model_factory(config, len(vocabulary))
            weights = balanced_sample_weights(train_targets) if config.class_weight else None
            data_options = dict(
                fixed_length=fixed_length(model),
                static_shapes=config.static_shapes or is_tpu(strategy),
                replicas=strategy.num_replicas_in_sync,
            )
            train_data = make_dataset(
                train_examples, model.preprocessor, train_targets, batch_size,
                training=True, seed=config.seed, sample_weights=weights, **data_options,
            )
            validation_data = make_dataset(
                known_validation, model.preprocessor, validation_targets, batch_size,
                **data_options,
            )
            dirs = RunDirs(read=output_dir, write=write_dir)
            steps_per_epoch = training_steps(
                train_examples, model.preprocessor, batch_size, strategy.num_replicas_in_sync,
                data_options["static_shapes"],
            )
            with detached_preprocessor(model), keras_fit_fixes(strategy):
                if config.head_warmup_epochs:
                    warm_up_head(model, train_data, validation_data, config, dirs, steps_per_epoch)
                fit_whole_model(model, train_data, validation_data, config, dirs, steps_per_epoch)
            load_best_weights(model, dirs)
            shutil.rmtree(os.path.join(write_dir, BACKUP_DIR), ignore_errors=True)  # finished
        if needs_host_copy(strategy):
            model = host_copy(model, model_factory, config, len(vocabulary))

    config = calibrate(model, validation_examples, vocabulary, config)
    run = Run(model=model, labels=vocabulary.labels, settings=dataclasses.asdict(config))
    if not chief:
        return run, None
    save_settings(output_dir, run.settings)  # with what calibrate fitted
    model.save(os.path.join(output_dir, MODEL_FILE))
    splits = {"validation": validation_examples}
    if test_examples is not None:
        splits["test"] = test_examples
    report = {
        "settings": dataclasses.asdict(config),
        "labels": vocabulary.labels,
        "splits": {
            name: evaluate(run, examples, config.batch_size)
            for name, examples in splits.items()
        },
    }
    write_report(output_dir, report, vocabulary.labels)
    history = read_training_log(os.path.join(output_dir, TRAINING_LOG))
    plot_training_curves(history, os.path.join(output_dir, "training_curves.png"))
    return run, report


def calibrate(model, validation_examples, vocabulary, config):
    """`config` with what is fitted on the validation split after training, in order: the
    temperature (`config.calibrate`), then on the calibrated probabilities the multi-label
    threshold (`config.tune_threshold`) or the confidence below which to abstain (`config.abstain`).

    The validation rows are run through the model once for all three; the temperature
    and the threshold read its rows of known classes, abstaining all of them.
    """
    if not (config.calibrate or config.tune_threshold or config.abstain):
        return config
    targets = vocabulary.encode(validation_examples)  # all zeros for rows of the unknown label
    known = targets.sum(axis=-1) > 0 if vocabulary.unknown_label else np.ones(len(targets), bool)
    from_logits = not postprocessing.outputs_are_probabilities(model, config.multi_label)
    outputs = predict_logits(model, validation_examples, config.batch_size)
    logits = postprocessing.logits(outputs, config.multi_label, from_logits).numpy()
    if config.calibrate:
        temperature = fit_temperature(logits[known], targets[known], config.multi_label)
        config = dataclasses.replace(config, temperature=temperature)
        print(f"Temperature fitted on the validation split: {temperature}")
    probabilities = postprocessing.probabilities(logits, config.multi_label, temperature=config.temperature).numpy()
    if config.tune_threshold:
        threshold = best_threshold(targets[known], probabilities[known])
        config = dataclasses.replace(config, threshold=threshold)
        print(f"Decision threshold tuned on the validation split: {threshold}")
    if config.abstain:
        abstain_below = tune_abstain_below(probabilities, targets, config.target_coverage)
        config = dataclasses.replace(config, abstain_below=abstain_below)
        print(f"Abstaining below a top probability of {abstain_below:.4f}, tuned on the validation split.")
    return config


def known_rows(examples, unknown_label):
    """The rows of known classes: all of them, unless an `unknown_label` is set.

    Raises `DataError` when every row is unknown: the validation split must
    have known rows to pick checkpoints and fit the temperature on.
    """
    known, _ = split_unknown(examples, unknown_label)
    if not len(known):
        raise DataError(
            f"{examples.source}: every validation row is labelled {unknown_label!r}. The validation "
            "split needs rows of the known classes too, to fit the temperature and pick the best "
            "epoch: add some, or pass another --validation file."
        )
    return known


def check_config(config):
    if config.precision not in TRAINING_PRECISIONS:
        raise ValueError(f"precision must be one of {TRAINING_PRECISIONS}, not {config.precision!r}.")
    if config.class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be None or 'balanced', not {config.class_weight!r}.")
    if config.class_weight and config.multi_label:
        raise ValueError("class_weight='balanced' applies to single-label data only.")
    if config.abstain and config.multi_label:
        raise ValueError(
            "abstain applies to single-label runs: a multi-label run already answers no label "
            "where none reaches its threshold (see --tune-threshold); drop --abstain."
        )
    if not 0 < config.target_coverage <= 1:  # also refuses NaN
        raise ValueError(f"target_coverage must be in (0, 1] (0.95: answer 95% of the rows), not {config.target_coverage}.")
    if config.tune_threshold and not config.multi_label:
        raise ValueError(
            "tune_threshold applies to multi-label runs only (single-label runs take the "
            "most probable label); drop --tune-threshold or add --multi-label."
        )
    for name in ("head_learning_rate_multiplier", "output_learning_rate_multiplier"):
        value = getattr(config, name)
        if value is not None and not value > 0:  # also refuses NaN
            raise ValueError(
                f"{name} must be positive (1 keeps it at the backbone's rate), not {value}."
            )
    check_layer_decay(config.layer_decay)
    if config.ema_momentum is not None and not 0 < config.ema_momentum < 1:
        raise ValueError(
            "ema_momentum must be in (0, 1) (0.99 averages over about the last 100 steps), "
            f"not {config.ema_momentum}."
        )
    if config.label_smoothing is not None and not 0 <= config.label_smoothing < 1:  # also refuses NaN
        raise ValueError(
            f"label_smoothing must be in [0, 1) (0.1 is usual; 0: none), not {config.label_smoothing}."
        )
    if config.batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {config.batch_size}.")
    if config.filters is not None and config.filters < 1:
        raise ValueError(f"filters must be at least 1, not {config.filters}.")


@dataclasses.dataclass
class RunDirs:
    """Where a worker reads the run's state from, and where it writes.

    Both are the run folder, except on multi-worker non-chief workers,
    which read the chief's folder (resuming needs storage all workers see)
    and write to a temporary folder that is deleted.
    """

    read: str
    write: str


def load_best_weights(model, dirs):
    """Loads the best checkpoint; on a resumed non-chief worker, the chief's."""
    path = os.path.join(dirs.write, BEST_WEIGHTS)
    if not os.path.exists(path):
        path = os.path.join(dirs.read, BEST_WEIGHTS)
    try:
        model.load_weights(path)
    except (ValueError, OSError) as error:
        raise BackupError(
            f"The best checkpoint {path} cannot be read ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}); a run was probably killed while writing it. "
            "Run the same command again: it resumes from the last backup, taken before "
            "that write, and writes the checkpoint again."
        ) from None


def host_copy(model, model_factory, config, num_classes):
    """The trained model, rebuilt outside any strategy with the same weights."""
    copy = model_factory(config, num_classes)
    copy.set_weights(model.get_weights())
    return copy


def warm_up_head(model, train_data, validation_data, config, dirs, steps_per_epoch):
    """Trains the head alone for a few epochs (backbone frozen), once per run."""
    done = os.path.join(dirs.read, HEAD_WARMUP_DONE)
    if os.path.exists(done):
        print(f"Head warm-up already done; loading {done}.")
        model.load_weights(done)
        return
    model.backbone.trainable = False
    loss, metrics = loss_and_metrics(config.multi_label, config.threshold, config.label_smoothing)
    model.compile(
        optimizer=GlobalClipAdamW(config.head_learning_rate, global_clipnorm=config.clip_norm),
        loss=loss,
        metrics=metrics,
    )
    backup = TrainingBackup(
        os.path.join(dirs.write, BACKUP_DIR, "head"),
        restore_dir=os.path.join(dirs.read, BACKUP_DIR, "head"),
        nan_advice=nan_advice(config, "--head-learning-rate"),
    )
    fit_resumable(
        model, train_data, validation_data, backup,
        epochs=config.head_warmup_epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[keras.callbacks.CSVLogger(os.path.join(dirs.write, TRAINING_LOG), append=True)],
        verbose=config.verbose,
    )
    model.save_weights(os.path.join(dirs.write, HEAD_WARMUP_DONE))
    model.backbone.trainable = True


def fit_whole_model(model, train_data, validation_data, config, dirs, steps_per_epoch):
    model.backbone.trainable = True
    loss, metrics = loss_and_metrics(config.multi_label, config.threshold, config.label_smoothing)
    model.compile(
        optimizer=make_optimizer(
            config.learning_rate,
            total_steps=steps_per_epoch * config.epochs,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            clip_norm=config.clip_norm,
            precision=config.precision,
            learning_rate_multipliers={
                **head_learning_rate_multipliers(
                    model,
                    config.head_learning_rate_multiplier,
                    output_factor=config.output_learning_rate_multiplier,
                ),
                **layer_decay_learning_rate_multipliers(model.backbone, config.layer_decay),
            },
            ema_momentum=config.ema_momentum,
        ),
        loss=loss,
        metrics=metrics,
        # JAX always compiles; TensorFlow only when asked (`--xla`).
        jit_compile=config.xla or keras.backend.backend() == "jax",
    )
    monitor = {"monitor": "val_macro_f1", "mode": "max"}
    best = os.path.join(dirs.write, BEST_WEIGHTS)
    checkpoint = keras.callbacks.ModelCheckpoint(
        best, save_best_only=True, save_weights_only=True, **monitor
    )
    early_stopping = keras.callbacks.EarlyStopping(
        patience=config.early_stopping_patience, **monitor
    )
    # Before the checkpoint and early stopping, so that they judge the average.
    averaged = [AveragedWeights()] if config.ema_momentum is not None else []
    backup = TrainingBackup(
        os.path.join(dirs.write, BACKUP_DIR, "full"),
        save_every_steps=config.backup_every_steps,
        restore_dir=os.path.join(dirs.read, BACKUP_DIR, "full"),
        checkpoint=checkpoint,
        early_stopping=early_stopping,
        averaged_weights=averaged[0] if averaged else None,
        nan_advice=nan_advice(config, "--learning-rate"),
    )
    fit_resumable(
        model, train_data, validation_data, backup,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[
            *averaged,
            checkpoint,
            early_stopping,
            keras.callbacks.TensorBoard(os.path.join(dirs.write, "logs")),
            keras.callbacks.CSVLogger(os.path.join(dirs.write, TRAINING_LOG), append=True),
        ],
        verbose=config.verbose,
    )


def fit_resumable(
    model, train_data, validation_data, backup, epochs, steps_per_epoch, callbacks=(), verbose="auto"
):
    """`model.fit` for `epochs`, continuing where a killed run stopped.

    `train_data` must repeat endlessly in a fixed order (`make_dataset` with
    `training=True`), so that batch `k` of a run is the same in every
    process: a run killed at epoch `e`, step `s` restarts on batch
    `e * steps_per_epoch + s`, finishes that epoch on the batches it had
    left, then runs the remaining epochs, exactly as if it had not stopped.
    `backup` (`TrainingBackup`) restores the state, goes last among the
    callbacks, and is deleted when training ends.
    """
    state = backup.restore(model)
    epoch, step = state.epoch, state.step
    if epoch or step:
        print(
            f"Resuming from the backup in {backup.restore_dir}: epoch {epoch + 1} of "
            f"{epochs}, step {step} of {steps_per_epoch} (a previous run was interrupted)."
        )
    fit = dict(
        validation_data=validation_data,
        shuffle=False,  # the pipeline shuffles
        callbacks=[*callbacks, backup],
        verbose=verbose,
    )
    if step and epoch < epochs:
        model.fit(
            train_data.skip(epoch * steps_per_epoch + step),
            initial_epoch=epoch, epochs=epoch + 1, steps_per_epoch=steps_per_epoch - step, **fit,
        )
        epoch += 1
    if epoch < epochs and not model.stop_training:
        model.fit(
            train_data.skip(epoch * steps_per_epoch),
            initial_epoch=epoch, epochs=epochs, steps_per_epoch=steps_per_epoch, **fit,
        )
    backup.remove()


def nan_advice(config, rate_flag):
    """The settings to change after a NaN loss."""
    return (
        f"Lower the learning rate ({rate_flag}), keep gradient clipping on, or train "
        f"in float32 (--precision float32; this run: {config.precision}), then train again."
    )


def read_training_log(path):
    """The CSV log as {metric: [value per epoch]} (all phases, resumed runs included)."""
    if not os.path.exists(path):
        return {}
    history = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "epoch" and value not in ("", None):
                    history.setdefault(key, []).append(float(value))
    return history
