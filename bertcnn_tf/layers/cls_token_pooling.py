import keras


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class ClsTokenPooling(keras.layers.Layer):
    """Picks the vector of the first token ([CLS]) of each sequence.

    The raw hidden state, not BERT's `pooled_output` (which adds a tanh dense
    layer on top). Accepts and ignores `padding_mask` so that every pooling
    layer of this package can be called the same way.

    Args:
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import ClsTokenPooling

    x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    ClsTokenPooling()(x)  # [[0.0, 1.0]]
    ```
    """

    def call(self, inputs, padding_mask=None):
        return inputs[:, 0, :]

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])
