"""bertcnn_tf: a CNN over BERT's token vectors, in Keras 3, served by TF Serving.

Everything a notebook or script calls is here:

```python
import bertcnn_tf

examples = bertcnn_tf.read_examples("train.csv")
run, report = bertcnn_tf.train(examples, "runs/first", bertcnn_tf.TrainingConfig(epochs=3))
bertcnn_tf.predict(run, ["where is my parcel?"])          # [{"label": ..., "probabilities": {...}}]
bertcnn_tf.evaluate(run, bertcnn_tf.read_examples("test.csv"))  # {"accuracy": ..., "macro_f1": ...}
bertcnn_tf.explain(run, ["where is my parcel?"])          # the spans that decided each label
path = bertcnn_tf.export_for_serving("runs/first", "saved_models/first")
bertcnn_tf.check_serving(path)                              # TensorFlow's C++ loader, as TF Serving
```

Names are imported on first use, so that `bertcnn --help` starts without
TensorFlow; `dir(bertcnn_tf)` and `__all__` list them all.
"""

import importlib
import os

from bertcnn_tf.version import __version__  # noqa: F401

# keras-hub's tokenizers and TF Serving exports need the TensorFlow backend.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Public name -> the module that defines it.
_PUBLIC_API = {
    # Models and layers.
    "BertCNNClassifier": "bertcnn_tf.models.bert_cnn_classifier",
    "freeze_pooler": "bertcnn_tf.models.bert_cnn_classifier",
    "ClsTokenPooling": "bertcnn_tf.layers",
    "FixedLengthCNN": "bertcnn_tf.layers",
    "MaskedGlobalAveragePooling1D": "bertcnn_tf.layers",
    "MaskedGlobalMaxPooling1D": "bertcnn_tf.layers",
    "TextCNN": "bertcnn_tf.layers",
    "load_backbone": "bertcnn_tf.backbones",
    "BackboneSourceError": "bertcnn_tf.backbones",
    "make_preprocessor": "bertcnn_tf.preprocessing",
    "with_compute_dtype": "bertcnn_tf.precision",
    # Data.
    "read_examples": "bertcnn_tf.data.files",
    "Examples": "bertcnn_tf.data.files",
    "DataError": "bertcnn_tf.data.files",
    "LabelVocabulary": "bertcnn_tf.data.files",
    "stratified_split": "bertcnn_tf.data.files",
    "stratified_folds": "bertcnn_tf.data.files",
    # Training, evaluation, prediction.
    "train": "bertcnn_tf.training.trainer",
    "TrainingConfig": "bertcnn_tf.training.config",
    "evaluate": "bertcnn_tf.training.evaluation",
    "predict": "bertcnn_tf.inference",
    "predict_file": "bertcnn_tf.scoring",
    "explain": "bertcnn_tf.inference",
    "Explanations": "bertcnn_tf.explanations",
    "Run": "bertcnn_tf.training.runs",
    "load_run": "bertcnn_tf.training.runs",
    "paired_comparison": "bertcnn_tf.training.significance",
    # Serving.
    "export_for_serving": "bertcnn_tf.serving.export",
    "check_serving": "bertcnn_tf.serving.check",
    "ServingCheckError": "bertcnn_tf.serving.check",
    "read_model_card": "bertcnn_tf.serving.model_card",
    "SavedModelSession": "bertcnn_tf.serving.c_api",
    "rest_request": "bertcnn_tf.serving.rest",
    "parse_rest_response": "bertcnn_tf.serving.rest",
    "decode_rest_request": "bertcnn_tf.serving.rest",
    "encode_rest_response": "bertcnn_tf.serving.rest",
    "grpc_predict_request": "bertcnn_tf.serving.grpc_requests",
    "parse_grpc_response": "bertcnn_tf.serving.grpc_requests",
}
_SUBPACKAGES = ("cli", "data", "layers", "models", "serving", "training")

__all__ = sorted(_PUBLIC_API) + ["layers"]


def __getattr__(name):
    if name in _PUBLIC_API:
        value = getattr(importlib.import_module(_PUBLIC_API[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"bertcnn_tf.{name}")
    else:
        raise AttributeError(f"module 'bertcnn_tf' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
