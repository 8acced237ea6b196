import keras

from bertcnn_tf.layers.masking import masked_max


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Global max over time that never selects a padded position.

    Takes `[batch, time, channels]` and an explicit `padding_mask`
    (`[batch, time]`, true for real tokens) and returns `[batch, channels]`.
    Padded positions are filled with the dtype's lowest finite value before
    the max, so the result stays finite under `mixed_float16`; a row that is
    all padding gives zeros.

    Args:
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import MaskedGlobalMaxPooling1D

    x = np.array([[[1.0], [5.0], [99.0]]])  # the 99 is padding
    mask = np.array([[True, True, False]])
    MaskedGlobalMaxPooling1D()(x, padding_mask=mask)  # [[5.0]]
    ```
    """

    def call(self, inputs, padding_mask=None):
        return masked_max(inputs, padding_mask)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])
