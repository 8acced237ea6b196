"""Why a label: a prediction split exactly into the contributions of windows of tokens.

The `Dense` layer reads features, and each feature of these heads came from
one place in the text:

- `"cnn"` with max pooling: filter f's feature is its convolution's output
  at one position, which read one window of k tokens;
- `"cnn"` with mean pooling, and `"mean"`: every position's output (every
  token) adds its share to the mean;
- `"max"`: each feature is one token's;
- `"seed"`: each flattened feature is the convolution's output at one of two
  positions (its `MaxPooling1D` pair), a window of 3 tokens.

The explained score is linear in the features, so it is a sum: a bias, one
term per window (the features that came from it) and, with
`with_cls_token=True`, the [CLS] vector's part. The score is the class's
logit minus the mean logit (single-label; a softmax cannot shift it) or the
class's logit (multi-label, a sigmoid's input), divided by the run's
temperature, so it is in the units of the probabilities shown. `"cls"` has
no such split (its one vector mixes every token) and is refused.

Everything here is TensorFlow ops: run eagerly by `bertcnn_tf.explain` and
traced into the SavedModel's `explain` signature.
"""

import tensorflow as tf

from bertcnn_tf import postprocessing
from bertcnn_tf.choices import EXPLAINED_HEADS
from bertcnn_tf.layers.masking import masked_max
from bertcnn_tf.layers.masking import masked_mean
from bertcnn_tf.layers.windowed_pooling import owned_positions



def check_explainable(model):
    """Raises a ValueError naming the fix when `model`'s predictions do not split into spans."""
    head = getattr(model, "head", None)
    if head not in EXPLAINED_HEADS:
        raise ValueError(
            f'A head="{head}" model cannot be explained by spans: its one [CLS] vector mixes '
            f"every token, so its logits do not split into windows of text. Train with "
            f"head={EXPLAINED_HEADS[0]!r} (or {', '.join(repr(h) for h in EXPLAINED_HEADS[1:])}) to explain."
        )


def head_features(model, sequence, padding_mask, documents=None):
    """`(features, blocks)`: the `Dense` layer's input, and where each of its columns came from.

    `blocks` lists `(kind, kernel_size, values)`: `"max"` blocks hold the
    `[batch, time, width]` map whose masked max over time is the block's
    features, `"mean"` blocks the map whose masked mean is, `"pair_max"` the
    seed head's map (max over position pairs, flattened) and `"cls"` the
    [CLS] vector. For documents in windows, `sequence` and `padding_mask`
    are the windows as rows, `documents` the `(count, windows, counted
    positions)` of `WindowedPooling`, and every map is laid out per
    document, its windows one after the other (`[batch, windows * length, width]`).
    """
    head = model.head_layer
    pooling_mask = padding_mask

    def per_document(values):
        return values if documents is None else tf.reshape(values, [documents[0], -1, values.shape[-1]])

    if documents is not None:
        pooling_mask = documents[2]
    blocks = []
    if model.head == "cnn":
        for size, feature_map in zip(head.kernel_sizes, head.feature_maps(sequence, padding_mask)):
            feature_map = per_document(feature_map)
            if head.pooling in ("max", "max_mean"):
                blocks.append(("max", size, feature_map, masked_max(feature_map, pooling_mask)))
            if head.pooling in ("mean", "max_mean"):
                blocks.append(("mean", size, feature_map, masked_mean(feature_map, pooling_mask)))
    elif model.head in ("max", "mean"):
        pool = masked_max if model.head == "max" else masked_mean
        stitched = per_document(sequence)
        blocks.append((model.head, 1, stitched, pool(stitched, pooling_mask)))
    elif model.head == "seed":
        feature_map = head.feature_map(sequence, padding_mask)
        blocks.append(("pair_max", head.kernel_size, feature_map, head.flatten(head.pooling(feature_map))))
    else:
        check_explainable(model)
    if model.cls_token_layer is not None:
        cls_vector = sequence[:, 0, :]
        if documents is not None:  # the windows' mean, as WindowedPooling takes it
            count, windows, _ = documents
            has_tokens = tf.reduce_any(tf.cast(tf.reshape(padding_mask, [count, windows, -1]), tf.bool), axis=-1)
            cls_vector = masked_mean(tf.reshape(cls_vector, [count, windows, cls_vector.shape[-1]]), has_tokens)
        blocks.append(("cls", 0, cls_vector, cls_vector))
    features = tf.concat([block[-1] for block in blocks], axis=-1)
    return features, [block[:3] for block in blocks], pooling_mask


