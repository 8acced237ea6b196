import keras
from keras import ops

from bertcnn_tf.layers.cls_token_pooling import ClsTokenPooling
from bertcnn_tf.layers.masked_global_average_pooling import MaskedGlobalAveragePooling1D
from bertcnn_tf.layers.masked_global_max_pooling import MaskedGlobalMaxPooling1D
from bertcnn_tf.layers.masking import masked_count
from bertcnn_tf.layers.masking import masked_max
from bertcnn_tf.layers.masking import masked_sum
from bertcnn_tf.layers.text_cnn import TextCNN


def counted_positions(padding_mask, last_window, window_stride):
    """bool `[..., length]`: the positions of each window that count for its document.

    Consecutive windows share `length - 2 - window_stride` tokens; each shared
    token counts once, in the later window: a window keeps its [CLS], its
    first `window_stride` tokens and its [SEP], and a document's last window
    (`last_window`, bool `[...]`) keeps all of its tokens.
    """
    real = ops.cast(padding_mask, "bool")
    lengths = ops.sum(ops.cast(real, "int32"), axis=-1, keepdims=True)
    position = ops.arange(ops.shape(real)[-1], dtype="int32")
    kept = (position <= window_stride) | (position == lengths - 1) | ops.expand_dims(ops.cast(last_window, "bool"), -1)
    return real & kept


def owned_positions(padding_mask, window_stride):
    """bool `[batch, windows, length]`: `counted_positions` of documents in windows."""
    lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=-1)  # [batch, windows]
    windows = ops.sum(ops.cast(lengths > 0, "int32"), axis=-1, keepdims=True)  # real windows per document
    window = ops.arange(ops.shape(lengths)[1], dtype="int32")[None, :]
    return counted_positions(padding_mask, window == windows - 1, window_stride)


POOLED_HEADS = (TextCNN, MaskedGlobalMaxPooling1D, MaskedGlobalAveragePooling1D, ClsTokenPooling)


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

    The pooling runs in two steps, which `bertcnn_tf.inference` also calls
    apart to batch windows of different documents together:
    `window_statistics` gives each window's maxima, sums and count, and
    `features_from_statistics` turns their per-document max (of maxima) and
    sums into the features.

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
        if not isinstance(head, POOLED_HEADS):
            raise ValueError(
                "`head` must be a TextCNN, MaskedGlobalMaxPooling1D, MaskedGlobalAveragePooling1D or "
                f"ClsTokenPooling, which can pool over a document's windows. Received: head={head!r}. "
                'A FixedLengthCNN (head="seed") reads one fixed-length window: use head="cnn".'
            )
        self.head = head
        self.window_stride = int(window_stride)

    def build(self, inputs_shape, padding_mask_shape=None):
        if not self.head.built:
            self.head.build(inputs_shape)
        self.built = True

    @property
    def reductions(self):
        """How each piece of `window_statistics` combines over windows: `"max"` or `"sum"`."""
        if isinstance(self.head, TextCNN):
            per_branch = {"max": ["max"], "mean": ["sum"], "max_mean": ["max", "sum"]}[self.head.pooling]
            return per_branch * len(self.head.kernel_sizes)
        return ["max"] if isinstance(self.head, MaskedGlobalMaxPooling1D) else ["sum"]

    def window_statistics(self, inputs, padding_mask, counted):
        """Each window's part of its document's features.

        Args:
            inputs: The backbone's output for windows as rows, `[rows, length, hidden]`.
            padding_mask: `[rows, length]`: the windows' real tokens.
            counted: bool `[rows, length]`: the positions that count
                (`counted_positions`).

        Returns:
            `(pieces, count)`: float32 `[rows, width]` pieces, combined over a
            document's windows as `reductions` says, and float32 `[rows, 1]`,
            what the sums are divided by once added up.
        """
        if isinstance(self.head, ClsTokenPooling):
            has_tokens = ops.cast(ops.any(ops.cast(padding_mask, "bool"), axis=-1, keepdims=True), "float32")
            return [ops.cast(inputs[:, 0, :], "float32") * has_tokens], has_tokens
        if isinstance(self.head, TextCNN):
            maps = self.head.feature_maps(inputs, padding_mask)
            maps = [feature_map for feature_map in maps for _ in range(len(self.reductions) // len(maps))]
        else:
            maps = [inputs]
        pieces = [
            ops.cast(masked_max(values, counted) if reduction == "max" else masked_sum(values, counted), "float32")
            for values, reduction in zip(maps, self.reductions)
        ]
        return pieces, masked_count(inputs, counted)

    def features_from_statistics(self, pieces, count):
        """Documents' features from their windows' statistics, already combined per document."""
        count = ops.maximum(count, 1.0)
        features = [piece if reduction == "max" else piece / count for piece, reduction in zip(pieces, self.reductions)]
        return ops.cast(ops.concatenate(features, axis=-1), self.compute_dtype)

    def call(self, inputs, padding_mask=None):
        shape = ops.shape(padding_mask)
        documents, windows, length = shape[0], shape[1], shape[2]
        row_mask = ops.reshape(padding_mask, (-1, length))
        counted = ops.reshape(owned_positions(padding_mask, self.window_stride), (-1, length))
        pieces, count = self.window_statistics(inputs, row_mask, counted)
        has_tokens = ops.any(ops.cast(padding_mask, "bool"), axis=-1)  # [documents, windows]

        def per_document(values):
            return ops.reshape(values, (documents, windows, ops.shape(values)[-1]))

        combined = [
            masked_max(per_document(piece), has_tokens) if reduction == "max" else ops.sum(per_document(piece), axis=1)
            for piece, reduction in zip(pieces, self.reductions)
        ]
        return self.features_from_statistics(combined, ops.sum(per_document(count), axis=1))

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
