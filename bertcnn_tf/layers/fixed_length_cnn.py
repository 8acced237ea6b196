import keras

from bertcnn_tf.layers.masking import zero_padded_positions


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class FixedLengthCNN(keras.layers.Layer):
    """The seed article's head: one convolution, max-pool, then flatten.

    `Conv1D(filters, kernel_size, padding="same")` → `MaxPooling1D(2, 2)` →
    `Flatten`. Padded positions are zeroed before the convolution, as the
    article masks them, but flattening keeps every position, so the output
    width depends on the sequence length and the layer only works with inputs
    padded to one fixed length. Kept to reproduce the article and compare
    against it; `TextCNN` is the length-independent version.

    Args:
        filters: int. Feature maps of the convolution. Defaults to `100`.
        kernel_size: int. Window width in tokens. Defaults to `3`.
        activation: Activation of the convolution. Defaults to `"relu"`.
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import FixedLengthCNN

    tokens = np.random.rand(2, 8, 16).astype("float32")
    FixedLengthCNN(filters=4)(tokens).shape  # (2, 16): 4 filters x 8 / 2
    ```
    """

    def __init__(self, filters=100, kernel_size=3, activation="relu", **kwargs):
        super().__init__(**kwargs)

        # === Layers ===
        self.convolution = keras.layers.Conv1D(
            filters,
            kernel_size,
            padding="same",
            activation=activation,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.pooling = keras.layers.MaxPooling1D(
            pool_size=2, strides=2, dtype=self.dtype_policy, name="max_pool"
        )
        self.flatten = keras.layers.Flatten(
            dtype=self.dtype_policy, name="flatten"
        )

        # === Config ===
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = keras.activations.get(activation)

    def build(self, inputs_shape, padding_mask_shape=None):
        if inputs_shape[1] is None:
            raise ValueError(
                "FixedLengthCNN flattens the feature map, so it needs inputs "
                "padded to one fixed sequence length, but the time axis of its "
                f"input is unknown (input shape {tuple(inputs_shape)}). Build "
                "the model from inputs with a fixed length, or use TextCNN, "
                "which works with any length."
            )
        self.convolution.build(inputs_shape)
        self.sequence_length = inputs_shape[1]
        self.built = True

    def call(self, inputs, padding_mask=None):
        length = inputs.shape[1]
        if length is not None and length != self.sequence_length:
            raise ValueError(
                f"This head was built for sequences of {self.sequence_length} "
                f"tokens and received {length}: its flattened feature map has "
                "one fixed width. Pad every input to "
                f"{self.sequence_length} tokens (keep the preprocessor's "
                "`sequence_length`), or use TextCNN, which works with any length."
            )
        return self.flatten(self.pooling(self.feature_map(inputs, padding_mask)))

    def feature_map(self, inputs, padding_mask=None):
        """The convolution's outputs, `[batch, time, filters]`, before pooling and flattening."""
        return self.convolution(zero_padded_positions(inputs, padding_mask))

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], (inputs_shape[1] // 2) * self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
