"""Text → tokens: the one place that turns raw text into the model's inputs.

The tf.data training pipeline, Python prediction and the SavedModel's
serving graph all call `make_packer`: keras-hub's `BertTokenizer` (tf-text
ops that TF Serving 2.12+ links), then truncation and packing with core
TensorFlow ops only. It gives the ids of the model's own keras-hub
`BertTextClassifierPreprocessor`, which is what `model.fit(list_of_str)`
runs (tests/test_tokenizer_paths.py and tests/test_export.py compare them).

Every head but `"seed"` gives the same logits at any padding, so batches are
cut to their own longest text (`trim_to_longest`) and only the cost changes.
"""

import weakref

import keras_hub
import numpy as np
import tensorflow as tf

from bertcnn_tf.choices import DEFAULT_SEQUENCE_LENGTH
from bertcnn_tf.token_offsets import tokenize_with_offsets

TOKEN_FEATURES = ("token_ids", "segment_ids", "padding_mask")
# Batches are cut to their longest text rounded up to this many tokens,
# which bounds the number of distinct shapes (and so of graph retracings
# and of XLA compiles).
LENGTH_STEP = 8


def make_preprocessor(tokenizer, sequence_length=DEFAULT_SEQUENCE_LENGTH):
    """A `BertTextClassifierPreprocessor` that truncates with core ops only.

    `truncate="waterfall"` gives the same ids as the default `"round_robin"`
    for single texts, and unlike it emits no `TFText>RoundRobinTrim` op,
    which TF Serving 2.12 to 2.19 cannot run.

    Example:
    ```python
    import keras_hub
    import bertcnn_tf

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    preprocessor = bertcnn_tf.make_preprocessor(tokenizer, sequence_length=8)
    preprocessor(["the fox"])["token_ids"]  # [[2, 5, 6, 3, 0, 0, 0, 0]]
    ```
    """
    return keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=tokenizer,
        sequence_length=sequence_length,
        truncate="waterfall",
    )


def make_packer(preprocessor, fixed_length=None, with_offsets=False):
    """A function `(text, text_pair=None) -> {token_ids, segment_ids, padding_mask}`.

    Gives the ids of `preprocessor` (a keras-hub `BertTextClassifierPreprocessor`:
    `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated to its
    `sequence_length` by its `truncate` rule), but trims with core ops only
    and pads each batch only to its longest row, or to `fixed_length` when
    given. Invalid UTF-8 is replaced by U+FFFD first, since the tokenizer's
    ops reject it. Takes and returns batches (1-D string tensors in, int32
    `[batch, length]` tensors out).

    `with_offsets=True` adds `token_begin` and `token_end`: each token's
    byte offsets in its text (the one `segment_ids` names), -1 for [CLS],
    [SEP] and padding (`bertcnn_tf.token_offsets`; the ids are the same).

    Example:
    ```python
    pack = tf.function(make_packer(classifier.preprocessor))
    pack(tf.constant(["a short text", ""]))["token_ids"].shape  # (2, 5)
    ```
    """
    tokenizer = preprocessor.tokenizer
    keep_lengths = TRIMMERS[preprocessor.truncate]
    sequence_length = preprocessor.sequence_length

    def pack(text, text_pair=None):
        texts = [text] if text_pair is None else [text, text_pair]
        if text_pair is not None:
            tf.debugging.assert_equal(
                tf.shape(text)[0],
                tf.shape(text_pair)[0],
                message="text and text_pair must have the same number of rows",
            )
        if with_offsets:
            pieces = [tokenize_with_offsets(tokenizer, valid_utf8(t)) for t in texts]
        else:
            pieces = [(tokenizer(valid_utf8(t)),) for t in texts]
        budget = sequence_length - len(pieces) - 1  # [CLS] and one [SEP] per segment
        keeps = keep_lengths([parts[0].row_lengths() for parts in pieces], budget)
        pieces = [[_keep_prefix(part, keep) for part in parts] for parts, keep in zip(pieces, keeps)]
        packed = _combine([parts[0] for parts in pieces], tokenizer, fixed_length)
        if with_offsets:
            for index, name in ((1, "token_begin"), (2, "token_end")):
                packed[name] = _combine_offsets([parts[index] for parts in pieces], fixed_length)
        return packed

    return pack


def waterfall_lengths(lengths, budget):
    """Per-row kept lengths: each segment takes what it needs of what is left.

    keras-hub's `truncate="waterfall"` (`tf_text.WaterfallTrimmer`).
    """
    kept = []
    remaining = tf.constant(budget, dtype=lengths[0].dtype)
    for length in lengths:
        keep = tf.minimum(length, remaining)
        kept.append(keep)
        remaining -= keep
    return kept


