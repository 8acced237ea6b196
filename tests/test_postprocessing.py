"""Outputs → probabilities → decisions: one code path for predict, evaluate, the export and the checks."""

import numpy as np
import pytest
from serving_helpers import PAIRS_A
from serving_helpers import make_run
from serving_helpers import strings

import bertcnn_tf
from bertcnn_tf import postprocessing
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.serving.c_api import SavedModelSession

TEXTS = PAIRS_A + ["refund please , the parcel was late and the service was not good"]


def test_single_label_decisions_take_the_most_probable_class():
    decided = postprocessing.postprocess([[1.0, 3.0, 2.0], [0.0, 0.0, -1.0]], ["a", "b", "c"], multi_label=False)
    np.testing.assert_allclose(decided["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    assert decided["label_id"].numpy().tolist() == [1, 0]  # a tie goes to the first class
    assert decided["label"].numpy().tolist() == [b"b", b"a"]


def test_multi_label_decisions_list_the_chosen_classes_first_padded():
    probabilities = np.array([[0.9, 0.2, 0.6], [0.1, 0.1, 0.1], [0.5, 0.5, 0.5]], "float32")
    decided = postprocessing.decisions(probabilities, ["a", "b", "c"], multi_label=True, threshold=0.5)
    assert decided["label_ids"].numpy().tolist() == [[0, 2, -1], [-1, -1, -1], [0, 1, 2]]
    assert decided["labels"].numpy().tolist() == [[b"a", b"c", b""], [b"", b"", b""], [b"a", b"b", b"c"]]
    rows = postprocessing.records(
        postprocessing.postprocess(probabilities, ["a", "b", "c"], True, 0.5, from_logits=False), ["a", "b", "c"], True
    )
    assert [row["labels"] for row in rows] == [["a", "c"], [], ["a", "b", "c"]]


@pytest.mark.parametrize("multi_label, activation", [(False, "softmax"), (True, "sigmoid")])
def test_a_model_that_outputs_probabilities_is_not_given_a_second_activation(multi_label, activation):
    logits_run = make_run(multi_label=multi_label)
    probabilities_run = make_run(multi_label=multi_label, activation=activation)
    probabilities_run.model.set_weights(logits_run.model.get_weights())
    examples = bertcnn_tf.Examples(texts=TEXTS, labels=[[] for _ in TEXTS])
    expected = predict_probabilities(logits_run.model, examples, multi_label)
    np.testing.assert_allclose(predict_probabilities(probabilities_run.model, examples, multi_label), expected, atol=1e-6)
    assert bertcnn_tf.predict(probabilities_run, TEXTS) == bertcnn_tf.predict(logits_run, TEXTS)


def test_a_softmax_model_serves_the_probabilities_of_the_same_weights_with_logits(tmp_path):
    logits_run = make_run()
    softmax_run = make_run(activation="softmax")
    softmax_run.model.set_weights(logits_run.model.get_weights())
    examples = bertcnn_tf.Examples(texts=TEXTS, labels=[[] for _ in TEXTS])
    expected = predict_probabilities(logits_run.model, examples)
    # The export's own check compares it with the softmax model's Keras outputs.
    path = bertcnn_tf.export_for_serving(softmax_run, tmp_path / "softmax")
    with SavedModelSession(path) as session:
        served = session.run("serving_default", {"text": strings(TEXTS)})
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(served["label_id"], expected.argmax(-1))


def test_an_activation_that_gives_neither_logits_nor_probabilities_is_refused():
    run = make_run(activation="relu")
    with pytest.raises(ValueError, match="activation='softmax'"):
        bertcnn_tf.predict(run, ["the movie was great !"])
