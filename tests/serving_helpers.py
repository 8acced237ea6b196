"""Runs and run folders with tiny random backbones, for the export and serving tests."""

import json
import os

import keras
import keras_hub
import numpy as np
from conftest import built_once
from conftest import tiny_backbone
from conftest import tiny_tokenizer

import bertcnn_tf
from bertcnn_tf.training.runs import REPORT_FILE
from bertcnn_tf.training.runs import Run
from bertcnn_tf.serving.export import export_for_serving

LABELS = ["billing", "delivery", "praise"]
PAIRS_A = [
    "the movie was great !",
    "late delivery",
    "",
    "it was not very good fun at a very good price",
    "ok",
]
PAIRS_B = ["loved it", "", "refund", "the plot was boring and the actors were bad , not fun", "!"]


def make_run(
    head="cnn", multi_label=False, text_pair=False, sequence_length=16, truncate="waterfall", dtype=None,
    with_cls_token=False, activation=None,
):
    """A `Run` around a tiny random `BertCNNClassifier` with three labels."""
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tiny_tokenizer(), sequence_length=sequence_length, truncate=truncate
    )
    model = bertcnn_tf.BertCNNClassifier(
        tiny_backbone(dtype=dtype), num_classes=len(LABELS), preprocessor=preprocessor, head=head, filters=8,
        with_cls_token=with_cls_token, activation=activation,
    )
    settings = {
        "backbone": "tiny-random",
        "head": head,
        "sequence_length": sequence_length,
        "multi_label": multi_label,
        "threshold": 0.4,
        "text_column": "text",
        "text_pair_column": "text_b" if text_pair else None,
    }
    return Run(model=model, labels=list(LABELS), settings=settings)


def save_run(run, run_dir):
    """Writes a run folder like `bertcnn train` does, with a small report.json."""
    run.save(run_dir)
    report = {"splits": {"validation": {"examples": 6, "accuracy": 0.5, "macro_f1": 0.25, "per_class": {}}}}
    with open(os.path.join(run_dir, REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f)
    return str(run_dir)


def exported_once(tmp_path_factory, key, make, model="feedback", from_run_folder=True, **options):
    """`(run folder, version path)` of the run `make()` gives, saved and exported once a session
    (`conftest.built_once`) as the model `model`: from its run folder, as `bertcnn export --model RUN`
    does, or from the `Run` object (`from_run_folder=False`: the card then names no run or metrics)."""

    def build(folder):
        run = make()
        run_dir = save_run(run, folder / "run")
        export_for_serving(run_dir if from_run_folder else run, folder / model, **options)

    folder = built_once(tmp_path_factory, key, build)
    return str(folder / "run"), str(folder / model / "1")


def keras_probabilities(run, texts, pairs=None):
    """The Keras model's probabilities, through its own preprocessor (padded to full length)."""
    segments = list(texts) if pairs is None else (list(texts), list(pairs))
    logits = run.model(run.model.preprocessor(x=segments), training=False)
    activation = keras.ops.sigmoid if run.multi_label else keras.ops.softmax
    return keras.ops.convert_to_numpy(activation(keras.ops.cast(logits, "float32")))


def strings(values):
    """An object array of bytes, as the C API feeds DT_STRING."""
    array = np.empty(len(values), dtype=object)
    array[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in values]
    return array


class WidthProbe(keras.layers.Layer):
    """Logits `[0, width / 16]`: they show how wide the token batch fed to the model was."""

    def call(self, token_ids):
        ones = keras.ops.expand_dims(keras.ops.ones_like(token_ids[:, 0], dtype="float32"), -1)
        width = keras.ops.cast(keras.ops.shape(token_ids)[1], "float32")
        return keras.ops.concatenate([0.0 * ones, ones * width / 16.0], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)


def width_probe_run(fixed_length=None, sequence_length=16):
    """A two-label `Run` whose probabilities reveal the padded width of each batch."""
    inputs = {
        name: keras.Input(shape=(fixed_length,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    model = keras.Model(inputs, WidthProbe()(inputs["token_ids"]))
    model.preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), sequence_length)
    return Run(model=model, labels=["narrow", "wide"], settings={"head": "width-probe"})


def widths_from_probabilities(probabilities):
    """Inverts `WidthProbe`: softmax([0, w/16]) gives w = 16 * log(p1 / p0)."""
    return np.rint(16 * np.log(probabilities[:, 1] / probabilities[:, 0])).astype(int)
