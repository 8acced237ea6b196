"""Documents longer than a window: windows by hand, one-window identity, batch and padding
invariance, a planted token after token 2,000, training, and the SavedModel."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import quick_config
from conftest import tiny_backbone
from conftest import tiny_tokenizer
from conftest import write_csv

import bertcnn_tf
from bertcnn_tf.data.pipeline import make_dataset
from bertcnn_tf.data.pipeline import training_steps
from bertcnn_tf.inference import predict_logits
from bertcnn_tf.preprocessing import detached_preprocessor
from bertcnn_tf.preprocessing import make_window_packer
from bertcnn_tf.preprocessing import tokenize_windows
from bertcnn_tf.preprocessing import windows_per_document
from bertcnn_tf.serving.check import check_serving
from bertcnn_tf.serving.model_card import read_model_card

WINDOW, STRIDE = 8, 4  # 6 text tokens a window, consecutive windows share 2


def windowed_classifier(head="cnn", max_document_length=64, window_stride=STRIDE, seed=0, **kwargs):
    preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), WINDOW, max_document_length, window_stride)
    return bertcnn_tf.BertCNNClassifier(
        tiny_backbone(seed=seed), num_classes=2, preprocessor=preprocessor, head=head, filters=8,
        window_stride=preprocessor.window_stride, **kwargs,
    )


def flat_twin(classifier, sequence_length=WINDOW, **kwargs):
    """The same weights reading one window of `sequence_length` (truncating)."""
    twin = bertcnn_tf.BertCNNClassifier(
        tiny_backbone(), num_classes=2, preprocessor=bertcnn_tf.make_preprocessor(tiny_tokenizer(), sequence_length),
        head=classifier.head, filters=8, **kwargs,
    )
    twin.set_weights(classifier.get_weights())
    return twin


def test_windows_computed_by_hand_agree_with_the_packer():
    preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), WINDOW, max_document_length=12, window_stride=STRIDE)
    text = "the movie was great ! loved it , great fun not boring at all"
    ids = [int(i) for i in tiny_tokenizer()(tf.constant([text]))[0]][:12]  # cut at max_document_length
    cls, sep = 2, 3
    expected = [[cls, *ids[start : start + WINDOW - 2], sep] for start in range(0, len(ids), STRIDE)
                if start == 0 or start + WINDOW - 2 - STRIDE < len(ids)]
    packed = make_window_packer(preprocessor, 12, STRIDE)(tf.constant([text]))
    found = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(packed["token_ids"][0].numpy(),
                                                                          packed["padding_mask"][0].numpy())]
    assert found == expected
    assert len(found) == windows_per_document(12, WINDOW, STRIDE) == 3
    # A text that fits in one window is one window: what the plain preprocessor gives.
    short = make_window_packer(preprocessor, 12, STRIDE)(tf.constant(["loved it"]))["token_ids"].numpy()
    assert short.shape[:2] == (1, 1)


def test_logits_do_not_depend_on_batching_windows_or_padding():
    classifier = windowed_classifier(max_document_length=256)
    document = "the movie was great ! loved it , great fun not boring at all " * 4
    others = ["ok", document * 3, "late delivery , refund please " * 7]
    alone = predict_logits(classifier, bertcnn_tf.Examples.unlabelled([document]))
    for batch_size in (1, 4, 64):
        mixed = predict_logits(classifier, bertcnn_tf.Examples.unlabelled(others + [document]), batch_size=batch_size)
        np.testing.assert_allclose(mixed[-1], alone[0], atol=1e-5)
    # The model itself, given the same document padded with empty windows and longer windows.
    features = make_window_packer(classifier.preprocessor, 256, STRIDE)(tf.constant([document]))
    padded = {name: tf.pad(value, [[0, 0], [0, 3], [0, 5]]) for name, value in features.items()}
    np.testing.assert_allclose(classifier(features), classifier(padded), atol=1e-5)


# max_mean covers the cnn head's max and mean pooling and the [CLS] vector beside it.
@pytest.mark.parametrize("head, options", [("cnn", {"pooling": "max_mean", "with_cls_token": True}),
                                           ("mean", {}), ("max", {}), ("cls", {})])
def test_one_window_is_todays_result_and_windows_as_rows_the_models_own(head, options):
    classifier = windowed_classifier(head=head, max_document_length=256, **options)
    short = ["the movie", "bad plot !", ""]
    np.testing.assert_allclose(
        classifier.predict(short, verbose=0), flat_twin(classifier, **options).predict(short, verbose=0), atol=1e-5
    )
    # predict_logits batches windows of different documents by length; the
    # model pools whole documents, with empty windows and padding in its batch.
    texts = ["ok", "", "the movie was great ! loved it , great fun " * 5, "late delivery , refund please " * 9,
             "bad plot !"]
    expected = classifier.predict(texts, batch_size=len(texts), verbose=0)
    for batch_size in (1, 3, 32):
        found = predict_logits(classifier, bertcnn_tf.Examples.unlabelled(texts), batch_size=batch_size)
        np.testing.assert_allclose(found, expected, atol=1e-5)


def test_windows_as_rows_are_the_packers_windows():
    preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), WINDOW, max_document_length=64, window_stride=STRIDE)
    texts = ["loved it", "the movie was great ! loved it , great fun not boring at all", ""]
    rows = tokenize_windows(bertcnn_tf.Examples.unlabelled(texts), preprocessor, chunk=2)
    dense = make_window_packer(preprocessor, 64, STRIDE)(tf.constant(texts))
    real = dense["padding_mask"].numpy().sum(axis=-1) > 0
    assert rows["document"].tolist() == np.nonzero(real)[0].tolist()
    width = dense["token_ids"].shape[-1]
    np.testing.assert_array_equal(rows["token_ids"][:, :width], dense["token_ids"].numpy()[real])
    assert not rows["token_ids"][:, width:].any()
    assert rows["document"].tolist() == [0, 1, 1, 1, 2]
    assert rows["last_window"].tolist() == [True, False, False, True, True]


def test_a_truncating_classifier_reads_documents_with_its_own_weights():
    options = {"pooling": "max_mean", "with_cls_token": True}
    windowed = windowed_classifier(max_document_length=256, **options)
    truncating = flat_twin(windowed, **options)
    reading = truncating.reading_documents(max_document_length=256, window_stride=STRIDE)
    assert reading.backbone is truncating.backbone and reading.preprocessor.max_document_length == 256
    texts = ["the movie was great ! loved it , great fun " * 5, "bad plot !"]
    np.testing.assert_allclose(
        predict_logits(reading, bertcnn_tf.Examples.unlabelled(texts)),
        predict_logits(windowed, bertcnn_tf.Examples.unlabelled(texts)), atol=1e-5,
    )
    with pytest.raises(ValueError, match='head="seed".*windows'):
        bertcnn_tf.BertCNNClassifier(
            tiny_backbone(), num_classes=2, preprocessor=bertcnn_tf.make_preprocessor(tiny_tokenizer(), WINDOW),
            head="seed", sequence_length=WINDOW,
        ).reading_documents(256)


def test_the_seed_head_refuses_windows():
    with pytest.raises(ValueError, match='head="seed".*window'):
        windowed_classifier(head="seed")
    with pytest.raises(ValueError, match='FixedLengthCNN.*head="cnn"'):
        bertcnn_tf.layers.WindowedPooling(bertcnn_tf.layers.FixedLengthCNN(), window_stride=STRIDE)
    with pytest.raises(ValueError, match="must be a TextCNN"):
        bertcnn_tf.layers.WindowedPooling(tf.keras.layers.Dense(3), window_stride=STRIDE)


def test_a_planted_token_after_token_2000_is_found_with_windows_and_missed_by_truncation():
    # Trained on short texts (one to three windows), then read 4,096-token documents.
    classifier = windowed_classifier(max_document_length=64, seed=1)
    rng = np.random.default_rng(0)
    fillers = ["the", "a", "movie", "film", "plot", "it", "was"]
    texts, labels = [], []
    for i in range(96):
        words = list(rng.choice(fillers, size=rng.integers(3, 12)))
        if i % 2:
            words.insert(int(rng.integers(0, len(words) + 1)), "refund")
        texts.append(" ".join(words))
        labels.append(i % 2)
    classifier.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    examples = bertcnn_tf.Examples.unlabelled(texts)
    # The training pipeline tokenizes once and buckets by windows: 2x faster than fit(texts).
    data = make_dataset(examples, classifier.preprocessor, np.array(labels), batch_size=16, training=True)
    with detached_preprocessor(classifier):
        classifier.fit(data, steps_per_epoch=training_steps(examples, classifier.preprocessor, 16), epochs=25, verbose=0)
    filler = " ".join(rng.choice(fillers, size=3000))
    words = filler.split()
    needle = " ".join(words[:2500] + ["refund"] + words[2500:2999])
    assert len(tiny_tokenizer()(tf.constant([needle]))[0]) == 3000
    documents = classifier.reading_documents(max_document_length=4096)
    windowed = predict_logits(documents, bertcnn_tf.Examples.unlabelled([needle, filler])).argmax(axis=1)
    truncated = flat_twin(classifier, sequence_length=128).predict([needle], verbose=0).argmax(axis=1)
    assert windowed.tolist() == [1, 0]  # found, and no false alarm on the same filler without it
    assert truncated.tolist() == [0]  # the first 126 tokens hold no "refund"


def test_a_100000_word_text_is_cut_at_the_document_cap():
    classifier = windowed_classifier(max_document_length=64)
    huge = " ".join(["movie"] * 100_000)
    features = make_window_packer(classifier.preprocessor, 64, STRIDE)(tf.constant([huge]))
    assert features["token_ids"].shape[1] == windows_per_document(64, WINDOW, STRIDE)
    assert np.isfinite(predict_logits(classifier, bertcnn_tf.Examples.unlabelled([huge]))).all()


def test_train_predict_and_serve_documents(tiny_preset, tmp_path):
    rows = [("the movie was great ! " * 6, "good"), ("awful plot , bad actors " * 6, "bad")] * 8
    examples = bertcnn_tf.Examples(texts=[t for t, _ in rows], labels=[[label] for _, label in rows])
    config = quick_config(tiny_preset, sequence_length=16, max_document_length=96, epochs=1)
    run, _ = bertcnn_tf.train(examples, str(tmp_path / "run"), config)
    loaded = bertcnn_tf.load_run(str(tmp_path / "run"))
    assert loaded.model.window_stride == 6 and loaded.model.preprocessor.max_document_length == 96
    texts = ["the movie was great ! " * 10, "bad actors"]
    predictions = bertcnn_tf.predict(loaded, texts)
    np.testing.assert_allclose(
        [list(p["probabilities"].values()) for p in predictions],
        [list(p["probabilities"].values()) for p in bertcnn_tf.predict(run, texts)], atol=1e-5,
    )
    path = bertcnn_tf.export_for_serving(str(tmp_path / "run"), tmp_path / "served", check=False)
    card = read_model_card(path)
    assert (card["max_document_length"], card["window_stride"], card["explain_top_k"]) == (96, 6, 5)
    report = check_serving(path)  # the C++ loader; bad inputs include a 10,000-word text
    assert report["bad_inputs"]["10,000 words"] == "ok" and report["bad_inputs"]["explain: 10,000 words"] == "ok"
    assert "explain" in report["passed"]  # the served spans equal Python's, offsets into the whole document



@pytest.mark.parametrize("head, options", [("cnn", {"pooling": "max_mean", "with_cls_token": True}),
                                           ("mean", {}), ("max", {})])
def test_explaining_a_document_adds_up_with_spans_anywhere_in_it(head, options):
    classifier = windowed_classifier(head=head, max_document_length=256, **options)
    document = "the movie was great ! " * 3 + "awful plot , bad actors " * 3 + "loved it , great fun"
    texts = [document, "bad plot", document + " late delivery"]
    logits = predict_logits(classifier, bertcnn_tf.Examples.unlabelled(texts))
    for item, row in zip(classifier.explain(texts, top_k=40), logits):
        score = row[int(item["label"])] - row.mean()
        assert item["score"] == pytest.approx(float(score), abs=1e-4)
        total = item["bias"] + item.get("cls_token", 0.0) + sum(s["contribution"] for s in item["evidence"]) + item["rest"]
        assert total == pytest.approx(item["score"], abs=1e-4)
        for span in item["evidence"]:
            assert item["text"][span["start"] : span["end"]] == span["text"]
    # Evidence reaches past the first window.
    assert max(span["end"] for span in classifier.explain([document], top_k=40)[0]["evidence"]) > 40


def test_an_epoch_of_documents_sees_every_document_once():
    from bertcnn_tf.data.pipeline import training_steps

    preprocessor = bertcnn_tf.make_preprocessor(tiny_tokenizer(), WINDOW, max_document_length=64, window_stride=STRIDE)
    long = "the movie was great ! loved it , great fun"  # twice over: 4 or more windows of 6 tokens
    texts = ["ok"] * 10 + [long * 2] * 3
    examples = bertcnn_tf.Examples.unlabelled(texts)
    windows = make_window_packer(preprocessor, 64, STRIDE)(tf.constant([long * 2]))["padding_mask"].shape[1]
    steps = training_steps(examples, preprocessor, batch_size=8)
    # 10 one-window texts fill batches of 8; each long one (windows >= 4) fills a batch alone.
    assert windows >= 4 and steps == 2 + 3


def test_evaluate_and_predict_read_documents_with_a_truncating_run(tmp_path, capsys):
    from bertcnn_tf.cli import build_parser
    from bertcnn_tf.cli import main
    from bertcnn_tf.cli.training import reading_documents

    rows = [("the movie was great ! " * 6, "good"), ("awful plot , bad actors " * 6, "bad")] * 2
    run_dir = str(tmp_path / "run")
    truncating = flat_twin(windowed_classifier(), sequence_length=16)  # untrained: the weights do not matter here
    bertcnn_tf.Run(truncating, labels=["bad", "good"], settings={"head": "cnn"}).save(run_dir)
    document = "awful plot , bad actors " * 3 + "the movie was great ! " * 12
    capsys.readouterr()
    assert main(["predict", "--model", run_dir, "--max-document-length", "96", document]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["probabilities"]
    reading = bertcnn_tf.load_run(run_dir).reading_documents(96)
    assert reading.settings["max_document_length"] == 96 and reading.model.window_stride == 6
    expected = bertcnn_tf.predict(reading, [document])[0]["probabilities"]
    assert printed == pytest.approx(expected, abs=1e-5)
    assert printed != pytest.approx(bertcnn_tf.predict(run_dir, [document])[0]["probabilities"], abs=1e-3)
    data = write_csv(tmp_path / "test.csv", rows[:4] + [(document, "good")])
    assert main(["evaluate", "--model", run_dir, "--data", data, "--max-document-length", "96"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["examples"] == 5
    assert main(["predict", "--model", run_dir, "--window-stride", "4", "a text"]) == 2
    assert "--window-stride needs --max-document-length" in capsys.readouterr().err
    export = build_parser().parse_args(["export", "--model", run_dir, "--export-dir", "d", "--max-document-length", "96"])
    assert reading_documents(bertcnn_tf.load_run(run_dir), export).settings["max_document_length"] == 96
