import keras

from bertcnn_tf.layers.masking import masked_mean


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class MaskedGlobalAveragePooling1D(keras.layers.Layer):
    """Global mean over time of the real (unpadded) positions only.

    Takes `[batch, time, channels]` and an explicit `padding_mask`
    (`[batch, time]`, true for real tokens) and returns `[batch, channels]`.
    Sums in float32 whatever the compute dtype; a row that is all padding
    gives zeros.

    Args:
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import MaskedGlobalAveragePooling1D

    x = np.array([[[1.0], [3.0], [99.0]]])  # the 99 is padding
    mask = np.array([[True, True, False]])
    MaskedGlobalAveragePooling1D()(x, padding_mask=mask)  # [[2.0]]
    ```
    """

    def call(self, inputs, padding_mask=None):
        return masked_mean(inputs, padding_mask)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])
