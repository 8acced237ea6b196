"""Mask arithmetic shared by the pooling layers and the TextCNN block.

Every function takes the padding mask explicitly, as keras-hub's backbones
return it: `True` (or 1) where a token is real, `False` (or 0) where it is
padding. `None` means every position is real.
"""

import keras
import ml_dtypes
from keras import ops


def lowest_finite_value(dtype):
    """The most negative finite number of a float dtype.

    Used as the fill value for masked max pooling: unlike `-1e9` or `-inf`
    it stays finite in float16 and bfloat16, so no NaN can appear downstream.

    >>> lowest_finite_value("float16")
    -65504.0
    """
    return float(ml_dtypes.finfo(keras.backend.standardize_dtype(dtype)).min)


def _expanded_mask(inputs, padding_mask):
    """The mask as a `bool` tensor of shape `[batch, time, 1]`."""
    if padding_mask is None:
        padding_mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
    return ops.expand_dims(ops.cast(padding_mask, "bool"), axis=-1)


def zero_padded_positions(inputs, padding_mask):
    """Sets the vectors at padded positions to zero.

    A convolution reads its neighbours, so a padded position that holds a
    non-zero vector (as BERT's outputs do) would leak into the real positions
    next to it. With zeros there, a text gives the same convolution outputs at
    its real positions however much padding follows it.
    """
    if padding_mask is None:
        return inputs
    mask = _expanded_mask(inputs, padding_mask)
    return ops.where(mask, inputs, ops.zeros_like(inputs))


def masked_max(inputs, padding_mask):
    """Max over the time axis of `[batch, time, channels]`, real positions only.

    A row with no real position gives zeros rather than the fill value.
    """
    mask = _expanded_mask(inputs, padding_mask)
    fill = ops.full_like(inputs, lowest_finite_value(inputs.dtype))
    pooled = ops.max(ops.where(mask, inputs, fill), axis=1)
    has_tokens = ops.any(mask, axis=1)
    return ops.where(has_tokens, pooled, ops.zeros_like(pooled))


def masked_sum(inputs, padding_mask):
    """float32 sum over the time axis of `[batch, time, channels]`, real positions only."""
    weights = ops.cast(_expanded_mask(inputs, padding_mask), "float32")
    return ops.sum(ops.cast(inputs, "float32") * weights, axis=1)


def masked_count(inputs, padding_mask):
    """float32 `[batch, 1]`: the real positions of each row."""
    return ops.sum(ops.cast(_expanded_mask(inputs, padding_mask), "float32"), axis=1)


def masked_mean(inputs, padding_mask):
    """Mean over the time axis of `[batch, time, channels]`, real positions only.

    Sums in float32, so long float16 sequences cannot overflow; a row with no
    real position gives zeros.
    """
    count = ops.maximum(masked_count(inputs, padding_mask), 1.0)
    return ops.cast(masked_sum(inputs, padding_mask) / count, inputs.dtype)
