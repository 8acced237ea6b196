import os
import warnings

import keras
import keras_nlp
import numpy as np
import pytest
from conftest import LABELS
from conftest import TEXTS
from conftest import VOCABULARY
from conftest import tiny_backbone
from conftest import tiny_classifier
from conftest import tiny_tokenizer

import bertcnn_tf
from bertcnn_tf import BertCNNClassifier
from bertcnn_tf import make_preprocessor

SEQUENCE_HEADS = ["cnn", "cls", "mean", "max"]


def logits(model, texts, sequence_length):
    """Predicts with the same weights but inputs padded to `sequence_length`."""
    model.preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length)
    return model.predict(texts, verbose=0)


@pytest.mark.parametrize(
    "head, pooling",
    [("cnn", "max"), ("cnn", "mean"), ("cnn", "max_mean"), ("cls", "max"), ("mean", "max"), ("max", "max")],
)
def test_logits_do_not_depend_on_padding(head, pooling, texts):
    model = tiny_classifier(head, pooling=pooling)
    short = logits(model, texts, 16)
    long = logits(model, texts, 128)
    np.testing.assert_allclose(short, long, atol=1e-5)


@pytest.mark.parametrize("head", ["cnn", "mean"])
def test_with_cls_token_gives_the_dense_layer_the_cls_vector_beside_the_head(head, texts):
    model = tiny_classifier(head, with_cls_token=True, dropout=0.0)
    tokens = model.preprocessor(texts)
    sequence = model.backbone(tokens)["sequence_output"]
    features = model.head_layer(sequence, padding_mask=tokens["padding_mask"])
    expected = model.get_layer("logits")(keras.ops.concatenate([features, sequence[:, 0, :]], axis=-1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(tokens)), keras.ops.convert_to_numpy(expected), atol=1e-5
    )
    width = 8 * 3 if head == "cnn" else 16  # tiny backbone: hidden 16; filters 8 x 3 widths
    assert model.get_layer("logits").kernel.shape == (width + 16, 3)
    np.testing.assert_allclose(logits(model, texts, 16), logits(model, texts, 128), atol=1e-5)


def test_with_cls_token_on_the_cls_head_is_a_clear_error():
    with pytest.raises(ValueError, match="with_cls_token=False"):
        tiny_classifier("cls", with_cls_token=True)


def test_seed_head_depends_on_its_fixed_length(texts):
    model = tiny_classifier("seed", sequence_length=16)
    assert model.input["token_ids"].shape == (None, 16)
    assert model.predict(texts, verbose=0).shape == (len(texts), 3)
    with pytest.raises(ValueError, match="built for sequences of 16 tokens"):
        logits(model, texts, 128)


def test_seed_head_without_a_sequence_length_is_a_clear_error():
    with pytest.raises(ValueError, match="sequence_length"):
        BertCNNClassifier(tiny_backbone(), num_classes=2, head="seed")


def test_unknown_head_is_a_clear_error():
    with pytest.raises(ValueError, match="head"):
        tiny_classifier("attention")


@pytest.mark.parametrize("policy, atol", [("mixed_float16", 2e-2), ("mixed_bfloat16", 1e-1)])
@pytest.mark.parametrize("head", ["cnn", "mean"])
def test_mixed_precision_is_finite_and_close_to_float32(policy, atol, head, texts):
    reference = tiny_classifier(head)
    mixed = tiny_classifier(head, dtype=policy)
    mixed.set_weights(reference.get_weights())
    expected = reference.predict(texts, verbose=0)
    got = mixed.predict(texts, verbose=0).astype("float32")
    assert mixed.get_layer("text_cnn" if head == "cnn" else "mean_pooling").compute_dtype != "float32"
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=atol)


@pytest.mark.parametrize("head", ["cnn", "seed"])
def test_keras_file_round_trip(head, texts, tmp_path):
    model = tiny_classifier(head, kernel_sizes=(2, 3), pooling="max_mean", dropout=0.3)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, BertCNNClassifier)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(
        restored.predict(texts, verbose=0), model.predict(texts, verbose=0), atol=1e-6
    )


