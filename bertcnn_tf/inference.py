"""Probabilities and labels for many texts, with padding paid only where it exists."""

import keras
import numpy as np

from bertcnn_tf.data import detached_preprocessor
from bertcnn_tf.data import fixed_length
from bertcnn_tf.data import length_order
from bertcnn_tf.data import make_dataset


def predict_probabilities(model, examples, multi_label=False, batch_size=32, verbose=0):
    """Class probabilities for `Examples`, in the input order.

    Texts are sorted by length before batching, so each batch is padded only
    to its own longest text; results are put back in the input order.

    Returns:
        float32 `[n, classes]`: softmax probabilities, or per-label sigmoid
        probabilities when `multi_label`.
    """
    if len(examples) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype="float32")
    order = length_order(examples, model.preprocessor)
    dataset = make_dataset(
        examples.subset(order),
        model.preprocessor,
        batch_size=batch_size,
        fixed_length=fixed_length(model),
    )
    with detached_preprocessor(model):
        logits = model.predict(dataset, verbose=verbose)
    logits = keras.ops.convert_to_tensor(np.asarray(logits, dtype="float32"))
    activation = keras.ops.sigmoid if multi_label else keras.ops.softmax
    probabilities = keras.ops.convert_to_numpy(activation(logits))
    restored = np.empty_like(probabilities)
    restored[order] = probabilities
    return restored


def decide(probabilities, labels, multi_label=False, threshold=0.5):
    """The predicted label (single-label) or label list (multi-label) per row."""
    if multi_label:
        return [[labels[i] for i in np.flatnonzero(row >= threshold)] for row in probabilities]
    return [labels[i] for i in probabilities.argmax(axis=-1)]
