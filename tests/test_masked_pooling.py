import keras
import numpy as np
import pytest

from bertcnn_tf.layers import ClsTokenPooling
from bertcnn_tf.layers import MaskedGlobalAveragePooling1D
from bertcnn_tf.layers import MaskedGlobalMaxPooling1D
from bertcnn_tf.layers.masking import lowest_finite_value

MASK = np.array([[True, True, False, False], [True, False, False, False]])


def planted(value, dtype="float32"):
    """Small real values, and `value` planted at every padded position."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 4, 3)).astype(dtype)
    x[~MASK] = value
    return x


@pytest.mark.parametrize("value", [1e4, 3e38, np.inf])
def test_max_never_selects_a_padded_position(value):
    x = planted(value)
    out = keras.ops.convert_to_numpy(MaskedGlobalMaxPooling1D()(x, padding_mask=MASK))
    expected = np.stack([x[0, :2].max(0), x[1, :1].max(0)])
    np.testing.assert_array_equal(out, expected)


def test_max_of_all_negative_values_ignores_zero_padding():
    x = planted(0.0) - 5.0  # padded positions hold -5 + 0 = -5, real ones < -4
    x[~MASK] = 0.0  # BERT's padding is not masked to anything in particular
    out = keras.ops.convert_to_numpy(MaskedGlobalMaxPooling1D()(x, padding_mask=MASK))
    assert (out < -3.9).all()


@pytest.mark.parametrize("value", [1e4, -3e38])
def test_mean_ignores_padded_positions(value):
    x = planted(value)
    out = keras.ops.convert_to_numpy(MaskedGlobalAveragePooling1D()(x, padding_mask=MASK))
    expected = np.stack([x[0, :2].mean(0), x[1, :1].mean(0)])
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("layer_cls", [MaskedGlobalMaxPooling1D, MaskedGlobalAveragePooling1D])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_all_padding_rows_give_zeros(layer_cls, dtype):
    x = keras.ops.cast(planted(7.0), dtype)
    mask = np.array([[False] * 4, [True, False, False, False]])
    out = keras.ops.convert_to_numpy(
        keras.ops.cast(layer_cls(dtype=dtype)(x, padding_mask=mask), "float32")
    )
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], np.zeros(3))


def test_fill_value_is_finite_in_half_precision():
    assert lowest_finite_value("float16") == -65504.0
    assert np.isfinite(np.float32(lowest_finite_value("bfloat16")))


def test_mean_of_long_float16_sequence_does_not_overflow():
    x = np.full((1, 512, 2), 200.0, dtype="float16")  # sum 102,400 > float16 max
    out = MaskedGlobalAveragePooling1D(dtype="float16")(x, padding_mask=np.ones((1, 512), bool))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).astype("float32"), 200.0)


def test_no_mask_means_every_position():
    x = planted(9.0)
    out = keras.ops.convert_to_numpy(MaskedGlobalMaxPooling1D()(x))
    np.testing.assert_array_equal(out, x.max(1))


def test_cls_pooling_takes_the_first_token():
    x = planted(9.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ClsTokenPooling()(x)), x[:, 0])


@pytest.mark.parametrize(
    "layer_cls", [MaskedGlobalMaxPooling1D, MaskedGlobalAveragePooling1D, ClsTokenPooling]
)
def test_serialization_round_trip(layer_cls):
    layer = layer_cls(name="pool", dtype="mixed_bfloat16")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls
    assert restored.get_config() == layer.get_config()
