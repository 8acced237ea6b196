"""Probabilities and labels for many texts, with padding paid only where it exists."""

import weakref

import keras
import numpy as np
import tensorflow as tf

from bertcnn_tf.data import detached_preprocessor
from bertcnn_tf.data import fixed_length


# One traced tokenizer per preprocessor (and sequence length and number of
# segments): tracing costs most of a second, a traced call on 1,000 texts
# about 10 ms.
_TRACED_TOKENIZERS = weakref.WeakKeyDictionary()


def traced_tokenizer(preprocessor, segments=1):
    """`preprocessor(x=...)` as a `tf.function`, traced once and reused.

    Takes `segments` 1-D string tensors (a text, or a text and its pair) and
    returns the preprocessor's `token_ids`, `segment_ids` and `padding_mask`.
    Traced, keras-hub tokenizes with tf-text ops: the same ids as its eager
    Python path (tests/test_tokenizer_paths.py), about 40x faster.

    Example:
    ```python
    import tensorflow as tf
    from bertcnn_tf import BertCNNClassifier

    classifier = BertCNNClassifier.from_preset("offline", num_classes=2)
    tokenize = traced_tokenizer(classifier.preprocessor)
    tokenize(tf.constant(["a fine film", ""]))["token_ids"].shape  # (2, 128)
    ```
    """
    cache = _TRACED_TOKENIZERS.setdefault(preprocessor, {})
    key = (preprocessor.sequence_length, getattr(preprocessor, "truncate", None), segments)
    if key not in cache:
        # A weak reference: the cached function must not keep its key alive.
        owner = weakref.ref(preprocessor)

        def tokenize(*columns):
            return owner()(x=columns[0] if segments == 1 else tuple(columns))

        spec = tf.TensorSpec([None], tf.string)
        cache[key] = tf.function(tokenize, input_signature=[spec] * segments)
    return cache[key]


def tokenize_all(examples, preprocessor, chunk=1024):
    """Token ids, segment ids and padding masks of every example, as numpy arrays.

    Runs the preprocessor's traced tokenizer (`traced_tokenizer`) on chunks
    of `chunk` texts. Returns `[n, sequence_length]` arrays.
    """
    inputs = examples.inputs()
    columns = list(inputs) if isinstance(inputs, tuple) else [inputs]
    tokenize = traced_tokenizer(preprocessor, len(columns))
    parts = []
    for start in range(0, max(1, len(columns[0])), chunk):  # one (empty) call for no texts
        features = tokenize(*[tf.constant(column[start : start + chunk], tf.string) for column in columns])
        parts.append({name: value.numpy() for name, value in features.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def batch_width(lengths, limit):
    """The batch's longest text (at least 1, at most `limit`).

    `predict_logits` cuts each sorted batch to its exact longest: sorted
    neighbours differ by a token or two, and rounding up to `LENGTH_STEP`, as
    training does to bound its shapes, ran about 10% slower on sst2
    sentences. The predict function is traced with relaxed shapes, so new
    widths do not retrace it.
    """
    return int(min(limit, max(1, int(lengths.max()))))


def predict_logits(model, examples, batch_size=32):
    """The model's outputs for `Examples`, in the input order.

    Texts are tokenized once, sorted by length and batched, and each batch is
    cut to its own longest text, so a short text is never padded to the
    longest of the whole input. The heads here give the same logits at any
    padding, so only the cost changes. `predict_on_batch` runs the compiled
    model without `predict`'s per-call iterator and callbacks.
    """
    features = tokenize_all(examples, model.preprocessor)
    lengths = features["padding_mask"].sum(axis=1)
    limit = features["token_ids"].shape[1]
    fixed = fixed_length(model)
    order = np.argsort(lengths, kind="stable")
    outputs = None
    with detached_preprocessor(model):
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = fixed or batch_width(lengths[rows], limit)
            batch = {name: value[rows, :width] for name, value in features.items()}
            logits = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(batch)), "float32")
            if outputs is None:
                outputs = np.empty((len(order), logits.shape[-1]), dtype="float32")
            outputs[rows] = logits
    return outputs


def predict_probabilities(model, examples, multi_label=False, batch_size=32):
    """Class probabilities for `Examples`, in the input order.

    Returns:
        float32 `[n, classes]`: softmax probabilities, or per-label sigmoid
        probabilities when `multi_label`.

    Example:
    ```python
    from bertcnn_tf.data import Examples
    from bertcnn_tf.runs import load_run

    run = load_run("runs/demo")
    texts = ["charged twice", "parcel never came"]
    predict_probabilities(run.model, Examples(texts=texts, labels=[[], []]))
    ```
    """
    if len(examples) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype="float32")
    logits = keras.ops.convert_to_tensor(predict_logits(model, examples, batch_size))
    activation = keras.ops.sigmoid if multi_label else keras.ops.softmax
    return np.asarray(keras.ops.convert_to_numpy(activation(logits)), dtype="float32")


def decide(probabilities, labels, multi_label=False, threshold=0.5):
    """The predicted label (single-label) or label list (multi-label) per row."""
    if multi_label:
        return [[labels[i] for i in np.flatnonzero(row >= threshold)] for row in probabilities]
    return [labels[i] for i in probabilities.argmax(axis=-1)]
