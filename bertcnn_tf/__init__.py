"""bertcnn_tf: a CNN over BERT's token vectors, in Keras 3, served by TF Serving."""

import os

# keras-hub's tokenizers and TF Serving exports need the TensorFlow backend.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from bertcnn_tf import layers  # noqa: E402
from bertcnn_tf import metrics  # noqa: E402,F401  registers what .keras files name
from bertcnn_tf import optimization  # noqa: E402,F401
from bertcnn_tf.backbones import BackboneSourceError  # noqa: E402
from bertcnn_tf.backbones import load_backbone  # noqa: E402
from bertcnn_tf.backbones import make_preprocessor  # noqa: E402
from bertcnn_tf.models import BertCNNClassifier  # noqa: E402
from bertcnn_tf.models.bert_cnn_classifier import freeze_pooler  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BackboneSourceError",
    "BertCNNClassifier",
    "freeze_pooler",
    "layers",
    "load_backbone",
    "make_preprocessor",
]
