import keras
import numpy as np
import pytest

from bertcnn_tf.layers import FixedLengthCNN
from bertcnn_tf.layers import TextCNN


def padded_copies(length, pad_to, hidden=6, seed=0):
    """The same random "text" followed by two different amounts of junk padding."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(length, hidden)).astype("float32")

    def pad(total):
        junk = rng.normal(size=(total - length, hidden)).astype("float32") * 50
        x = np.concatenate([text, junk])[None]
        mask = np.arange(total)[None] < length
        return x, mask

    return pad(length + 1), pad(pad_to)


@pytest.mark.parametrize("pooling", ["max", "mean", "max_mean"])
@pytest.mark.parametrize("length", [1, 2, 7])
def test_output_does_not_depend_on_padding(pooling, length):
    layer = TextCNN(kernel_sizes=(2, 3, 5), filters=4, pooling=pooling)
    (short, short_mask), (long, long_mask) = padded_copies(length, 40)
    a = keras.ops.convert_to_numpy(layer(short, padding_mask=short_mask))
    b = keras.ops.convert_to_numpy(layer(long, padding_mask=long_mask))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_without_zeroing_the_padding_would_leak():
    """Guards the test above: junk padding does change an unmasked convolution."""
    layer = TextCNN(kernel_sizes=(3,), filters=4)
    (short, short_mask), (long, long_mask) = padded_copies(4, 40)
    a = keras.ops.convert_to_numpy(layer(short, padding_mask=np.ones_like(short_mask)))
    b = keras.ops.convert_to_numpy(layer(long, padding_mask=np.ones_like(long_mask)))
    assert np.abs(a - b).max() > 1e-2


@pytest.mark.parametrize("pooling, width", [("max", 24), ("mean", 24), ("max_mean", 48)])
def test_output_width(pooling, width):
    layer = TextCNN(kernel_sizes=(3, 4, 5), filters=8, pooling=pooling)
    out = layer(np.zeros((2, 9, 5), "float32"), padding_mask=np.ones((2, 9), bool))
    assert tuple(out.shape) == (2, width)
    assert layer.compute_output_shape((2, 9, 5)) == (2, width)


def test_config_round_trip_keeps_every_argument():
    layer = TextCNN(kernel_sizes=(2, 6), filters=3, activation="gelu", pooling="mean")
    restored = TextCNN.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert restored.kernel_sizes == (2, 6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pooling"):
        TextCNN(pooling="sum")
    with pytest.raises(ValueError, match="kernel_sizes"):
        TextCNN(kernel_sizes=())


def test_fixed_length_cnn_needs_a_fixed_length():
    x = keras.Input(shape=(None, 8))
    with pytest.raises(ValueError, match="fixed sequence length"):
        FixedLengthCNN()(x)
    assert tuple(FixedLengthCNN(filters=5)(keras.Input(shape=(10, 8))).shape) == (None, 25)
