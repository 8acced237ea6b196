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

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from bertcnn_tf.choices import DEFAULT_SEQUENCE_LENGTH
from bertcnn_tf.token_offsets import tokenize_with_offsets

TOKEN_FEATURES = ("token_ids", "segment_ids", "padding_mask")
# Consecutive windows of a long document share this many tokens by default
# (`default_window_stride`): 1.09x the document's tokens at 128 a window.
WINDOW_OVERLAP = 8
# Batches are cut to their longest text rounded up to this many tokens,
# which bounds the number of distinct shapes (and so of graph retracings
# and of XLA compiles).
LENGTH_STEP = 8


def make_preprocessor(tokenizer, sequence_length=DEFAULT_SEQUENCE_LENGTH, max_document_length=None, window_stride=None):
    """A `BertTextClassifierPreprocessor` that truncates with core ops only.

    `truncate="waterfall"` gives the same ids as the default `"round_robin"`
    for single texts, and unlike it emits no `TFText>RoundRobinTrim` op,
    which TF Serving 2.12 to 2.19 cannot run.

    With `max_document_length` (tokens), a `DocumentPreprocessor`: texts
    are cut into windows of `sequence_length` tokens instead of truncated
    there, for a `BertCNNClassifier(..., window_stride=...)`.

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
    if max_document_length is not None:
        return DocumentPreprocessor(
            tokenizer=tokenizer,
            sequence_length=sequence_length,
            max_document_length=max_document_length,
            window_stride=window_stride,
        )
    return keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer=tokenizer,
        sequence_length=sequence_length,
        truncate="waterfall",
    )


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class DocumentPreprocessor(keras_hub.models.BertTextClassifierPreprocessor):
    """Raw documents → `[batch, windows, sequence_length]` token windows (`make_window_packer`).

    What a windowed `BertCNNClassifier` takes in `fit`, `predict` and
    `evaluate`. Single texts only: sentence pairs are not windowed.

    Args:
        tokenizer: A keras-hub `BertTokenizer`.
        sequence_length: int. Tokens per window, [CLS] and [SEP] included.
        max_document_length: int. A document's tokens past this are cut.
        window_stride: int. Tokens between window starts (default:
            `default_window_stride`, windows sharing `WINDOW_OVERLAP` tokens).

    Example:
    ```python
    preprocessor = make_preprocessor(tokenizer, 128, max_document_length=2048)
    preprocessor(["a long review ..."])["token_ids"].shape  # (1, windows, length)
    ```
    """

    def __init__(self, tokenizer, sequence_length=DEFAULT_SEQUENCE_LENGTH, max_document_length=2048,
                 window_stride=None, **kwargs):
        kwargs["truncate"] = "waterfall"
        super().__init__(tokenizer=tokenizer, sequence_length=sequence_length, **kwargs)
        self.max_document_length = int(max_document_length)
        self.window_stride = int(window_stride or default_window_stride(sequence_length))
        check_window_settings(sequence_length, self.max_document_length, self.window_stride)

    @property
    def most_windows(self):
        """The most windows a document is cut into (`windows_per_document` of `max_document_length`)."""
        return windows_per_document(self.max_document_length, self.sequence_length, self.window_stride)

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, (tuple, list)) and len(x) and isinstance(x[0], (tuple, list)):
            raise ValueError("Documents are windowed one text at a time: sentence pairs are not supported.")
        x = x[0] if isinstance(x, tuple) and len(x) == 1 else x
        texts = tf.reshape(tf.convert_to_tensor(x, tf.string), [-1])
        features = make_window_packer(self, self.max_document_length, self.window_stride)(texts)
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.pop("truncate", None)
        config.update({"max_document_length": self.max_document_length, "window_stride": self.window_stride})
        return config


def packer_for(preprocessor, fixed_length=None, with_offsets=False, flat_windows=False):
    """`make_window_packer` for a `DocumentPreprocessor` (windows padded to `fixed_length`), else `make_packer`."""
    if isinstance(preprocessor, DocumentPreprocessor):
        return make_window_packer(
            preprocessor, preprocessor.max_document_length, preprocessor.window_stride, with_offsets,
            fixed_windows=fixed_length is not None, flat=flat_windows,
        )
    if flat_windows:
        raise ValueError("flat_windows needs a DocumentPreprocessor: only documents are cut into windows.")
    return make_packer(preprocessor, fixed_length, with_offsets)


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


def make_window_packer(preprocessor, max_document_length, window_stride, with_offsets=False, fixed_windows=False,
                       flat=False):
    """A function `text -> {token_ids, segment_ids, padding_mask}` of `[batch, windows, length]`.

    Documents longer than one window: each text's first `max_document_length`
    tokens are cut into windows of `sequence_length - 2` tokens that start
    every `window_stride` tokens (so consecutive windows share
    `sequence_length - 2 - window_stride`), each packed as `[CLS] ... [SEP]`
    like a text of its own. A text that fits in one window gives one window,
    the same as `make_packer`. Rows are padded with empty windows (all-zero
    `padding_mask`) to the batch's most windows, and windows to their
    longest. Sentence pairs are not windowed.

    `flat=True` gives every window as a row instead (`[windows, length]`),
    with `windows`: how many rows each text gave (`tokenize_windows`).

    Example:
    ```python
    pack = make_window_packer(preprocessor, max_document_length=2048, window_stride=118)
    pack(tf.constant(["a short text", "a long review ..."]))["token_ids"].shape  # (2, windows, length)
    ```
    """
    tokenizer = preprocessor.tokenizer
    content = preprocessor.sequence_length - 2
    check_window_settings(preprocessor.sequence_length, max_document_length, window_stride)
    most_windows = windows_per_document(max_document_length, preprocessor.sequence_length, window_stride)

    def pack(text):
        # The offsets path gives keras-hub's ids with pure TF ops, eagerly too.
        parts = tokenize_with_offsets(tokenizer, valid_utf8(text))
        windows, counts = _window_rows(parts[0], max_document_length, content, window_stride)
        width = preprocessor.sequence_length if fixed_windows else None
        packed = _combine([tf.gather(parts[0].values, windows)], tokenizer, width)
        if with_offsets:
            for index, name in ((1, "token_begin"), (2, "token_end")):
                packed[name] = _combine_offsets([tf.gather(parts[index].values, windows)], width)
        if flat:
            return {**packed, "windows": tf.cast(counts, tf.int32)}
        fill = {"token_begin": -1, "token_end": -1}
        # fixed_windows: as many windows as the longest document can have, and
        # full-length windows, so that chunks of documents stack.
        shape = [None, most_windows, preprocessor.sequence_length] if fixed_windows else None
        return {
            name: tf.RaggedTensor.from_row_lengths(value, counts).to_tensor(fill.get(name, 0), shape=shape)
            for name, value in packed.items()
        }

    return pack


def check_window_settings(sequence_length, max_document_length, window_stride):
    """Raises a ValueError naming the fix for window settings that cannot work."""
    content = sequence_length - 2
    if max_document_length < sequence_length:
        raise ValueError(
            f"max_document_length={max_document_length} is shorter than one window "
            f"(sequence_length={sequence_length}): raise it, or leave it out to truncate at the window."
        )
    if not 0 < window_stride <= content:
        raise ValueError(
            f"window_stride={window_stride} must be between 1 and the window's {content} text tokens "
            f"(sequence_length - 2): the stride is where the next window starts."
        )


def default_window_stride(sequence_length):
    """Windows share `WINDOW_OVERLAP` tokens: `sequence_length - 2 - WINDOW_OVERLAP`."""
    return max(1, sequence_length - 2 - WINDOW_OVERLAP)


def windows_per_document(length, sequence_length, window_stride):
    """How many windows a document of `length` tokens (after truncation) is cut into.

    >>> windows_per_document(100, 128, 118), windows_per_document(127, 128, 118), windows_per_document(2048, 128, 118)
    (1, 2, 18)
    """
    content = sequence_length - 2
    return 1 + max(0, -(-(length - content) // window_stride))


def _window_rows(tokens, max_tokens, content, stride):
    """Indices into `tokens.values` of every window (`[windows, <=content]`), and windows per row."""
    lengths = tf.minimum(tokens.row_lengths(), max_tokens)
    counts = 1 + tf.maximum(tf.constant(0, lengths.dtype), (lengths - content + stride - 1) // stride)
    offsets = tf.ragged.range(counts) * stride  # each window's start in its document
    row = offsets.value_rowids()
    begin = offsets.flat_values + tf.gather(tokens.row_starts(), row)
    end = tf.minimum(offsets.flat_values + content, tf.gather(lengths, row)) + tf.gather(tokens.row_starts(), row)
    return tf.ragged.range(begin, end), counts


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


def traced_tokenizer(preprocessor, segments=1, with_offsets=False, flat_windows=False):
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
    key = (preprocessor.sequence_length, getattr(preprocessor, "truncate", None), segments, with_offsets, flat_windows)
    if key not in cache:
        # The cached function holds the tokenizer, never the preprocessor,
        # which is this cache's weak key.
        pack = packer_for(preprocessor, preprocessor.sequence_length, with_offsets, flat_windows)
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
    return _concatenated(features for _, features in _tokenized_chunks(tokenize, columns, chunk))


def _tokenized_chunks(tokenize, columns, chunk):
    """`(start, numpy features)` of `tokenize` over each chunk of `chunk` rows (one empty call for no rows)."""
    for start in range(0, max(1, len(columns[0])), chunk):
        features = tokenize(*[tf.constant(column[start : start + chunk], tf.string) for column in columns])
        yield start, {name: value.numpy() for name, value in features.items()}


def _concatenated(parts):
    parts = list(parts)
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def tokenize_windows(examples, preprocessor, chunk=1024):
    """Every window of every document as one row, as numpy arrays.

    For a `DocumentPreprocessor`. Returns `token_ids`, `segment_ids` and
    `padding_mask` (`[windows, sequence_length]`), `document` (the example
    each window is from) and `last_window` (whether it is its document's
    last). Unlike `tokenize_all`, no document is padded to the most windows
    a document may have: memory follows the documents' real lengths.

    Example:
    ```python
    rows = tokenize_windows(Examples.unlabelled(["short", "a long review ..."]), classifier.preprocessor)
    rows["document"]  # array([0, 1, 1, 1])
    ```
    """
    texts = examples.inputs()
    if isinstance(texts, tuple):
        raise ValueError("Documents are windowed one text at a time: sentence pairs are not supported.")
    tokenize = traced_tokenizer(preprocessor, flat_windows=True)
    parts = []
    for start, features in _tokenized_chunks(tokenize, [texts], chunk):
        counts = features.pop("windows")
        ends = np.cumsum(counts)
        features["document"] = start + np.repeat(np.arange(len(counts)), counts)
        features["last_window"] = np.isin(np.arange(ends[-1] if len(ends) else 0), ends - 1)
        parts.append(features)
    return _concatenated(parts)


def batch_width(lengths, limit):
    """The batch's longest text (at least 1, at most `limit`).

    `length_sorted_batches` cuts each sorted batch to its exact longest: sorted
    neighbours differ by a token or two, and rounding up to `LENGTH_STEP`, as
    training does to bound its shapes, ran about 10% slower on sst2
    sentences. The predict function is traced with relaxed shapes, so new
    widths do not retrace it.
    """
    return int(min(limit, max(1, int(lengths.max()))))


def length_sorted_batches(features, batch_size, fixed=None):
    """`(rows, batch)`: the rows sorted by length, in batches each cut to its own longest.

    Texts (`[n, length]`): `batch_size` texts a batch. Documents in windows
    (`[n, windows, length]`): as many documents as keep the batch at about
    `batch_size` windows (at least one), cut to its most windows and its
    longest window.
    """
    mask = features["padding_mask"]
    if mask.ndim == 2:
        lengths = mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = fixed or batch_width(lengths[rows], mask.shape[1])
            yield rows, {name: value[rows, :width] for name, value in features.items()}
        return
    window_lengths = mask.sum(axis=2)
    windows = np.maximum((window_lengths > 0).sum(axis=1), 1)
    order = np.lexsort((window_lengths.sum(axis=1), windows))
    start = 0
    while start < len(order):
        # Sorted by windows, so the last document of a batch has its most.
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * windows[order[stop]] <= batch_size:
            stop += 1
        rows = order[start:stop]
        most = int(windows[rows].max())
        width = batch_width(window_lengths[rows].max(axis=1), mask.shape[2])
        yield rows, {name: value[rows, :most, :width] for name, value in features.items()}
        start = stop


def trim_to_longest(features, step=LENGTH_STEP):
    """Cuts a padded batch down to its longest text, rounded up to `step`.

    The heads here give the same logits at any padding, so this only saves
    work (the seed head, tied to one length, is never trimmed). Windows
    (`[batch, windows, length]`) are cut to the longest window, and to the
    most windows a document of the batch has.
    """
    full = tf.shape(features["token_ids"])[-1]
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=-1)
    longest = tf.reduce_max(lengths)
    length = tf.minimum(full, (longest + step - 1) // step * step)
    length = tf.maximum(length, 1)
    if features["token_ids"].shape.rank == 3:
        windows = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(lengths > 0, tf.int32), axis=-1)), 1)
        return {name: value[:, :windows, :length] for name, value in features.items()}
    return {name: value[..., :length] for name, value in features.items()}


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
