"""Fine-tuning with `model.fit`: optimizer, schedule, callbacks, and the run folder."""

import csv
import dataclasses
import os

import keras
import numpy as np

from bertcnn_tf.data import LabelVocabulary
from bertcnn_tf.data import detached_preprocessor
from bertcnn_tf.data import fixed_length
from bertcnn_tf.data import make_dataset
from bertcnn_tf.data import steps_per_epoch as count_steps
from bertcnn_tf.data import stratified_split
from bertcnn_tf.evaluation import classification_metrics
from bertcnn_tf.evaluation import plot_training_curves
from bertcnn_tf.evaluation import write_report
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.models import BertCNNClassifier
from bertcnn_tf.runs import MODEL_FILE
from bertcnn_tf.runs import Run
from bertcnn_tf.runs import save_labels
from bertcnn_tf.runs import save_settings

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
BEST_WEIGHTS = "best.weights.h5"
HEAD_WARMUP_DONE = "head_warmup.weights.h5"
TRAINING_LOG = "training_log.csv"


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 over `warmup_steps`, then falls linearly to 0.

    BERT's fine-tuning schedule: the warm-up keeps the first updates of a
    randomly initialised head from wrecking the pretrained weights.

    Example:
    ```python
    schedule = LinearWarmupDecay(5e-5, total_steps=1000, warmup_steps=100)
    float(schedule(50))  # 2.5e-05
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, int(warmup_steps))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = keras.ops.maximum(float(self.warmup_steps), 1.0)
        rising = step / warmup
        decay_span = keras.ops.maximum(float(self.total_steps - self.warmup_steps), 1.0)
        falling = (float(self.total_steps) - step) / decay_span
        fraction = keras.ops.where(step < self.warmup_steps, rising, falling)
        return self.peak_learning_rate * keras.ops.clip(fraction, 0.0, 1.0)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def make_optimizer(
    learning_rate,
    total_steps,
    warmup_ratio=0.1,
    weight_decay=0.01,
    clip_norm=1.0,
    precision="float32",
):
    """AdamW with linear warm-up and decay, no decay on biases and LayerNorm.

    Gradients are clipped to a global norm of `clip_norm`; under
    `mixed_float16` the optimizer is wrapped in a `LossScaleOptimizer`.
    """
    schedule = LinearWarmupDecay(
        learning_rate, total_steps, warmup_steps=round(total_steps * warmup_ratio)
    )
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=weight_decay, global_clipnorm=clip_norm
    )
    # Keras' LayerNormalization names its scale and offset gamma and beta.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class SigmoidF1Score(keras.metrics.F1Score):
    """`F1Score` for multi-label logits: sigmoid first, then the threshold."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, keras.ops.sigmoid(y_pred), sample_weight)


def loss_and_metrics(multi_label, threshold=0.5):
    """The loss and the `macro_f1` metric that picks the best checkpoint."""
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        f1 = SigmoidF1Score(average="macro", threshold=float(threshold), name="macro_f1")
        return loss, [f1]
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    f1 = keras.metrics.F1Score(average="macro", name="macro_f1")
    return loss, [keras.metrics.CategoricalAccuracy(name="accuracy"), f1]


def balanced_sample_weights(targets):
    """Weights `n / (classes * count)`, sklearn's "balanced" class weights."""
    counts = targets.sum(axis=0)
    weights = len(targets) / (len(counts) * np.maximum(counts, 1))
    return (targets.argmax(-1)[:, None] == np.arange(len(counts))).astype("float32") @ weights


@dataclasses.dataclass
class TrainingConfig:
    """Every setting of a training run; saved to `settings.json` with the model."""

    backbone: str = "offline"
    head: str = "cnn"
    sequence_length: int = 128
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    dropout: float = None
    head_warmup_epochs: int = 0
    head_learning_rate: float = 1e-3
    class_weight: str = None  # None or "balanced"
    precision: str = "float32"
    xla: bool = False
    seed: int = 42
    multi_label: bool = False
    threshold: float = 0.5
    validation_split: float = 0.1
    early_stopping_patience: int = 2
    backup_every_steps: int = 0  # 0: back up at the end of each epoch
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str = None
    label_separator: str = None
    verbose: object = "auto"


def build_classifier(config, num_classes):
    """The default model: a `BertCNNClassifier` as `config` describes it."""
    return BertCNNClassifier.from_preset(
        config.backbone,
        num_classes=num_classes,
        sequence_length=config.sequence_length,
        head=config.head,
        dropout=config.dropout,
        dtype=None if config.precision == "float32" else config.precision,
    )


def train(
    train_examples,
    output_dir,
    config=None,
    validation_examples=None,
    test_examples=None,
    model_factory=build_classifier,
):
    """Fine-tunes a `BertCNNClassifier` and writes a complete run folder.

    Args:
        train_examples: `bertcnn_tf.data.Examples` to train on.
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

    Example:
    ```python
    from bertcnn_tf.data import read_examples
    from bertcnn_tf.training import TrainingConfig, train

    run, report = train(read_examples("train.csv"), "runs/first", TrainingConfig(epochs=2))
    report["splits"]["validation"]["macro_f1"]
    ```
    """
    config = config or TrainingConfig()
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {config.precision!r}.")
    if config.class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be None or 'balanced', not {config.class_weight!r}.")
    if config.class_weight and config.multi_label:
        raise ValueError("class_weight='balanced' applies to single-label data only.")
    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)

    vocabulary = LabelVocabulary.from_examples(train_examples, config.multi_label)
    if validation_examples is None:
        train_examples, validation_examples = stratified_split(
            train_examples, config.validation_split, config.seed
        )
    train_targets = vocabulary.encode(train_examples)
    validation_targets = vocabulary.encode(validation_examples)
    test_targets = None if test_examples is None else vocabulary.encode(test_examples)
    save_labels(output_dir, vocabulary.labels)
    save_settings(output_dir, dataclasses.asdict(config))

    model = model_factory(config, len(vocabulary))
    length = fixed_length(model)
    weights = balanced_sample_weights(train_targets) if config.class_weight else None
    train_data = make_dataset(
        train_examples, model.preprocessor, train_targets, config.batch_size,
        training=True, seed=config.seed, fixed_length=length, sample_weights=weights,
    )
    validation_data = make_dataset(
        validation_examples, model.preprocessor, validation_targets, config.batch_size,
        fixed_length=length,
    )
    steps_per_epoch = count_steps(len(train_examples), config.batch_size)
    with detached_preprocessor(model):
        if config.head_warmup_epochs:
            warm_up_head(model, train_data, validation_data, config, output_dir, steps_per_epoch)
        fit_whole_model(model, train_data, validation_data, config, output_dir, steps_per_epoch)

    model.load_weights(os.path.join(output_dir, BEST_WEIGHTS))
    model.save(os.path.join(output_dir, MODEL_FILE))
    run = Run(model=model, labels=vocabulary.labels, settings=dataclasses.asdict(config))
    splits = {"validation": (validation_examples, validation_targets)}
    if test_examples is not None:
        splits["test"] = (test_examples, test_targets)
    report = {
        "settings": dataclasses.asdict(config),
        "labels": vocabulary.labels,
        "splits": {
            name: evaluate_examples(run, examples, targets, config.batch_size)
            for name, (examples, targets) in splits.items()
        },
    }
    write_report(output_dir, report, vocabulary.labels)
    history = read_training_log(os.path.join(output_dir, TRAINING_LOG))
    plot_training_curves(history, os.path.join(output_dir, "training_curves.png"))
    return run, report


def evaluate_examples(run, examples, targets, batch_size=32):
    probabilities = predict_probabilities(
        run.model, examples, multi_label=run.multi_label, batch_size=batch_size
    )
    return classification_metrics(
        targets, probabilities, run.labels, multi_label=run.multi_label, threshold=run.threshold
    )


def warm_up_head(model, train_data, validation_data, config, output_dir, steps_per_epoch):
    """Trains the head alone for a few epochs (backbone frozen), once per run."""
    done = os.path.join(output_dir, HEAD_WARMUP_DONE)
    if os.path.exists(done):
        print(f"Head warm-up already done; loading {done}.")
        model.load_weights(done)
        return
    model.backbone.trainable = False
    loss, metrics = loss_and_metrics(config.multi_label, config.threshold)
    model.compile(
        optimizer=keras.optimizers.AdamW(config.head_learning_rate, global_clipnorm=config.clip_norm),
        loss=loss,
        metrics=metrics,
    )
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.head_warmup_epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the pipeline shuffles
        callbacks=[
            keras.callbacks.BackupAndRestore(os.path.join(output_dir, "backup", "head")),
            keras.callbacks.CSVLogger(os.path.join(output_dir, TRAINING_LOG), append=True),
        ],
        verbose=config.verbose,
    )
    model.save_weights(done)
    model.backbone.trainable = True


def fit_whole_model(model, train_data, validation_data, config, output_dir, steps_per_epoch):
    model.backbone.trainable = True
    loss, metrics = loss_and_metrics(config.multi_label, config.threshold)
    model.compile(
        optimizer=make_optimizer(
            config.learning_rate,
            total_steps=steps_per_epoch * config.epochs,
            warmup_ratio=config.warmup_ratio,
            weight_decay=config.weight_decay,
            clip_norm=config.clip_norm,
            precision=config.precision,
        ),
        loss=loss,
        metrics=metrics,
        jit_compile=config.xla,
    )
    backup_dir = os.path.join(output_dir, "backup", "full")
    if os.path.isdir(backup_dir) and os.listdir(backup_dir):
        print(f"Resuming from the backup in {backup_dir} (a previous run was interrupted).")
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the pipeline shuffles
        callbacks=training_callbacks(config, output_dir, backup_dir),
        verbose=config.verbose,
    )


def training_callbacks(config, output_dir, backup_dir):
    monitor = {"monitor": "val_macro_f1", "mode": "max"}
    return [
        keras.callbacks.BackupAndRestore(
            backup_dir, save_freq=config.backup_every_steps or "epoch"
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(output_dir, BEST_WEIGHTS),
            save_best_only=True,
            save_weights_only=True,
            **monitor,
        ),
        keras.callbacks.EarlyStopping(patience=config.early_stopping_patience, **monitor),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(output_dir, TRAINING_LOG), append=True),
    ]


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

