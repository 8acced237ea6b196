import keras
from keras import ops

from bertcnn_tf.layers.cls_token_pooling import ClsTokenPooling
from bertcnn_tf.layers.masking import masked_max
from bertcnn_tf.layers.masking import masked_mean
from bertcnn_tf.layers.text_cnn import TextCNN


def owned_positions(padding_mask, window_stride):
    """bool `[batch, windows, length]`: the positions that count for their document.

    Consecutive windows share `length - 2 - window_stride` tokens; each shared
    token counts once, in the earlier window, except in a document's last
    window, which keeps all of its tokens. Every window's [CLS] and [SEP]
    count.
    """
    real = ops.cast(padding_mask, "bool")
    lengths = ops.sum(ops.cast(real, "int32"), axis=-1, keepdims=True)  # [batch, windows, 1]
    windows = ops.sum(ops.cast(lengths[..., 0] > 0, "int32"), axis=-1)  # real windows per document
    position = ops.arange(ops.shape(real)[-1], dtype="int32")[None, None, :]
    window = ops.arange(ops.shape(real)[1], dtype="int32")[None, :, None]
    last_window = window == (windows[:, None, None] - 1)
    kept = (position <= window_stride) | (position == lengths - 1) | last_window
    return real & kept


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class WindowedPooling(keras.layers.Layer):
    """Runs a head over each window of a document and pools over all of them.

    A long document comes as windows (`bertcnn_tf.preprocessing.make_window_packer`):
    the backbone reads each window as a row (`[batch * windows, length,
    hidden]`), and this layer gives one feature vector per document:

    - `TextCNN`: each window's convolutions, then the masked max (or mean)
      over every counted position of every window;
    - `MaskedGlobalMaxPooling1D` / `MaskedGlobalAveragePooling1D`: the max or
      mean over every counted token of every window;
    - `ClsTokenPooling`: the mean of the windows' [CLS] vectors.

    Tokens that two windows share count once (`owned_positions`), and empty
    windows (padding) not at all, so a document's features do not depend on
    how many windows its batch holds. A document of one window gives
    exactly what the head gives on that window alone.

    Args:
        head: The head layer (one of the four above).
        window_stride: int. Tokens between the starts of consecutive windows.
        **kwargs: Standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.layers import TextCNN, WindowedPooling

    rows = np.random.rand(2 * 3, 8, 16).astype("float32")  # 2 documents, 3 windows each
    mask = np.ones((2, 3, 8), dtype="int32")
    pooled = WindowedPooling(TextCNN(filters=4), window_stride=4)(rows, padding_mask=mask)
    pooled.shape  # (2, 12)
    ```
    """

    def __init__(self, head, window_stride, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(head, (TextCNN, ClsTokenPooling)) and not hasattr(head, "call"):
            raise ValueError(f"`head` must be a pooling layer. Received: head={head!r}")
        self.head = head
        self.window_stride = int(window_stride)

    def build(self, inputs_shape, padding_mask_shape=None):
        if not self.head.built:
            self.head.build(inputs_shape)
        self.built = True

    def call(self, inputs, padding_mask=None):
        shape = ops.shape(padding_mask)
        documents, windows = shape[0], shape[1]
        row_mask = ops.reshape(padding_mask, (-1, shape[2]))
        if isinstance(self.head, ClsTokenPooling):
            vectors = ops.reshape(inputs[:, 0, :], (documents, windows, -1))
            has_tokens = ops.any(ops.cast(padding_mask, "bool"), axis=-1)
            return masked_mean(vectors, has_tokens)
        counted = ops.reshape(owned_positions(padding_mask, self.window_stride), (documents, -1))
        if isinstance(self.head, TextCNN):
            pooled = []
            for feature_map in self.head.feature_maps(inputs, row_mask):
                stitched = ops.reshape(feature_map, (documents, -1, ops.shape(feature_map)[-1]))
                if self.head.pooling in ("max", "max_mean"):
                    pooled.append(masked_max(stitched, counted))
                if self.head.pooling in ("mean", "max_mean"):
                    pooled.append(masked_mean(stitched, counted))
            return ops.concatenate(pooled, axis=-1)
        stitched = ops.reshape(inputs, (documents, -1, ops.shape(inputs)[-1]))
        return self.head(stitched, padding_mask=counted)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        width = self.head.compute_output_shape(inputs_shape)[-1]
        return (padding_mask_shape[0] if padding_mask_shape else None, width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "head": keras.saving.serialize_keras_object(self.head),
                "window_stride": self.window_stride,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["head"] = keras.saving.deserialize_keras_object(config["head"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class WindowsToRows(keras.layers.Layer):
    """`[batch, windows, length]` → `[batch * windows, length]`: each window a row for the backbone.

    Example:
    ```python
    import numpy as np
    WindowsToRows()(np.zeros((2, 3, 8), "int32")).shape  # (6, 8)
    ```
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1, ops.shape(inputs)[-1]))

    def compute_output_shape(self, inputs_shape):
        rows = None if None in inputs_shape[:2] else inputs_shape[0] * inputs_shape[1]
        return (rows, inputs_shape[-1])
