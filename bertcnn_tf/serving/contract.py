"""The serving contract: signature, input and output names, and the files beside the graph.

Everything a client of TF Serving, the export and the checks agree on.
"""

import os

import numpy as np


SERVING_SIGNATURE = "serving_default"
TOKENS_SIGNATURE = "predict_tokens"
EXPLAIN_SIGNATURE = "explain"
TEXT_INPUT = "text"
PAIR_INPUT = "text_pair"
# Paths inside a version directory. `assets/` holds files a client or the
# graph may read (the labels); `assets.extra/` holds files that travel with
# the model but are not part of the graph: TF Serving reads its warmup file
# from there, and the model card and the Keras reference outputs belong with
# it, since no op ever reads them.
LABELS_ASSET = os.path.join("assets", "labels.txt")
MODEL_CARD = os.path.join("assets.extra", "model_card.json")
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
KERAS_REFERENCE = os.path.join("assets.extra", "keras_reference.json")


def output_specs(num_labels, multi_label):
    """{output name: (dtype name, shape)} of both signatures.

    Single-label: `probabilities`, `label_id`, `label`. Multi-label:
    `probabilities`, and `label_ids` / `labels` `[batch, num_labels]`: the
    ids and names over the threshold first, in class order, then -1 / "".
    """
    probabilities = ("DT_FLOAT", [None, num_labels])
    if multi_label:
        return {
            "probabilities": probabilities,
            "label_ids": ("DT_INT32", [None, num_labels]),
            "labels": ("DT_STRING", [None, num_labels]),
        }
    return {
        "probabilities": probabilities,
        "label_id": ("DT_INT32", [None]),
        "label": ("DT_STRING", [None]),
    }


def explain_output_specs(top_k):
    """{output name: (dtype name, shape)} of the `explain` signature.

    Per text: the explained `label` (the most probable one) and its
    `label_id` and `probability`; its `score` and the split of it, `bias`,
    `cls_token` (0 without `with_cls_token`) and `rest`; and the top-k
    evidence spans, batch-first `[batch, top_k]`: UTF-8 byte offsets
    `evidence_begin` and `evidence_end` (-1 where a text has fewer spans),
    `evidence_text`, `evidence_contribution`, `evidence_kernel_size` and
    `evidence_segment` (0: `text`, 1: `text_pair`, -1: none).
    `bias + cls_token + sum(evidence_contribution) + rest == score`.
    """
    per_text = {
        "label": ("DT_STRING", [None]),
        "label_id": ("DT_INT32", [None]),
        "probability": ("DT_FLOAT", [None]),
        "score": ("DT_FLOAT", [None]),
        "bias": ("DT_FLOAT", [None]),
        "cls_token": ("DT_FLOAT", [None]),
        "rest": ("DT_FLOAT", [None]),
    }
    per_span = {
        "evidence_begin": ("DT_INT32", [None, top_k]),
        "evidence_end": ("DT_INT32", [None, top_k]),
        "evidence_text": ("DT_STRING", [None, top_k]),
        "evidence_contribution": ("DT_FLOAT", [None, top_k]),
        "evidence_kernel_size": ("DT_INT32", [None, top_k]),
        "evidence_segment": ("DT_INT32", [None, top_k]),
    }
    return {**per_text, **per_span}


def text_input_names(text_pair):
    """`["text"]`, or `["text", "text_pair"]` for a sentence-pair model."""
    return [TEXT_INPUT, PAIR_INPUT] if text_pair else [TEXT_INPUT]


def text_columns(texts, text_pairs=None):
    """`{input name: texts}` of the text signature."""
    columns = {TEXT_INPUT: list(texts)}
    if text_pairs is not None:
        columns[PAIR_INPUT] = list(text_pairs)
    return columns


def string_array(values):
    """An object array of bytes; str items are UTF-8 encoded."""
    flat = [value.encode("utf-8") if isinstance(value, str) else value for value in values]
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array
