"""Examples → a tf.data pipeline for `model.fit` and `evaluate`: tokenized in the
graph, bucketed by length, each batch cut to its own longest text."""

import math

import numpy as np
import tensorflow as tf

from bertcnn_tf.preprocessing import LENGTH_STEP
from bertcnn_tf.preprocessing import DocumentPreprocessor
from bertcnn_tf.preprocessing import pack_inputs
from bertcnn_tf.preprocessing import packer_for
from bertcnn_tf.preprocessing import tokenize_windows
from bertcnn_tf.preprocessing import trim_to_longest


def make_dataset(
    examples,
    preprocessor,
    targets=None,
    batch_size=32,
    training=False,
    seed=42,
    fixed_length=None,
    sample_weights=None,
    static_shapes=False,
    replicas=1,
):
    """A tf.data pipeline that tokenizes in the graph and pads only where needed.

    Training batches group texts of similar length (bucketing), so short texts
    are not padded to the longest of the whole set; each batch is then trimmed
    to its own longest text. The training pipeline repeats endlessly (fit it
    with `steps_per_epoch`) in an order fixed by `seed`, the same in every
    process, which is what lets a killed run resume on the right batch.
    Other pipelines keep the input order.

    Tokenizing happens here, on the host's CPU, so the model only ever sees
    numbers: no string op reaches a GPU or TPU. Under a `tf.distribute`
    strategy, `batch_size` is the global batch and every worker keeps its
    share of the batches (`distribution_options`).

    Args:
        examples: `Examples`.
        preprocessor: The model's `BertTextClassifierPreprocessor`.
        targets: Optional `[n, classes]` targets (`LabelVocabulary.encode`).
        batch_size: int.
        training: bool. Shuffle, bucket by length, and repeat-safe ordering.
        seed: int. The shuffle seed.
        fixed_length: The one sequence length of a `head="seed"` model, whose
            batches must not be trimmed.
        sample_weights: Optional `[n]` per-row loss weights.
        replicas: int. The strategy's replicas: batches of documents in
            windows hold a multiple of it, so that every replica gets one.
        static_shapes: bool. Every batch `[batch_size, sequence_length]`, as
            TPUs need: no bucketing or trimming, and `drop_remainder`. A
            labelled evaluation set is first padded to whole batches with
            rows of weight 0, so no row is dropped and none counts twice.

    Example:
    ```python
    data = make_dataset(examples, model.preprocessor, targets, batch_size=32, training=True)
    model.fit(data, steps_per_epoch=steps_per_epoch(len(examples), 32))
    ```
    """
    windowed = isinstance(preprocessor, DocumentPreprocessor)
    if windowed:
        most = preprocessor.most_windows
    # Rows of a batch that is not bucketed: documents fill about `batch_size` windows.
    rows_per_batch = documents_per_batch(batch_size, most, replicas) if windowed else batch_size
    if static_shapes and not training:
        if targets is None:
            raise ValueError(
                "static_shapes needs targets for a finite set: its last batch is "
                "padded with rows of weight 0, which only a labelled set can carry."
            )
        examples, targets, sample_weights = pad_to_whole_batches(
            examples, targets, sample_weights, rows_per_batch
        )
    columns = (examples.inputs(),)
    if targets is not None:
        columns += (targets,)
        if sample_weights is not None:
            columns += (np.asarray(sample_weights, dtype="float32"),)
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)

    pack = packer_for(preprocessor, preprocessor.sequence_length)

    def preprocess(x, *rest):
        features = pack_inputs(pack, x)
        return (features, *rest) if rest else features

    # Tokenizing whole batches is much faster than one text at a time.
    chunk = max(batch_size, 256)
    dataset = dataset.batch(chunk).map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if training:
        # Endless, so that batches never run dry mid-epoch: fit with
        # `steps_per_epoch=steps_per_epoch(len(examples), batch_size)`.
        dataset = dataset.repeat()
    full_length = fixed_length or static_shapes
    if windowed and training and not static_shapes:
        # Documents: batches hold about `batch_size` windows, so that memory
        # and cost follow the real length whatever the longest document.
        boundaries, sizes = window_buckets(batch_size, most, replicas)
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda x, *_: real_windows(x),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=sizes,
        )
    elif training and not full_length and not windowed:
        boundaries = length_buckets(preprocessor.sequence_length)
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda x, *_: tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32)),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        )
    else:
        dataset = dataset.batch(rows_per_batch, drop_remainder=static_shapes)

    def trim(x, *rest):
        x = trim_to_longest(x)
        return (x, *rest) if rest else x

    if not full_length:
        dataset = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
    if not training:
        # `unbatch` hides the length; Keras 3.15 hands the second pass over a
        # dataset of unknown length an exhausted iterator, so state it.
        cardinality = steps_per_epoch(len(examples), rows_per_batch)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    return dataset.with_options(distribution_options()).prefetch(tf.data.AUTOTUNE)


