"""The Keras model's own outputs on probe texts: what an export must reproduce."""

import numpy as np

from bertcnn_tf import postprocessing
from bertcnn_tf.preprocessing import TOKEN_FEATURES

# Texts on which the export is compared with Keras: short, empty, accented
# and CJK, and longer than any sequence length (so truncation is exercised).
PROBE_TEXTS = (
    "The parcel arrived late and the box was damaged.",
    "great service, thank you!",
    "",
    "Café naïve résumé 東京 😀",
    " ".join(["refund please"] * 300),
    "ok",
)
PROBE_PAIRS = (
    "Was it late?",
    " ".join(["a much longer second text"] * 60),
    "not empty",
    "",
    "short",
    "   ",
)


def keras_reference(run, texts=PROBE_TEXTS, text_pairs=None, explain_top_k=None):
    """The Keras model's inputs and probabilities for `texts` (and `text_pairs`).

    With `explain_top_k`, also `explain`: what `bertcnn_tf.explain` gives
    for each text, in the `explain` signature's terms (`explain_reference`).

    Runs the model's own keras-hub preprocessor (what `fit` and `predict` run
    on raw strings), which pads to its `sequence_length`, so a match with the
    export also shows that its tokens and its per-batch padding change nothing.
    """
    model = run.model
    segments = list(texts) if text_pairs is None else (list(texts), list(text_pairs))
    # `x=`: a positional tuple would be read as (x, y) by keras-hub.
    features = model.preprocessor(x=segments)
    inputs = {key: np.asarray(value, dtype=np.int32) for key, value in features.items()}
    outputs = model(inputs, training=False)
    from_logits = not postprocessing.outputs_are_probabilities(model, run.multi_label)
    reference = {key: inputs[key].tolist() for key in TOKEN_FEATURES}
    probabilities = postprocessing.probabilities(outputs, run.multi_label, from_logits, run.temperature)
    reference.update(
        texts=list(texts),
        text_pairs=None if text_pairs is None else list(text_pairs),
        probabilities=probabilities.numpy().tolist(),
    )
    if explain_top_k:
        reference["explain"] = explain_reference(run, texts, text_pairs, explain_top_k, reference["probabilities"])
    return reference


def explain_reference(run, texts, text_pairs, top_k, probabilities):
    """`bertcnn_tf.explain` of each text's most probable label, in the `explain` signature's terms.

    Offsets are UTF-8 bytes, as the signature gives them.
    """
    from bertcnn_tf.inference import explain

    labels = [run.labels[index] for index in np.asarray(probabilities).argmax(axis=1)]
    pairs = None if text_pairs is None else list(text_pairs)
    rows = []
    for index, item in enumerate(explain(run, list(texts), text_pairs=pairs, top_k=top_k, label=labels)):
        item = item["explanations"][0] if run.multi_label else item
        sources = [texts[index]] + ([] if pairs is None else [pairs[index]])
        spans = []
        for span in item["evidence"]:
            source = sources[0 if span["segment"] == "text" else 1]
            begin = len(source[: span["start"]].encode("utf-8"))
            spans.append([begin, begin + len(span["text"].encode("utf-8")), span["contribution"], span["kernel_size"]])
        rows.append(
            {
                "label": item["label"],
                "score": item["score"],
                "bias": item["bias"],
                "cls_token": item.get("cls_token", 0.0),
                "rest": item["rest"],
                "spans": spans,
            }
        )
    return rows
