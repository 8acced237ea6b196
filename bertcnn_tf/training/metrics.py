"""The training loss and the `macro_f1` metric that picks the best checkpoint."""

import keras

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
