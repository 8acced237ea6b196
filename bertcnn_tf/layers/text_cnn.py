import keras
from keras import ops

from bertcnn_tf.layers.masking import masked_max
from bertcnn_tf.layers.masking import masked_mean
from bertcnn_tf.choices import POOLING_MODES
from bertcnn_tf.layers.masking import zero_padded_positions


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class TextCNN(keras.layers.Layer):
    """Parallel 1D convolutions over token vectors, pooled over time (Kim, 2014).

    One `Conv1D` branch per kernel size reads the sequence; each branch is
    pooled over time and the results are concatenated. Padding is handled in
    two places, and both are needed: the vectors at padded positions are set
    to zero *before* the convolutions (else a window that overlaps the padding
    reads BERT's non-zero padding vectors), and padded positions are masked
    *before* the pooling (else the max can pick a window that lies in the
    padding). With both, the output for a text does not depend on how much
    padding follows it, so batches can be padded to their own longest text.

    Args:
        kernel_sizes: tuple of ints. The window width of each branch, in
            tokens. Defaults to `(3, 4, 5)`.
        filters: int. Feature maps per branch. Defaults to `128`.
        activation: The activation after each convolution. Defaults to
            `"relu"`.
        pooling: `"max"`, `"mean"`, or `"max_mean"` (both, concatenated).
            Defaults to `"max"`.
        kernel_initializer: Initializer of the convolution kernels.
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Inputs:
        `[batch, time, hidden]` token vectors, and `padding_mask`
        (`[batch, time]`, true for real tokens) as a keyword argument.

    Output:
        `[batch, filters * len(kernel_sizes)]`, twice that for `"max_mean"`.

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import TextCNN

    tokens = np.random.rand(2, 10, 16).astype("float32")
    mask = np.array([[True] * 10, [True] * 4 + [False] * 6])
    features = TextCNN(kernel_sizes=(2, 3), filters=8)(tokens, padding_mask=mask)
    features.shape  # (2, 16)
    ```
    """

    def __init__(
        self,
        kernel_sizes=(3, 4, 5),
        filters=128,
        activation="relu",
        pooling="max",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pooling not in POOLING_MODES:
            raise ValueError(
                f"`pooling` must be one of {POOLING_MODES}. "
                f"Received: pooling={pooling!r}"
            )
        if not kernel_sizes or any(int(k) < 1 for k in kernel_sizes):
            raise ValueError(
                "`kernel_sizes` must be a non-empty list of positive ints. "
                f"Received: kernel_sizes={kernel_sizes!r}"
            )

        # === Layers ===
        self.convolutions = [
            keras.layers.Conv1D(
                filters,
                int(size),
                padding="same",
                activation=activation,
                kernel_initializer=kernel_initializer,
                dtype=self.dtype_policy,
                name=f"conv_{size}",
            )
            for size in kernel_sizes
        ]

        # === Config ===
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.filters = filters
        self.activation = keras.activations.get(activation)
        self.pooling = pooling
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, inputs_shape, padding_mask_shape=None):
        for convolution in self.convolutions:
            convolution.build(inputs_shape)
        self.built = True

    def feature_maps(self, inputs, padding_mask=None):
        """Each branch's convolution outputs, `[batch, time, filters]`, before pooling.

        Output position t of kernel size k read the tokens from
        `t - (k - 1) // 2` to `t + k // 2` (`"same"` padding), which is how
        `bertcnn_tf.attribution` finds the window behind each feature.
        """
        inputs = zero_padded_positions(inputs, padding_mask)
        return [convolution(inputs) for convolution in self.convolutions]

    def call(self, inputs, padding_mask=None):
        pooled = []
        for feature_map in self.feature_maps(inputs, padding_mask):
            if self.pooling in ("max", "max_mean"):
                pooled.append(masked_max(feature_map, padding_mask))
            if self.pooling in ("mean", "max_mean"):
                pooled.append(masked_mean(feature_map, padding_mask))
        return ops.concatenate(pooled, axis=-1)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        per_branch = 2 if self.pooling == "max_mean" else 1
        width = self.filters * len(self.kernel_sizes) * per_branch
        return (inputs_shape[0], width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_sizes": list(self.kernel_sizes),
                "filters": self.filters,
                "activation": keras.activations.serialize(self.activation),
                "pooling": self.pooling,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