def window_ranges(kernel_sizes, length, segment_length=None):
    """int32 `[windows]` first and past-the-end token positions of every window, and its kernel size.

    Window `branch * length + t` is the one behind position t of that
    branch: for kernel size k (`"same"` padding) tokens `t - (k - 1) // 2` to
    `t + k // 2`, clipped to the sequence, or to the backbone window of
    `segment_length` positions that t is in (documents in windows).
    """
    positions = tf.range(length)
    segment_length = length if segment_length is None else segment_length
    first = positions // segment_length * segment_length
    last = tf.minimum(first + segment_length, length)
    starts, stops, sizes = [], [], []
    for size in kernel_sizes:
        starts.append(tf.maximum(positions - (size - 1) // 2, first))
        stops.append(tf.minimum(positions + size // 2 + 1, last))
        sizes.append(tf.fill([length], size))
    return tf.concat(starts, 0), tf.concat(stops, 0), tf.concat(sizes, 0)


def _scatter_to_positions(values, positions, length):
    """`[batch, length]` sums of `values` `[batch, width]` at `positions` `[batch, width]`."""
    rows = tf.shape(values)[0]
    segment = positions + length * tf.range(rows)[:, None]
    summed = tf.math.unsorted_segment_sum(
        tf.reshape(values, [-1]), tf.reshape(segment, [-1]), rows * length
    )
    return tf.reshape(summed, [rows, length])


def _masked_argmax(values, padding_mask):
    """int32 `[batch, width]`: the real position of each channel's max (the first of ties)."""
    mask = tf.cast(padding_mask, tf.bool)[:, :, None]
    lowest = tf.fill(tf.shape(values), values.dtype.min)
    return tf.argmax(tf.where(mask, values, lowest), axis=1, output_type=tf.int32)


def score_weights(model, class_ids, multi_label, temperature):
    """float32 `(kernel, bias)` of the explained score of each row's class: `[batch, features]`, `[batch]`.

    Single-label: the class's `Dense` column minus the mean column, so that
    `features · kernel + bias` is its logit minus the mean logit. Both are
    divided by the temperature (the class's own for multi-label).
    """
    kernel = tf.cast(model.output_dense.kernel, tf.float32)
    bias = tf.cast(model.output_dense.bias, tf.float32)
    if not multi_label:
        kernel -= tf.reduce_mean(kernel, axis=1, keepdims=True)
        bias -= tf.reduce_mean(bias)
    temperatures = tf.broadcast_to(tf.constant(temperature, tf.float32), tf.shape(bias))
    scale = tf.gather(temperatures, class_ids)
    row_kernel = tf.transpose(tf.gather(kernel, class_ids, axis=1)) / scale[:, None]
    return row_kernel, tf.gather(bias, class_ids) / scale


def forward(model, inputs):
    """The model's pass over token `inputs`, keeping what `split_score` needs.

    Returns a dict: float32 `outputs` (`[batch, classes]`, what the model
    outputs), the backbone's `sequence`, the head's `blocks`
    (`head_features`) and the `padding_mask`.
    """
    check_explainable(model)
    tokens = {name: inputs[name] for name in ("token_ids", "segment_ids", "padding_mask")}
    documents = None
    if getattr(model, "window_stride", None) is not None:  # [batch, windows, length]: windows as rows
        shape = tf.shape(tokens["token_ids"])
        counted = tf.reshape(owned_positions(tokens["padding_mask"], model.window_stride), [shape[0], -1])
        documents = (shape[0], shape[1], counted)
        tokens = {name: tf.reshape(value, [-1, shape[2]]) for name, value in tokens.items()}
    sequence = model.backbone(tokens, training=False)["sequence_output"]
    features, blocks, pooling_mask = head_features(model, sequence, tokens["padding_mask"], documents)
    return {
        "outputs": tf.cast(model.output_dense(features), tf.float32),
        "blocks": blocks,
        "padding_mask": pooling_mask,
        "window_length": tf.shape(tokens["token_ids"])[-1],
    }


def rows_of(passed, rows):
    """`forward`'s result for the rows `rows` (one row may be taken more than once)."""
    return {
        "outputs": tf.gather(passed["outputs"], rows),
        "blocks": [(kind, size, tf.gather(values, rows)) for kind, size, values in passed["blocks"]],
        "padding_mask": tf.gather(passed["padding_mask"], rows),
        "window_length": passed["window_length"],
    }


def attribute(model, inputs, class_ids=None, multi_label=False, temperature=1.0, from_logits=True):
    """The model's outputs for token `inputs`, and each row's score split into windows.

    `forward`, then `split_score`.

    Example:
    ```python
    parts = attribute(classifier, classifier.preprocessor(["a fine film"]))
    parts["bias"] + parts["cls_token"] + tf.reduce_sum(parts["windows"], -1)  # == parts["score"]
    ```
    """
    return split_score(model, forward(model, inputs), class_ids, multi_label, temperature, from_logits)


def split_score(model, passed, class_ids=None, multi_label=False, temperature=1.0, from_logits=True):
    """Each row's score split into a bias, the [CLS] vector's part and one term per window.

    Args:
        model: A `BertCNNClassifier` with any head but `"cls"`.
        passed: What `forward` returned.
        class_ids: int32 `[batch]`: the class to explain in each row; `None`
            takes the most probable.
        multi_label, temperature, from_logits: As in `bertcnn_tf.postprocessing`.

    Returns:
        A dict of tensors: `outputs`, `class_ids`, float32 `score` (from
        the outputs), `bias`, `cls_token` (0 without `with_cls_token`),
        `windows` (`[batch, windows]`, each window's contribution, laid out
        as `window_ranges` says) and the int32 `window_start`,
        `window_stop`, `window_kernel_size` (`[windows]`).
        `bias + cls_token + sum(windows) == score` up to float rounding.
    """
    outputs, padding_mask = passed["outputs"], passed["padding_mask"]
    scores = postprocessing.logits(outputs, multi_label, from_logits)
    if class_ids is None:
        class_ids = tf.argmax(scores, axis=-1, output_type=tf.int32)
    class_ids = tf.cast(class_ids, tf.int32)
    picked = tf.gather(scores, class_ids, batch_dims=1)
    if not multi_label:
        picked -= tf.reduce_mean(scores, axis=-1)
    temperatures = tf.broadcast_to(tf.constant(temperature, tf.float32), tf.shape(scores)[-1:])
    score = picked / tf.gather(temperatures, class_ids)

    kernel, bias = score_weights(model, class_ids, multi_label, temperature)
    length = tf.shape(padding_mask)[1]
    mask = tf.cast(padding_mask, tf.float32)
    real_tokens = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    kernel_sizes, window_parts = [], {}
    cls_token = tf.zeros_like(score)
    column = 0
    for kind, size, values in passed["blocks"]:
        if kind == "cls":
            cls_vector = tf.cast(values, tf.float32)
            width = cls_vector.shape[-1]
            cls_token += tf.reduce_sum(cls_vector * kernel[:, column : column + width], axis=-1)
            column += width
            continue
        values = tf.cast(values, tf.float32)
        width = values.shape[-1]
        if kind == "pair_max":
            # MaxPooling1D(2, 2): pooled position i is the larger of 2i and 2i + 1.
            pairs = tf.shape(values)[1] // 2
            paired = tf.reshape(values[:, : 2 * pairs], [-1, pairs, 2, values.shape[-1]])
            which = tf.argmax(paired, axis=2, output_type=tf.int32)  # [batch, pairs, filters]
            pooled = tf.reduce_max(paired, axis=2)
            width = values.shape[-1] * model.head_layer.sequence_length // 2
            block_kernel = tf.reshape(kernel[:, column : column + width], tf.shape(pooled))
            positions = 2 * tf.range(pairs)[None, :, None] + which
            per_window = _scatter_to_positions(
                tf.reshape(pooled * block_kernel, [tf.shape(pooled)[0], -1]),
                tf.reshape(positions, [tf.shape(pooled)[0], -1]),
                length,
            )
        else:
            block_kernel = kernel[:, column : column + width]
            if kind == "max":
                positions = _masked_argmax(values, padding_mask)
                pooled = tf.reduce_max(tf.where(mask[:, :, None] > 0, values, values.dtype.min), axis=1)
                per_window = _scatter_to_positions(pooled * block_kernel, positions, length)
            else:  # mean: every real position adds its share
                per_window = tf.einsum("btf,bf->bt", values * mask[:, :, None], block_kernel) / real_tokens
        column += width
        window_parts[size] = window_parts.get(size, 0.0) + per_window
        if size not in kernel_sizes:
            kernel_sizes.append(size)
    start, stop, sizes = window_ranges(kernel_sizes, length, passed["window_length"])
    return {
        "outputs": outputs,
        "class_ids": class_ids,
        "score": score,
        "bias": bias,
        "cls_token": cls_token,
        "windows": tf.concat([window_parts[size] for size in kernel_sizes], axis=1),
        "window_start": start,
        "window_stop": stop,
        "window_kernel_size": sizes,
    }


def top_evidence(parts, inputs, top_k):
    """The `top_k` windows of each row that hold text, with their token spans, and the rest.

    Windows that cover only [CLS], [SEP] or padding have no text to show:
    their contributions go to `rest` with every window past the top k, so
    that `bias + cls_token + sum(contribution) + rest == score`. A window
    across a text pair's [SEP] is shown in the text of its first text token.

    Args:
        parts: What `attribute` returned.
        inputs: The token inputs, with `token_begin` and `token_end`
            (`bertcnn_tf.preprocessing.make_packer(..., with_offsets=True)`).
        top_k: int.

    Returns:
        float32 `contribution` and `rest`; int32 `begin`, `end` (byte offsets,
        -1 where a row has fewer windows with text), `segment` (0: the text,
        1: its pair, -1) and `kernel_size` (0), all `[batch, top_k]` but `rest`.
    """
    rows = tf.shape(parts["windows"])[0]
    # Documents in windows: their windows one after the other, as `forward` lays them out.
    token_begin, token_end, segment_ids = (
        tf.reshape(tf.cast(inputs[name], tf.int32), [rows, -1]) for name in ("token_begin", "token_end", "segment_ids")
    )
    is_text = token_begin >= 0
    windows = parts["windows"]
    start, stop = parts["window_start"], parts["window_stop"]
    text_before = tf.pad(tf.cumsum(tf.cast(is_text, tf.int32), axis=1), [[0, 0], [1, 0]])
    has_text = tf.gather(text_before, stop, axis=1) - tf.gather(text_before, start, axis=1) > 0

    count = tf.minimum(top_k, tf.shape(windows)[1])
    ranked = tf.where(has_text, windows, tf.fill(tf.shape(windows), float("-inf")))
    _, chosen = tf.math.top_k(ranked, k=count)
    chosen_has_text = tf.gather(has_text, chosen, batch_dims=1)
    contribution = tf.where(chosen_has_text, tf.gather(windows, chosen, batch_dims=1), 0.0)
    rest = tf.reduce_sum(windows, axis=1) - tf.reduce_sum(contribution, axis=1)

    # Token masks of the chosen windows: [batch, k, time].
    positions = tf.range(tf.shape(token_begin)[1])[None, None, :]
    inside = (
        (positions >= tf.gather(start, chosen)[:, :, None])
        & (positions < tf.gather(stop, chosen)[:, :, None])
        & is_text[:, None, :]
    )
    first = tf.argmax(tf.cast(inside, tf.int32), axis=2, output_type=tf.int32)
    segment = tf.gather(segment_ids, first, batch_dims=1)
    inside &= tf.equal(segment_ids[:, None, :], segment[:, :, None])
    big = tf.int32.max
    begin = tf.reduce_min(tf.where(inside, token_begin[:, None, :], big), axis=2)
    end = tf.reduce_max(tf.where(inside, token_end[:, None, :], -1), axis=2)
    kernel_size = tf.gather(parts["window_kernel_size"], chosen)
    padding = [[0, 0], [0, top_k - count]]

    def padded(values, fill):
        values = tf.where(chosen_has_text, values, tf.cast(fill, values.dtype))
        return tf.pad(values, padding, constant_values=fill)

    return {
        "contribution": padded(contribution, 0.0),
        "rest": rest,
        "begin": padded(begin, -1),
        "end": padded(end, -1),
        "segment": padded(segment, -1),
        "kernel_size": padded(kernel_size, 0),
    }
