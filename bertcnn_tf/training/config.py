"""`TrainingConfig`: every setting of a training run, and the defaults that depend on the data.

Imports no TensorFlow, so the command line and the benchmark reports read
the defaults from here without starting it.
"""

import dataclasses

from bertcnn_tf.choices import DEFAULT_SEQUENCE_LENGTH
from bertcnn_tf.choices import HEAD_LEARNING_RATE_MULTIPLIER


# The label smoothing a run gets unless it sets one. Measured (benchmarks/RESULTS.md): 0.1 lifted
# the CNN head on the single-label sets (significantly over 40 cross-validation folds) and cost it
# macro-F1 on multi-label goemotions, where each sigmoid target is smoothed on its own.
SINGLE_LABEL_SMOOTHING = 0.1


def default_label_smoothing(multi_label):
    """0.1 for single-label data, 0 (none) for multi-label.

    Example:
    ```python
    default_label_smoothing(multi_label=False)  # 0.1
    ```
    """
    return 0.0 if multi_label else SINGLE_LABEL_SMOOTHING


@dataclasses.dataclass
class TrainingConfig:
    """Every setting of a training run; saved to `settings.json` with the model.

    Example:
    ```python
    config = bertcnn_tf.TrainingConfig(head="cnn", epochs=3, learning_rate=5e-5, sequence_length=128)
    run, report = bertcnn_tf.train(bertcnn_tf.read_examples("train.csv"), "runs/first", config)
    ```
    """

    backbone: str = "offline"
    head: str = "cnn"
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    max_document_length: int = None  # tokens: cut longer texts into windows of sequence_length, not truncate
    window_stride: int = None  # tokens between window starts; default: windows share 8 tokens
    epochs: int = 3
    batch_size: int = 32  # per replica: the global batch is this × the replicas
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    dropout: float = None
    # The "cnn" head's shape; None: BertCNNClassifier's default (3/4/5, 128, "max").
    kernel_sizes: tuple = None
    filters: int = None
    pooling: str = None  # "max", "mean" or "max_mean"
    with_cls_token: bool = None  # also the [CLS] vector beside the head's features
    head_warmup_epochs: int = 0
    head_learning_rate: float = 1e-3  # the head-only warm-up's rate
    # Fine-tuning: the head's rate over learning_rate.
    head_learning_rate_multiplier: float = HEAD_LEARNING_RATE_MULTIPLIER
    # Fine-tuning: the classifier Dense's rate over learning_rate; None: the head's.
    output_learning_rate_multiplier: float = None
    # Fine-tuning: each backbone layer's rate over the one above's; 1: all alike.
    layer_decay: float = 1.0
    # Fine-tuning: validate and keep the moving average of the weights with
    # this momentum per step (AveragedWeights); None: the weights themselves.
    ema_momentum: float = None
    # The share of each target spread evenly over the classes; 0: none;
    # None: `default_label_smoothing` (0.1 single-label, 0 multi-label).
    label_smoothing: float = None
    class_weight: str = None  # None or "balanced"
    precision: str = "float32"
    xla: bool = False
    seed: int = 42
    multi_label: bool = False
    threshold: float = 0.5
    # Fit temperature scaling on the validation split after training (`bertcnn_tf.training.calibration`).
    calibrate: bool = True
    # The fitted temperature (multi-label: one per label); 1: the logits as they are.
    temperature: object = 1.0
    # Single-label: tune a confidence below which the model answers `unknown_label`
    # (`bertcnn_tf.training.abstention`); rows with that label are then not a class.
    abstain: bool = False
    unknown_label: str = "unknown"
    # Without unknown rows in the validation split: the share of it the model should answer.
    target_coverage: float = 0.95
    # The tuned (or given) confidence below which the model abstains; None: it never does.
    abstain_below: float = None
    tune_threshold: bool = False  # multi-label: set `threshold` to the best on validation macro-F1
    validation_split: float = 0.1
    early_stopping_patience: int = 2
    backup_every_steps: int = 0  # also back up every N steps; 0: at epoch ends only
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str = None
    label_separator: str = None
    strategy: str = "auto"  # one of bertcnn_tf.training.distribution.STRATEGIES
    tpu: str = None  # a TPU name or grpc:// address; default $TPU_NAME
    static_shapes: bool = False  # every batch [batch_size, sequence_length]; always on TPUs
    verbose: object = "auto"


def with_resolved_defaults(config):
    """`config` with the settings whose default depends on the data filled in, as the run
    records them: `label_smoothing` None becomes 0.1 single-label, 0 multi-label."""
    if config.label_smoothing is None:
        return dataclasses.replace(config, label_smoothing=default_label_smoothing(config.multi_label))
    return config
