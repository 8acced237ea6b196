"""Serving a float32-trained model in bfloat16: `with_compute_dtype` and `export --precision`."""

import keras
import keras_hub
import numpy as np
import pytest
from conftest import TEXTS
from conftest import tiny_backbone
from conftest import tiny_classifier
from conftest import tiny_tokenizer
from serving_helpers import keras_probabilities
from serving_helpers import make_run
from serving_helpers import save_run
from serving_helpers import strings

import bertcnn_tf
from bertcnn_tf.cli import main
from bertcnn_tf.precision import compute_dtype
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.check import check_serving
from bertcnn_tf.serving.export import export_for_serving
from bertcnn_tf.serving.model_card import read_model_card
from bertcnn_tf.training.runs import load_run


def _logits(model, texts=TEXTS):
    logits = model(model.preprocessor(texts), training=False)
    return keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_copy_computes_in_the_dtype_with_the_same_weights(dtype):
    model = tiny_classifier(dropout=0.0)
    copy = with_compute_dtype(model, dtype)
    assert copy is not model and compute_dtype(copy) == "bfloat16"
    assert copy.preprocessor is model.preprocessor
    assert {v.dtype for v in copy.weights} == {"bfloat16" if dtype == "bfloat16" else "float32"}
    for ours, theirs in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_allclose(np.asarray(ours, "float32"), theirs, rtol=1e-2, atol=1e-6)
    assert compute_dtype(model) == "float32"  # the original is untouched
    np.testing.assert_allclose(_logits(copy), _logits(model), atol=5e-2)


def test_keras_hub_text_classifier_is_cast_too():
    preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), 16)
    model = keras_hub.models.BertTextClassifier(tiny_backbone(dropout=0.0), 2, preprocessor=preprocessor)
    copy = with_compute_dtype(model, "bfloat16")
    assert type(copy) is keras_hub.models.BertTextClassifier
    assert {v.dtype for v in copy.weights} == {"bfloat16"}
    np.testing.assert_allclose(_logits(copy), _logits(model), atol=5e-2)


def test_same_dtype_returns_the_model_and_bad_requests_say_why():
    model = tiny_classifier()
    assert with_compute_dtype(model, "float32") is model
    with pytest.raises(ValueError, match="dtype must be one of"):
        with_compute_dtype(model, "int8")
    with pytest.raises(ValueError, match="has no backbone"):
        with_compute_dtype(keras.Sequential([keras.layers.Dense(2)]), "bfloat16")


def test_bfloat16_export_passes_its_check_and_stays_close_to_float32(tmp_path):
    run_dir = save_run(make_run(), tmp_path / "run")
    run = load_run(run_dir)
    path = export_for_serving(run_dir, tmp_path / "saved_models" / "fast", precision="bfloat16")
    card = read_model_card(path)
    assert card["compute_dtype"] == "bfloat16" and card["backbone"]["dtype"] == "bfloat16"
    # Against the float32 run: the check casts it to the export's dtype first.
    assert check_serving(path, run=run)["ok"]
    with SavedModelSession(path) as session:
        served = session.run("serving_default", {"text": strings(TEXTS)})["probabilities"]
    np.testing.assert_allclose(served, keras_probabilities(run, TEXTS), atol=3e-2)


def test_export_command_takes_a_precision(tmp_path, capsys):
    run_dir = save_run(make_run(), tmp_path / "run")
    base = tmp_path / "saved_models" / "fast"
    assert main(["export", "--model", run_dir, "--export-dir", str(base), "--precision", "bfloat16"]) == 0
    assert read_model_card(base / "1")["compute_dtype"] == "bfloat16"
    with pytest.raises(SystemExit):
        main(["export", "--model", run_dir, "--export-dir", str(base), "--precision", "int8"])
    assert "invalid choice: 'int8'" in capsys.readouterr().err