def round_robin_lengths(lengths, budget):
    """Per-row kept lengths: tokens are handed out one per segment in turn.

    keras-hub's default `truncate="round_robin"` (`tf_text.RoundRobinTrimmer`,
    whose `TFText>RoundRobinTrim` op TF Serving 2.12 to 2.19 lack), for one
    or two segments: the first segment gets the odd token of an odd budget,
    and a segment shorter than its half leaves the rest to the other.
    """
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    first, second = lengths
    keep_first = tf.minimum(first, tf.maximum(budget - second, (budget + 1) // 2))
    return [keep_first, tf.minimum(second, budget - keep_first)]


TRIMMERS = {"waterfall": waterfall_lengths, "round_robin": round_robin_lengths}


def valid_utf8(text):
    """`text` with invalid UTF-8 replaced by U+FFFD, which the tokenizer's ops need."""
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")


def _keep_prefix(ragged, keep):
    """The first `keep[i]` items of each row i of a ragged [batch, None] tensor."""
    starts = ragged.row_starts()
    return tf.gather(ragged.values, tf.ragged.range(starts, starts + tf.cast(keep, starts.dtype)))


def _combine(segments, tokenizer, fixed_length):
    """`[CLS] a [SEP] (b [SEP])` with segment ids and mask, padded to dense tensors."""
    rows = segments[0].nrows()
    dtype = segments[0].dtype

    def column(value):
        return tf.RaggedTensor.from_tensor(tf.fill(tf.stack([rows, 1]), tf.cast(value, dtype)))

    start, end = column(tokenizer.start_token_id), column(tokenizer.end_token_id)
    pieces, segment_ids = [start], [tf.zeros_like(start)]
    for index, segment in enumerate(segments):
        pieces += [segment, end]
        segment_ids += [tf.ones_like(segment) * index, tf.ones_like(end) * index]
    tokens = tf.concat(pieces, axis=1)
    shape = [None, fixed_length]
    return {
        "token_ids": tf.cast(tokens.to_tensor(tokenizer.pad_token_id, shape=shape), tf.int32),
        "segment_ids": tf.cast(tf.concat(segment_ids, axis=1).to_tensor(0, shape=shape), tf.int32),
        "padding_mask": tf.cast(tf.ones_like(tokens).to_tensor(0, shape=shape), tf.int32),
    }


def _combine_offsets(segments, fixed_length):
    """Offsets laid out as `_combine` lays out the tokens; -1 at [CLS], [SEP] and padding."""
    rows = segments[0].nrows()
    mark = tf.RaggedTensor.from_tensor(tf.fill(tf.stack([rows, 1]), tf.constant(-1, segments[0].dtype)))
    pieces = [mark]
    for segment in segments:
        pieces += [segment, mark]
    combined = tf.concat(pieces, axis=1)
    return tf.cast(combined.to_tensor(-1, shape=[None, fixed_length]), tf.int32)


def pack_inputs(pack, inputs):
    """`pack` applied to a model input: a batch of texts, or a `(texts, pairs)` tuple."""
    return pack(*inputs) if isinstance(inputs, tuple) else pack(inputs)


# One traced packer per preprocessor (and sequence length, truncation and
# number of segments): tracing costs most of a second, a traced call on
# 1,000 texts about 10 ms.
_TRACED_TOKENIZERS = weakref.WeakKeyDictionary()


def traced_tokenizer(preprocessor, segments=1, with_offsets=False):
    """`make_packer(preprocessor)` as a `tf.function`, traced once and reused.

    Takes `segments` 1-D string tensors (a text, or a text and its pair) and
    returns `token_ids`, `segment_ids` and `padding_mask` (and with
    `with_offsets`, `token_begin` and `token_end`), padded to the
    preprocessor's `sequence_length`.

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
    key = (preprocessor.sequence_length, getattr(preprocessor, "truncate", None), segments, with_offsets)
    if key not in cache:
        # The cached function holds the tokenizer, never the preprocessor,
        # which is this cache's weak key.
        pack = make_packer(preprocessor, preprocessor.sequence_length, with_offsets)
        spec = tf.TensorSpec([None], tf.string)
        cache[key] = tf.function(pack, input_signature=[spec] * segments)
    return cache[key]


def tokenize_all(examples, preprocessor, chunk=1024, with_offsets=False):
    """Token ids, segment ids and padding masks of every example, as numpy arrays.

    Runs the preprocessor's traced tokenizer (`traced_tokenizer`) on chunks
    of `chunk` texts. Returns `[n, sequence_length]` arrays (with
    `with_offsets`, the tokens' byte offsets too).
    """
    inputs = examples.inputs()
    columns = list(inputs) if isinstance(inputs, tuple) else [inputs]
    tokenize = traced_tokenizer(preprocessor, len(columns), with_offsets)
    parts = []
    for start in range(0, max(1, len(columns[0])), chunk):  # one (empty) call for no texts
        features = tokenize(*[tf.constant(column[start : start + chunk], tf.string) for column in columns])
        parts.append({name: value.numpy() for name, value in features.items()})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def trim_to_longest(features, step=LENGTH_STEP):
    """Cuts a padded batch down to its longest text, rounded up to `step`.

    The heads here give the same logits at any padding, so this only saves
    work (the seed head, tied to one length, is never trimmed).
    """
    full = tf.shape(features["token_ids"])[1]
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1))
    length = tf.minimum(full, (longest + step - 1) // step * step)
    length = tf.maximum(length, 1)
    return {name: value[:, :length] for name, value in features.items()}


def pad_to_step(inputs, sequence_length, pad_token_id, step=LENGTH_STEP):
    """Token inputs padded to a multiple of `step` columns, at most `sequence_length` (never cut).

    A request is packed to its longest text, so without this the longest
    part of each request runs at its exact length: one shape per length.
    """
    width = tf.shape(inputs["token_ids"])[1]
    target = tf.maximum(tf.minimum((width + step - 1) // step * step, sequence_length), width)
    pads = {"token_ids": pad_token_id}
    return {
        name: tf.pad(value, [[0, 0], [0, target - width]], constant_values=pads.get(name, 0))
        for name, value in inputs.items()
    }


def fixed_length(model):
    """The one sequence length a model accepts, or `None` when any length works."""
    return model.input["token_ids"].shape[1]


class detached_preprocessor:
    """Context manager: feeds a keras-hub task data that is already tokenized.

    keras-hub tasks run their preprocessor on whatever `fit`/`predict` get;
    the pipelines here tokenize themselves (to bucket and trim), so the
    task's own preprocessing is switched off while they run.
    """

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.preprocessor = self.model.preprocessor
        self.model.preprocessor = None
        return self.preprocessor

    def __exit__(self, *exc_info):
        self.model.preprocessor = self.preprocessor
        return False
