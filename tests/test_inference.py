import numpy as np
import pytest
from conftest import tiny_classifier

from bertcnn_tf.data.files import Examples
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.postprocessing import postprocess
from bertcnn_tf.postprocessing import records

TEXTS = [
    "the movie was great ! " * 6,
    "bad",
    "",
    "it was not very good , the plot was boring and the actors were awful",
    "loved it",
] * 3


@pytest.mark.parametrize("head", ["cnn", "seed"])
def test_sorted_trimmed_batches_match_full_padding_in_input_order(head):
    model = tiny_classifier(head, sequence_length=64)
    expected = model.predict(TEXTS, batch_size=4, verbose=0)  # every text padded to 64
    examples = Examples(texts=TEXTS, labels=[[] for _ in TEXTS])
    got = predict_probabilities(model, examples, batch_size=4)
    softmax = np.exp(expected) / np.exp(expected).sum(-1, keepdims=True)
    np.testing.assert_allclose(got, softmax, atol=1e-5)


def test_multi_label_probabilities_are_sigmoids_and_decisions_use_the_threshold():
    model = tiny_classifier("cnn")
    examples = Examples(texts=TEXTS[:3], labels=[[], [], []])
    probabilities = predict_probabilities(model, examples, multi_label=True)
    logits = model.predict(TEXTS[:3], verbose=0)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), atol=1e-5)
    decided = postprocess(np.array([[0.9, 0.2, 0.6]]), ["a", "b", "c"], True, threshold=0.5, from_logits=False)
    assert [record["labels"] for record in records(decided, ["a", "b", "c"], multi_label=True)] == [["a", "c"]]


def test_empty_input_gives_an_empty_result():
    model = tiny_classifier("cnn")
    assert predict_probabilities(model, Examples(texts=[], labels=[])).shape == (0, 3)


def test_sentence_pairs_are_packed_as_pairs():
    from bertcnn_tf.preprocessing import tokenize_all

    model = tiny_classifier("cnn", sequence_length=32)
    examples = Examples(texts=["good movie", "bad"], labels=[[], []], pairs=["loved it", "late delivery"])
    features = tokenize_all(examples, model.preprocessor)
    expected = model.preprocessor(x=(examples.texts, examples.pairs))
    np.testing.assert_array_equal(features["segment_ids"], np.asarray(expected["segment_ids"]))
    assert features["segment_ids"].max() == 1  # the second text is segment 1
    expected_logits = model.predict((examples.texts, examples.pairs), verbose=0)
    got = predict_probabilities(model, examples)
    np.testing.assert_allclose(got, np.exp(expected_logits) / np.exp(expected_logits).sum(-1, keepdims=True), atol=1e-5)


def test_tokenize_all_equals_the_eager_preprocessor_across_chunks():
    from bertcnn_tf.preprocessing import tokenize_all
    from bertcnn_tf.preprocessing import traced_tokenizer

    model = tiny_classifier("cnn", sequence_length=8)
    texts = TEXTS + ["the movie was great ! " * 5]
    examples = Examples(texts=texts, labels=[[]] * len(texts))
    expected = model.preprocessor(texts)
    for chunk in (2, 1024):  # chunk boundaries inside the input, and one chunk
        features = tokenize_all(examples, model.preprocessor, chunk=chunk)
        for name, value in expected.items():
            np.testing.assert_array_equal(features[name], np.asarray(value), err_msg=name)
    assert tokenize_all(Examples(texts=[], labels=[]), model.preprocessor)["token_ids"].shape == (0, 8)
    # Traced once per preprocessor and length; a new length gets its own trace.
    assert traced_tokenizer(model.preprocessor) is traced_tokenizer(model.preprocessor)
    model.preprocessor.sequence_length = 12
    assert tokenize_all(examples, model.preprocessor)["token_ids"].shape == (len(texts), 12)
