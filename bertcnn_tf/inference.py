"""Keras prediction for many texts: tokenized once, run in length-sorted batches.

`predict` is what `bertcnn predict` and a notebook call, and `explain`
gives the spans behind each label; padding is paid only where it exists,
since every head but `"seed"` gives the same logits at any padding.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from bertcnn_tf import postprocessing
from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.data.files import Examples
from bertcnn_tf.explanations import explain_texts
from bertcnn_tf.layers.windowed_pooling import counted_positions
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.preprocessing import detached_preprocessor
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.preprocessing import length_sorted_batches
from bertcnn_tf.preprocessing import tokenize_all
from bertcnn_tf.preprocessing import tokenize_windows
from bertcnn_tf.training.runs import as_run


def predict_logits(model, examples, batch_size=32):
    """The model's outputs for `Examples`, in the input order.

    Texts are tokenized once, sorted by length and batched, and each batch is
    cut to its own longest text, so a short text is never padded to the
    longest of the whole input. The heads here give the same logits at any
    padding, so only the cost changes. `predict_on_batch` runs the compiled
    model without `predict`'s per-call iterator and callbacks.
    """
    if len(examples) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype="float32")
    if getattr(model, "windowed_pooling", None) is not None and keras.backend.backend() == "tensorflow":
        return predict_document_logits(model, examples, batch_size)
    features = tokenize_all(examples, model.preprocessor)
    fixed = fixed_length(model)
    outputs = None
    with detached_preprocessor(model):
        for rows, batch in length_sorted_batches(features, batch_size, fixed):
            logits = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(batch)), "float32")
            if outputs is None:
                outputs = np.empty((len(features["token_ids"]), logits.shape[-1]), dtype="float32")
            outputs[rows] = logits
    return outputs


def predict_document_logits(model, examples, batch_size=32):
    """The outputs of a model that reads documents in windows, in the input order.

    Batching whole documents pads each one's last window, rarely full, to
    the longest window of its batch. Here every window is a row instead
    (`tokenize_windows`): the windows of all documents are sorted by length
    and run `batch_size` at a time, each batch cut to its longest window,
    like short texts. The backbone and head give each window's statistics
    (`WindowedPooling.window_statistics`), which are combined per document
    (the max of maxima, the sum of sums) before the output layer. The
    logits are `model.predict`'s, up to float rounding in the means.
    """
    rows = tokenize_windows(examples, model.preprocessor)
    document, last_window = rows.pop("document"), rows.pop("last_window")
    rows["counted"] = keras.ops.convert_to_numpy(
        counted_positions(rows["padding_mask"], last_window, model.window_stride)
    )
    poolings = _window_poolings(model)
    statistics = _window_statistics_function(model)
    totals = None
    for picked, batch in length_sorted_batches(rows, batch_size):
        parts = statistics(batch)
        if totals is None:
            totals = [
                (
                    [np.full((len(examples), piece.shape[-1]), -np.inf if reduction == "max" else 0.0, "float32")
                     for piece, reduction in zip(pieces, pooling.reductions)],
                    np.zeros((len(examples), 1), "float32"),
                )
                for (pieces, _), pooling in zip(parts, poolings)
            ]
        owners = document[picked]
        for (pieces, count), (total_pieces, total_count), pooling in zip(parts, totals, poolings):
            for piece, total, reduction in zip(pieces, total_pieces, pooling.reductions):
                (np.maximum if reduction == "max" else np.add).at(total, owners, piece.numpy())
            np.add.at(total_count, owners, count.numpy())
    features = [pooling.features_from_statistics(*total) for pooling, total in zip(poolings, totals)]
    features = features[0] if len(features) == 1 else keras.ops.concatenate(features, axis=-1)
    return np.asarray(keras.ops.convert_to_numpy(model.output_dense(features)), "float32")


def _window_poolings(model):
    """The model's `WindowedPooling` layers, in the order its features are concatenated."""
    return [model.windowed_pooling] + ([model.windowed_cls_token] if model.windowed_cls_token is not None else [])


# Tracing the backbone costs about a second: one function per model.
_WINDOW_STATISTICS = weakref.WeakKeyDictionary()


def _window_statistics_function(model):
    """A traced `rows -> [(pieces, count)]` per `WindowedPooling` of the model."""
    if model not in _WINDOW_STATISTICS:
        model_ref = weakref.ref(model)  # the cached function must not keep its key alive
        spec = {name: tf.TensorSpec([None, None], tf.int32) for name in ("token_ids", "segment_ids", "padding_mask")}

        @tf.function(input_signature=[{**spec, "counted": tf.TensorSpec([None, None], tf.bool)}])
        def statistics(batch):
            network = model_ref()
            tokens = {name: batch[name] for name in spec}
            sequence = network.backbone(tokens, training=False)["sequence_output"]
            return [
                pooling.window_statistics(sequence, batch["padding_mask"], batch["counted"])
                for pooling in _window_poolings(network)
            ]

        _WINDOW_STATISTICS[model] = statistics
    return _WINDOW_STATISTICS[model]


