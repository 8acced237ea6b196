"""Model outputs → probabilities → decisions: the one place that makes them.

Python prediction, evaluation, the SavedModel's serving graph and the
serving checks all call these functions, so a label means the same thing
everywhere. They are TensorFlow ops: traced into the export's graph, and
run eagerly (on numpy arrays too) everywhere else.

- Single-label: softmax probabilities; the label is the most probable class.
- Multi-label: one sigmoid probability per label; the labels are those at
  or above the run's `threshold`.
- A run's `temperature` (fitted after training on the validation split,
  `bertcnn_tf.training.calibration`) divides the logits first.

A model whose `Dense` layer already applies the matching activation
(`BertCNNClassifier(..., activation="softmax")`, or `"sigmoid"` for
multi-label) gives probabilities, which pass through unchanged
(`outputs_are_probabilities`).
"""

import keras
import tensorflow as tf


def outputs_are_probabilities(model, multi_label):
    """Whether `model`'s outputs are already the probabilities (not logits).

    keras-hub's `TextClassifier.compile` reads the `activation` attribute the
    same way to choose `from_logits`. An activation that is neither none nor
    the one that makes probabilities (a ReLU, say) is refused.
    """
    activation = keras.activations.get(getattr(model, "activation", None))
    if activation is keras.activations.linear:
        return False
    expected = keras.activations.sigmoid if multi_label else keras.activations.softmax
    if activation is not expected:
        kind = "multi-label" if multi_label else "single-label"
        raise ValueError(
            f"a {kind} model's outputs must be logits (activation=None) or probabilities "
            f"(activation={expected.__name__!r}), not activation={activation.__name__!r}."
        )
    return True


def logits(outputs, multi_label, from_logits=True):
    """float32 logits of `outputs`: as they are, or recovered from probabilities.

    A softmax's logits are known up to a constant, which a softmax ignores:
    `log(p)`; a sigmoid's are `log(p / (1 - p))`.
    """
    outputs = tf.cast(tf.convert_to_tensor(outputs), tf.float32)
    if from_logits:
        return outputs
    if multi_label:
        return tf.math.log(outputs) - tf.math.log1p(-outputs)
    return tf.math.log(outputs)


def probabilities(outputs, multi_label, from_logits=True, temperature=1.0):
    """float32 softmax (single-label) or sigmoid (multi-label) probabilities of `outputs`.

    `temperature` divides the logits first (`bertcnn_tf.training.calibration`):
    one number, or one per label for multi-label. It never changes which
    class is the most probable.

    Example:
    ```python
    probabilities([[0.0, 0.0]], multi_label=False).numpy()  # [[0.5, 0.5]]
    probabilities([[2.0, 0.0]], multi_label=False, temperature=2.0).numpy()  # [[0.73, 0.27]]
    ```
    """
    if not from_logits and _is_one(temperature):
        return tf.cast(tf.convert_to_tensor(outputs), tf.float32)
    scaled = logits(outputs, multi_label, from_logits) / tf.constant(temperature, tf.float32)
    return tf.sigmoid(scaled) if multi_label else tf.nn.softmax(scaled)


def _is_one(temperature):
    return all(value == 1.0 for value in (temperature if isinstance(temperature, (list, tuple)) else [temperature]))


def chosen_classes(probabilities, multi_label, threshold=0.5):
    """bool `[batch, classes]`: the class each row is given.

    Single-label: the most probable class (the first of a tie). Multi-label:
    every class whose probability is at least `threshold` (compared in the
    probabilities' dtype, as in the serving graph).

    Example:
    ```python
    chosen_classes([[0.2, 0.8]], multi_label=False).numpy()  # [[False, True]]
    chosen_classes([[0.6, 0.4]], multi_label=True).numpy()   # [[True, False]]
    ```
    """
    probabilities = tf.convert_to_tensor(probabilities)
    if multi_label:
        return probabilities >= tf.convert_to_tensor(threshold, probabilities.dtype)
    best = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return tf.cast(tf.one_hot(best, tf.shape(probabilities)[-1], dtype=tf.int32), tf.bool)


def decisions(probabilities, labels, multi_label, threshold=0.5, abstain_below=None, unknown_label="unknown"):
    """The label outputs of `probabilities`: what the SavedModel answers.

    Single-label: `label_id` `[batch]` and `label` `[batch]`; where the top
    probability is below `abstain_below`, `label_id` -1 and `unknown_label`.
    Multi-label: `label_ids` and `labels` `[batch, classes]`, the chosen
    classes first, in class order, padded with -1 and "": TF Serving's row
    format needs every output batch-first and dense (a row with no label
    over the threshold is multi-label's "unknown"; `abstain_below` is not
    for it).

    Example:
    ```python
    decisions([[0.2, 0.8]], ["billing", "delivery"], multi_label=False)["label"]  # [b"delivery"]
    ```
    """
    if multi_label and abstain_below is not None:
        raise ValueError(
            "abstain_below is for single-label models: a multi-label model already answers no label "
            "where none reaches its threshold (raise --threshold instead)."
        )
    probabilities = tf.convert_to_tensor(probabilities)
    names = tf.constant(list(labels))
    chosen = chosen_classes(probabilities, multi_label, threshold)
    if not multi_label:
        label_id = tf.argmax(tf.cast(chosen, tf.int32), axis=-1, output_type=tf.int32)
        label = tf.gather(names, label_id)
        if abstain_below is not None:
            unsure = tf.reduce_max(probabilities, axis=-1) < tf.convert_to_tensor(abstain_below, probabilities.dtype)
            label_id = tf.where(unsure, -1, label_id)
            label = tf.where(unsure, tf.constant(unknown_label), label)
        return {"label_id": label_id, "label": label}
    class_ids = tf.range(len(labels), dtype=tf.int32)
    # Chosen classes sort before the others; each group stays in class order.
    order = tf.argsort(tf.where(chosen, class_ids, class_ids + len(labels)), axis=-1)
    chosen_first = tf.gather(chosen, order, batch_dims=1)
    return {
        "label_ids": tf.where(chosen_first, order, -1),
        "labels": tf.where(chosen_first, tf.gather(names, order), ""),
    }


def postprocess(
    outputs, labels, multi_label, threshold=0.5, from_logits=True, temperature=1.0, abstain_below=None,
    unknown_label="unknown",
):
    """`probabilities` (at `temperature`) and the `decisions` on them, in one dict.

    Example:
    ```python
    postprocess([[1.0, 3.0]], ["billing", "delivery"], multi_label=False)
    # {"probabilities": [[0.12, 0.88]], "label_id": [1], "label": [b"delivery"]}
    ```
    """
    result = {"probabilities": probabilities(outputs, multi_label, from_logits, temperature)}
    result.update(decisions(result["probabilities"], labels, multi_label, threshold, abstain_below, unknown_label))
    return result


def records(postprocessed, labels, multi_label):
    """One JSON-ready dict per row: its label (or labels) and every class's probability.

    Example:
    ```python
    records(postprocess([[1.0, 3.0]], ["billing", "delivery"], False), ["billing", "delivery"], False)
    # [{"label": "delivery", "probabilities": {"billing": 0.119203, "delivery": 0.880797}}]
    ```
    """
    rows = []
    chosen = postprocessed["labels" if multi_label else "label"].numpy()
    for decision, row in zip(chosen, postprocessed["probabilities"].numpy()):
        if multi_label:
            record = {"labels": [name.decode("utf-8") for name in decision if name]}
        else:
            record = {"label": decision.decode("utf-8")}
        record["probabilities"] = {label: round(float(p), 6) for label, p in zip(labels, row)}
        rows.append(record)
    return rows
