"""Why this label: the spans of text that decided it.

`explain_texts` (what `BertCNNClassifier.explain` and `bertcnn_tf.explain`
run) returns, for each text, the explained label, its probability, its
`score` and the split of that score (`bertcnn_tf.attribution`): a `bias`,
the top-k `evidence` spans, each with its `contribution`, and `rest`, the
sum of every other window, so that

    bias + sum(span["contribution"] for span in evidence) + rest == score

(plus `cls_token`, the [CLS] vector's part, for `with_cls_token=True`
models), up to float rounding. The score is the class's logit minus the mean
logit (a softmax cannot shift it), or for multi-label the label's logit,
divided by the run's temperature.

Each span has `start` and `end` character offsets into the text (or into
`text_pair`, as its `segment` says), so that `text[start:end]` is its
`text`. The result shows as highlighted HTML in Jupyter, and
`Explanations.save_html` writes it as one offline page.
"""

import weakref

import numpy as np
import tensorflow as tf

from bertcnn_tf import attribution
from bertcnn_tf import postprocessing
from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.data.files import Examples
from bertcnn_tf.explanation_report import render_page
from bertcnn_tf.io_utils import atomic_write_text
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.preprocessing import length_sorted_batches
from bertcnn_tf.preprocessing import tokenize_all

SEGMENTS = ("text", "text_pair")


class Explanations(list):
    """One explanation dict per text; shows as highlighted spans in Jupyter.

    Example:
    ```python
    explanations = bertcnn_tf.explain("runs/demo", ["I was charged twice"])
    explanations[0]["evidence"][0]["text"]  # "charged twice"
    explanations.save_html("why.html")
    ```
    """

    def _repr_html_(self):
        return render_page(self, standalone=False)

    def to_html(self, title="Why these labels"):
        """The explanations as one offline HTML page."""
        return render_page(self, title=title)

    def save_html(self, path, title="Why these labels"):
        """Writes `to_html()` to `path` (atomically)."""
        atomic_write_text(path, self.to_html(title))
        return path