def predict_probabilities(model, examples, multi_label=False, batch_size=32, temperature=1.0):
    """Class probabilities for `Examples`, in the input order.

    Returns:
        float32 `[n, classes]`: softmax probabilities, or per-label sigmoid
        probabilities when `multi_label`, of the logits divided by
        `temperature` (`bertcnn_tf.postprocessing`; a model that outputs
        probabilities itself is taken as it is).

    Example:
    ```python
    import bertcnn_tf

    run = bertcnn_tf.load_run("runs/demo")
    texts = ["charged twice", "parcel never came"]
    predict_probabilities(run.model, bertcnn_tf.Examples(texts=texts, labels=[[], []]))
    ```
    """
    from_logits = not postprocessing.outputs_are_probabilities(model, multi_label)
    outputs = predict_logits(model, examples, batch_size)
    return postprocessing.probabilities(outputs, multi_label, from_logits, temperature).numpy()


def predict(run, texts, text_pairs=None, batch_size=32, precision=None, abstain_below=None, explain_top_k=None):
    """Labels and probabilities of a trained run for new texts.

    Args:
        run: A `Run` (`bertcnn_tf.load_run`) or a run folder.
        texts: A list of strings, or `Examples`.
        text_pairs: The second texts, for a sentence-pair model.
        batch_size: int.
        precision: Optional dtype to compute in (`bertcnn_tf.with_compute_dtype`).
        abstain_below: Answer the run's `unknown_label` where the top
            probability is below this (single-label), instead of the run's own
            tuned value (`bertcnn train --abstain`).
        explain_top_k: Also give the top spans behind each label, as
            `explain` does: `explanation` (multi-label: `explanations`).

    Returns:
        One dict per text: `label` (multi-label: `labels`, a list; the
        `unknown_label` where the model abstains) and `probabilities`,
        `{label: probability}`.

    Example:
    ```python
    import bertcnn_tf

    bertcnn_tf.predict("runs/demo", ["I was charged twice"])
    # [{"label": "billing", "probabilities": {"billing": 0.93, ...}}]
    ```
    """
    run = as_run(run)
    if abstain_below is not None:
        run = run.with_settings(abstain_below=abstain_below)
    examples = Examples.unlabelled(texts, text_pairs)
    if run.text_pair_column and examples.pairs is None:
        raise ValueError("This model reads sentence pairs: pass `text_pairs` (or --input FILE with the pair column).")
    model = with_compute_dtype(run.model, precision) if precision else run.model
    from_logits = not postprocessing.outputs_are_probabilities(model, run.multi_label)
    decided = postprocessing.postprocess(
        predict_logits(model, examples, batch_size), run.labels, run.multi_label, from_logits=from_logits,
        **run.decision_settings,
    )
    records = postprocessing.records(decided, run.labels, run.multi_label)
    if explain_top_k:
        for record, explained in zip(records, explain(run, examples, top_k=explain_top_k, batch_size=batch_size,
                                                      precision=precision)):
            if run.multi_label:
                record["explanations"] = explained["explanations"]
            else:
                record["explanation"] = {k: v for k, v in explained.items() if k not in ("text", "text_pair")}
    return records


def explain(run, texts, text_pairs=None, top_k=EXPLAIN_TOP_K, label=None, batch_size=32, precision=None):
    """The spans of each text that decided its label: an exact split of its score.

    A run's labels, temperature and threshold with
    `bertcnn_tf.explanations.explain_texts`. For each text: the explained
    `label` (the predicted one, or `label`), its `probability` and `score`
    (the class's logit minus the mean logit, or for multi-label the
    label's logit, divided by the run's temperature), and its split:
    `bias + sum of the evidence spans' contributions + rest == score` (plus
    `cls_token` for `with_cls_token=True` models) up to float rounding.
    Each span has `start` and `end` character offsets into its text
    (`segment`: "text" or "text_pair"), its `text`, `contribution` and
    `kernel_size`. Multi-label models explain each predicted label. The
    result shows as highlighted spans in Jupyter; `.save_html(path)` writes
    a page.

    Args:
        run: A `Run` (`bertcnn_tf.load_run`) or a run folder.
        texts: A list of strings, or `Examples`.
        text_pairs: The second texts, for a sentence-pair model.
        top_k: int. Spans per explained label.
        label: A label name (or one per text) to explain instead of the predicted one.
        batch_size: int.
        precision: Optional dtype to compute in (`bertcnn_tf.with_compute_dtype`).

    Example:
    ```python
    import bertcnn_tf

    why = bertcnn_tf.explain("runs/demo", ["I was charged twice for one parcel"], top_k=2)
    why[0]["label"], why[0]["evidence"][0]["text"]  # ("billing", "charged twice")
    ```
    """
    run = as_run(run)
    examples = Examples.unlabelled(texts, text_pairs)
    if run.text_pair_column and examples.pairs is None:
        raise ValueError("This model reads sentence pairs: pass `text_pairs` (or --input FILE with the pair column).")
    model = with_compute_dtype(run.model, precision) if precision else run.model
    return explain_texts(
        model, examples, top_k=top_k, label=label, batch_size=batch_size, labels=run.labels,
        multi_label=run.multi_label, temperature=run.temperature, threshold=run.threshold,
    )