def documents_per_batch(batch_size, windows, replicas=1):
    """Documents of up to `windows` windows in a batch of about `batch_size` windows: a multiple of `replicas`, at least one each.

    >>> documents_per_batch(32, 3), documents_per_batch(32, 18), documents_per_batch(32, 18, replicas=2)
    (10, 1, 2)
    """
    return max(replicas, batch_size // windows // replicas * replicas)


def window_buckets(batch_size, most_windows, replicas=1):
    """`(boundaries, batch sizes)` of training documents by their number of windows: about `batch_size` windows a batch."""
    boundaries = [w for w in (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64) if w <= most_windows]
    windows = [w - 1 for w in boundaries] + [most_windows]  # the most each bucket holds
    return boundaries, [documents_per_batch(batch_size, w, replicas) for w in windows]


def training_steps(examples, preprocessor, batch_size, replicas=1, static_shapes=False):
    """Steps that see every training row once: `steps_per_epoch`, or for documents in windows,
    the batches of each window bucket (`window_buckets`), from each document's number of windows."""
    if not isinstance(preprocessor, DocumentPreprocessor):
        return steps_per_epoch(len(examples), batch_size)
    most = preprocessor.most_windows
    if static_shapes:
        return steps_per_epoch(len(examples), documents_per_batch(batch_size, most, replicas))
    windows = np.bincount(tokenize_windows(examples, preprocessor)["document"], minlength=len(examples))
    boundaries, sizes = window_buckets(batch_size, most, replicas)
    bucket = np.searchsorted(boundaries, windows, side="right")
    return max(1, int(sum(math.ceil(np.sum(bucket == i) / size) for i, size in enumerate(sizes))))


def real_windows(features):
    """How many windows of a `[windows, length]` document hold tokens."""
    return tf.reduce_sum(tf.cast(tf.reduce_any(tf.cast(features["padding_mask"], tf.bool), axis=-1), tf.int32))


def distribution_options():
    """tf.data options for multi-worker training: shard by data, not by file.

    The rows are in memory, not in files, so there are no files to share
    out: every worker runs the whole pipeline and keeps its share of each
    global batch (`AutoShardPolicy.DATA`), which is also what keeps the
    batch order the same on every worker and in a resumed run.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def pad_to_whole_batches(examples, targets, sample_weights, batch_size):
    """Repeats rows, with weight 0, until the set fills whole batches."""
    missing = -len(examples) % batch_size
    weights = np.ones(len(examples), "float32") if sample_weights is None else np.asarray(sample_weights, "float32")
    if not missing:
        return examples, targets, weights
    extra = [i % len(examples) for i in range(missing)]
    padded = examples.subset(list(range(len(examples))) + extra)
    return (
        padded,
        np.concatenate([targets, targets[extra]]),
        np.concatenate([weights, np.zeros(missing, "float32")]),
    )


def steps_per_epoch(num_examples, batch_size):
    return max(1, math.ceil(num_examples / batch_size))


def length_buckets(sequence_length):
    """Bucket boundaries for training: every `2 * LENGTH_STEP` tokens."""
    return list(range(2 * LENGTH_STEP, sequence_length, 2 * LENGTH_STEP))
