"""The training loss and the `macro_f1` metric that picks the best checkpoint."""

import keras

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


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class SigmoidF1Score(keras.metrics.F1Score):
    """`F1Score` for multi-label logits: sigmoid first, then the threshold."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, keras.ops.sigmoid(y_pred), sample_weight)


def loss_and_metrics(multi_label, threshold=0.5, label_smoothing=0.0):
    """The loss and the `macro_f1` metric that picks the best checkpoint.

    `label_smoothing` moves that share of each target's weight evenly over
    the classes (Keras's own option), so the loss stops rewarding ever more
    confident logits.
    """
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=label_smoothing)
        f1 = SigmoidF1Score(average="macro", threshold=float(threshold), name="macro_f1")
        return loss, [f1]
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    f1 = keras.metrics.F1Score(average="macro", name="macro_f1")
    return loss, [keras.metrics.CategoricalAccuracy(name="accuracy"), f1]
