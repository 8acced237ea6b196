import numpy as np
import pytest
from conftest import tiny_classifier

from bertcnn_tf.data import Examples
from bertcnn_tf.inference import decide
from bertcnn_tf.inference import predict_probabilities

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
    decisions = decide(np.array([[0.9, 0.2, 0.6]]), ["a", "b", "c"], multi_label=True, threshold=0.5)
    assert decisions == [["a", "c"]]


def test_empty_input_gives_an_empty_result():
    model = tiny_classifier("cnn")
    assert predict_probabilities(model, Examples(texts=[], labels=[])).shape == (0, 3)