def test_config_round_trip_keeps_every_argument(texts):
    model = tiny_classifier(
        "cnn", kernel_sizes=(2, 4), filters=5, pooling="mean", with_cls_token=True, dropout=0.25,
        activation="softmax",
    )
    restored = BertCNNClassifier.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    for key in ("head", "kernel_sizes", "filters", "pooling", "with_cls_token", "dropout", "activation", "num_classes"):
        assert restored.get_config()[key] == model.get_config()[key]
    # A config holds no vocabulary (keras-hub keeps it as an asset), so
    # compare on token ids.
    tokens = model.preprocessor(texts)
    expected = keras.ops.convert_to_numpy(model(tokens))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(tokens)), expected, atol=1e-6)
    assert np.allclose(expected.sum(-1), 1.0, atol=1e-5)


def test_a_compiled_model_reloads_compiled_with_the_heads_20x_rate(tmp_path, texts):
    model = tiny_classifier("cnn")
    model.compile()  # "auto": AdamW, the backbone at 5e-5, the head at 20x
    backbone_paths = {v.path for v in model.backbone.trainable_variables}
    head_paths = {v.path for v in model.trainable_variables} - backbone_paths
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-5)
    assert model.optimizer.learning_rate_multipliers == {path: 20.0 for path in head_paths}
    model.fit(texts, np.array(LABELS), epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        restored = keras.saving.load_model(path)
    assert restored.compiled
    assert restored.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()
    assert restored.optimizer.learning_rate_multipliers == model.optimizer.learning_rate_multipliers
    restored.fit(texts, np.array(LABELS), epochs=1, verbose=0)


@pytest.mark.parametrize("head", ["cnn", "cls", "seed"])
def test_fit_and_predict_on_raw_strings_learns(head):
    model = tiny_classifier(head)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    texts = TEXTS * 8
    labels = np.array(LABELS * 8)
    history = model.fit(texts, labels, batch_size=8, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predictions = model.predict(texts, verbose=0)
    assert predictions.shape == (len(texts), 3)
    assert (predictions.argmax(-1) == labels).mean() > 0.8


def test_no_gradient_warning_for_the_unused_pooler():
    model = tiny_classifier("cnn")
    model.backbone.trainable = False
    model.compile()
    model.backbone.trainable = True  # what head-only warm-up then fine-tuning does
    model.compile()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(TEXTS, np.array(LABELS), batch_size=3, epochs=1, verbose=0)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "Gradients do not exist" in m], messages
    pooler = model.backbone.get_layer("pooled_dense")
    assert not pooler.trainable_weights
    assert model.backbone.get_layer("transformer_layer_0").trainable_weights


def test_accepts_a_backbone_made_through_keras_nlp(texts):
    backbone = keras_nlp.models.BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
    )
    model = BertCNNClassifier(
        backbone, num_classes=2, preprocessor=make_preprocessor(tiny_tokenizer(), 16)
    )
    assert model.predict(texts, verbose=0).shape == (len(texts), 2)


def test_keras_hub_text_classifier_lookup_still_finds_bert_text_classifier():
    """Registering our class must not hijack keras-hub's BERT preset lookup."""
    from keras_hub.src.models.text_classifier import TextClassifier
    from keras_hub.src.utils.preset_utils import find_subclass

    found = find_subclass("bert", TextClassifier, tiny_backbone().__class__)
    assert found.__name__ == "BertTextClassifier"


def test_from_preset_on_a_hugging_face_directory(tmp_path, texts):
    from hf_bert_dir import write_hf_bert_dir

    original = tiny_backbone(seed=3)
    hf_dir = write_hf_bert_dir(original, VOCABULARY, str(tmp_path / "hf"))
    model = BertCNNClassifier.from_preset(hf_dir, num_classes=2, sequence_length=24)
    for a, b in zip(model.backbone.get_weights(), original.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.preprocessor.sequence_length == 24
    assert model.preprocessor.tokenizer.vocabulary == VOCABULARY
    assert model.predict(texts, verbose=0).shape == (len(texts), 2)


def test_save_to_preset_and_back(tmp_path, texts):
    model = tiny_classifier("cnn", kernel_sizes=(2,), filters=3)
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    restored = BertCNNClassifier.from_preset(preset)
    assert restored.get_config()["kernel_sizes"] == [2]
    np.testing.assert_allclose(
        restored.predict(texts, verbose=0), model.predict(texts, verbose=0), atol=1e-6
    )
    assert os.path.exists(os.path.join(preset, "task.weights.h5"))
    assert bertcnn_tf.load_backbone(preset)[0].hidden_dim == 16
