"""The model card, `assets.extra/model_card.json`: what the model is, how it was trained, what serves it."""

import datetime
import json
import os

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text

from bertcnn_tf.precision import compute_dtype
from bertcnn_tf.preprocessing import TOKEN_FEATURES
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.serving.contract import EXPLAIN_SIGNATURE
from bertcnn_tf.serving.contract import MODEL_CARD
from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import TOKENS_SIGNATURE
from bertcnn_tf.serving.contract import explain_output_specs
from bertcnn_tf.serving.contract import output_specs
from bertcnn_tf.serving.contract import text_input_names
from bertcnn_tf.serving.ops import min_tf_serving_version
from bertcnn_tf.serving.ops import non_core_ops
from bertcnn_tf.training.runs import REPORT_FILE
from bertcnn_tf.version import __version__

# What TF Serving needs to run an export whose model call XLA compiles
# (`jit_compile=True`): without it the first request fails.
XLA_SERVING_FLAG = "--xla_cpu_compilation_enabled=true"


def model_card(run, model_name, ops, run_dir=None, jit_compile=False, explain_top_k=None):
    """The model card: what the model is, how it was trained, what serves it.

    `explain_top_k` is the `explain` signature's spans per text, `None`
    where the export has no `explain` signature (a `"cls"` head).
    """
    model = run.model
    preprocessor = model.preprocessor
    non_core = non_core_ops(ops)
    outputs = sorted(output_specs(len(run.labels), run.multi_label))
    text_inputs = text_input_names(bool(run.text_pair_column))
    signatures = {
        SERVING_SIGNATURE: {"inputs": text_inputs, "outputs": outputs},
        TOKENS_SIGNATURE: {"inputs": list(TOKEN_FEATURES), "outputs": outputs},
    }
    if explain_top_k:
        signatures[EXPLAIN_SIGNATURE] = {"inputs": text_inputs, "outputs": sorted(explain_output_specs(explain_top_k))}
    return {
        "name": model_name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backbone": _backbone_summary(model, run.settings),
        "head": run.settings.get("head", getattr(model, "head", None)),
        "compute_dtype": compute_dtype(model),
        "sequence_length": preprocessor.sequence_length,
        "fixed_sequence_length": fixed_length(model),
        # Documents in windows of sequence_length tokens (null: truncated there).
        "max_document_length": getattr(preprocessor, "max_document_length", None),
        "window_stride": getattr(model, "window_stride", None),
        "truncate": preprocessor.truncate,
        "text_pair": bool(run.text_pair_column),
        "labels": list(run.labels),
        "multi_label": run.multi_label,
        "threshold": run.threshold,
        "temperature": run.temperature,
        "abstain_below": run.abstain_below,
        "unknown_label": run.unknown_label,
        "metrics": read_metrics(run_dir),
        "signatures": signatures,
        "explain_top_k": explain_top_k,
        "non_core_ops": non_core,
        "min_tf_serving_version": min_tf_serving_version(non_core),
        "jit_compile": bool(jit_compile),
        "tf_serving_flags": [XLA_SERVING_FLAG] if jit_compile else [],
        "versions": {
            "tensorflow": tf.__version__,
            "tensorflow_text": tensorflow_text.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
            "bertcnn_tf": __version__,
        },
        "source_run": run_dir,
    }


def read_model_card(path):
    """The model card (a dict) of a version directory.

    Example:
    ```python
    import bertcnn_tf

    card = bertcnn_tf.read_model_card("saved_models/demo/1")
    card["labels"], card["min_tf_serving_version"], card["tf_serving_flags"]
    ```
    """
    with open(os.path.join(path, MODEL_CARD), encoding="utf-8") as f:
        return json.load(f)


def read_metrics(run_dir):
    """The scalar metrics of each split in the run's report.json, or None."""
    path = run_dir and os.path.join(run_dir, REPORT_FILE)
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    splits = report.get("splits") or {}
    return {
        split: {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
        for split, metrics in splits.items()
    } or report.get("metrics")


def _backbone_summary(model, settings):
    summary = {"source": settings.get("backbone")}
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        summary.update(
            {
                "class": type(backbone).__name__,
                "num_layers": backbone.num_layers,
                "hidden_dim": backbone.hidden_dim,
                "vocabulary_size": backbone.vocabulary_size,
                "dtype": backbone.dtype_policy.name,
            }
        )
    return summary