def explain_texts(
    model,
    texts,
    text_pairs=None,
    top_k=EXPLAIN_TOP_K,
    label=None,
    batch_size=32,
    labels=None,
    multi_label=None,
    temperature=1.0,
    threshold=0.5,
):
    """The spans of each text that decided its label, as an exact split of the score.

    What `BertCNNClassifier.explain` and `bertcnn_tf.explain` (over a run,
    with its labels, temperature and threshold) run.

    Args:
        model: A `BertCNNClassifier` with any head but `"cls"`.
        texts: A list of strings, or `Examples`.
        text_pairs: The second texts, for a sentence-pair model.
        top_k: int. Spans shown per explained label.
        label: Explain this label (a name, or a list of one per text)
            instead of the predicted one (for multi-label, instead of each
            predicted one).
        batch_size: int.
        labels: The class names (default: the class indices, as strings).
        multi_label: Sigmoid outputs, one per label (default: whether the
            model's activation is a sigmoid).
        temperature, threshold: As in `bertcnn_tf.postprocessing`.

    Returns:
        `Explanations`, one dict per text: `text` (and `text_pair`),
        `label`, `probability`, `score`, `bias`, `rest`, `evidence` (a list
        of `{"start", "end", "text", "segment", "contribution",
        "kernel_size"}`, largest contribution first) and, for
        `with_cls_token=True` models, `cls_token`. A multi-label model gives
        `labels` and one such dict per predicted label in `explanations`.

    Example:
    ```python
    why = explain_texts(classifier, ["the quick fox"], top_k=2, labels=["animal", "other"])
    why[0]["label"], why[0]["evidence"][0]["text"]  # ("animal", "quick fox")
    ```
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}.")
    attribution.check_explainable(model)
    setting = _Setting(
        model,
        [str(i) for i in range(model.num_classes)] if labels is None else labels,
        _is_sigmoid(model) if multi_label is None else multi_label,
        temperature,
        threshold,
    )
    examples = Examples.unlabelled(texts, text_pairs)
    asked = _asked_classes(label, setting, len(examples))
    if len(examples) == 0:
        return Explanations()
    features = tokenize_all(examples, model.preprocessor, with_offsets=True)
    explain_batch = _batch_explainer(model, setting, top_k)
    results = [None] * len(examples)
    for rows, batch in length_sorted_batches(features, batch_size, fixed_length(model)):
        batch = {name: tf.constant(value) for name, value in batch.items()}
        classes = None if asked is None else tf.constant(asked[rows], tf.int32)
        for row, found in zip(rows, explain_batch(batch, classes)):
            results[row] = found
    return Explanations(
        _record(examples, row, found, setting) for row, found in enumerate(results)
    )


class _Setting:
    """What explaining needs to know besides the network: labels and how outputs become probabilities."""

    def __init__(self, model, labels, multi_label, temperature, threshold):
        self.model, self.labels, self.multi_label = model, list(labels), multi_label
        self.temperature, self.threshold = temperature, threshold
        self.from_logits = not postprocessing.outputs_are_probabilities(model, multi_label)


def _is_sigmoid(model):
    import keras

    return keras.activations.get(getattr(model, "activation", None)) is keras.activations.sigmoid


def _asked_classes(label, setting, count):
    if label is None:
        return None
    asked = [label] * count if isinstance(label, (str, int)) else list(label)
    if len(asked) != count:
        raise ValueError(f"`label` has {len(asked)} entries for {count} texts: give one label, or one per text.")
    names = {name: index for index, name in enumerate(setting.labels)}
    unknown = sorted({str(name) for name in asked if str(name) not in names})
    if unknown:
        raise ValueError(f"Unknown label(s) {unknown}: the model's labels are {setting.labels}.")
    return np.array([names[str(name)] for name in asked], dtype="int32")


# One traced explainer per model and setting: tracing the model costs about
# a second, so a new `tf.function` per `explain` call would cost that on
# every call.
_EXPLAINERS = weakref.WeakKeyDictionary()


def _batch_explainer(network, setting, top_k):
    """A function `(batch, class_ids or None) -> [for each row, a list of explained-label dicts]`.

    Traced once per model, labels setting and `top_k`, and reused.
    """
    key = (tuple(setting.labels), setting.multi_label, str(setting.temperature), setting.threshold, top_k)
    cache = _EXPLAINERS.setdefault(network, {})
    if key not in cache:
        # The cached function holds the model weakly: it is this cache's key.
        cache[key] = _new_batch_explainer(
            weakref.ref(network), setting.multi_label, setting.from_logits, setting.temperature,
            setting.threshold, top_k,
        )
    return cache[key]


def _new_batch_explainer(network_ref, multi_label, from_logits, temperature, threshold, top_k):

    @tf.function(reduce_retracing=True)
    def explain_rows(batch, class_ids):
        network = network_ref()
        passed = attribution.forward(network, batch)
        probabilities = postprocessing.probabilities(passed["outputs"], multi_label, from_logits, temperature)
        if multi_label and class_ids is None:  # every predicted label of every row
            chosen = tf.cast(tf.where(postprocessing.chosen_classes(probabilities, True, threshold)), tf.int32)
            rows, classes = chosen[:, 0], chosen[:, 1]
        else:
            rows = tf.range(tf.shape(probabilities)[0])
            classes = tf.argmax(probabilities, axis=-1, output_type=tf.int32) if class_ids is None else class_ids
        parts = attribution.split_score(
            network, attribution.rows_of(passed, rows), classes, multi_label, temperature, from_logits,
        )
        found = attribution.top_evidence(parts, {name: tf.gather(value, rows) for name, value in batch.items()}, top_k)
        found.update(
            rows=rows,
            classes=classes,
            probability=tf.gather(tf.gather(probabilities, rows), classes, batch_dims=1),
            score=parts["score"],
            bias=parts["bias"],
            cls_token=parts["cls_token"],
        )
        return found

    def run(batch, class_ids):
        found = {name: value.numpy() for name, value in explain_rows(batch, class_ids).items()}
        per_row = [[] for _ in range(len(batch["token_ids"]))]
        for index, row in enumerate(found["rows"]):
            per_row[row].append(
                {
                    "class_id": int(found["classes"][index]),
                    "probability": float(found["probability"][index]),
                    "score": float(found["score"][index]),
                    "bias": float(found["bias"][index]),
                    "cls_token": float(found["cls_token"][index]),
                    "rest": float(found["rest"][index]),
                    "spans": [
                        (int(b), int(e), int(s), float(c), int(k))
                        for b, e, s, c, k in zip(
                            found["begin"][index], found["end"][index], found["segment"][index],
                            found["contribution"][index], found["kernel_size"][index],
                        )
                        if b >= 0
                    ],
                }
            )
        return per_row

    return run


def _record(examples, row, found, setting):
    """The JSON-ready dict of one text."""
    texts = [examples.texts[row]] + ([examples.pairs[row]] if examples.pairs is not None else [])
    encoded = [text.encode("utf-8") for text in texts]
    record = {"text": texts[0]}
    if len(texts) > 1:
        record["text_pair"] = texts[1]
    explained = [_explained_label(item, texts, encoded, setting) for item in found]
    if setting.multi_label:
        record["labels"] = [item["label"] for item in explained]
        record["explanations"] = explained
    else:
        record.update(explained[0])
    return record


def _explained_label(item, texts, encoded, setting):
    explained = {
        "label": setting.labels[item["class_id"]],
        "probability": round(item["probability"], 6),
        "score": item["score"],
        "bias": item["bias"],
        "rest": item["rest"],
        "evidence": [
            _span(texts[segment], encoded[segment], begin, end, segment, contribution, kernel_size)
            for begin, end, segment, contribution, kernel_size in item["spans"]
        ],
    }
    if setting.model.with_cls_token:
        explained["cls_token"] = item["cls_token"]
    return explained


def _span(text, encoded, begin, end, segment, contribution, kernel_size):
    """A span with character offsets, from the byte offsets the graph gives."""
    start = len(encoded[:begin].decode("utf-8", "replace"))
    stop = start + len(encoded[begin:end].decode("utf-8", "replace"))
    return {
        "start": start,
        "end": stop,
        "text": text[start:stop],
        "segment": SEGMENTS[segment],
        "contribution": contribution,
        "kernel_size": kernel_size,
    }
