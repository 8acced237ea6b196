"""The run folder: everything needed to reload, evaluate and serve a trained model.

```
RUN/
  model.keras      the BertCNNClassifier, preprocessor included
  labels.txt       one label per line; line i is class id i
  settings.json    how it was trained: columns, multi_label, threshold, backbone, head, ...
  report.json      metrics (written by evaluation)
```
"""

import dataclasses
import json
import os

import keras

from bertcnn_tf import models  # noqa: F401  registers the classes a model.keras names
from bertcnn_tf import optimizers  # noqa: F401
from bertcnn_tf.io_utils import atomic_write_text
from bertcnn_tf.training import metrics  # noqa: F401

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"
SETTINGS_FILE = "settings.json"
REPORT_FILE = "report.json"


@dataclasses.dataclass
class Run:
    """A trained model with its labels and settings: what `train` returns and `load_run` reads.

    `labels[i]` names class id i; `settings` is the `TrainingConfig` as a dict
    (`multi_label`, `threshold`, `text_pair_column`, ...). Example under `save`.
    """

    model: keras.Model
    labels: list
    settings: dict

    @property
    def multi_label(self):
        return bool(self.settings.get("multi_label", False))

    @property
    def threshold(self):
        return float(self.settings.get("threshold", 0.5))

    @property
    def temperature(self):
        """What the logits are divided by (`bertcnn_tf.training.calibration`); 1 for runs without one."""
        return self.settings.get("temperature", 1.0)

    @property
    def abstain_below(self):
        """The top probability below which the run answers `unknown_label`; None: it never abstains."""
        return self.settings.get("abstain_below")

    @property
    def unknown_label(self):
        return self.settings.get("unknown_label", "unknown")

    @property
    def decision_settings(self):
        """The keyword arguments of `bertcnn_tf.postprocessing.postprocess` that this run fitted."""
        return {
            "threshold": self.threshold,
            "temperature": self.temperature,
            "abstain_below": self.abstain_below,
            "unknown_label": self.unknown_label,
        }

    @property
    def text_pair_column(self):
        return self.settings.get("text_pair_column")

    def with_settings(self, **changes):
        """The same model and labels with some settings changed (`abstain_below=0.6`, say)."""
        return dataclasses.replace(self, settings={**self.settings, **changes})

    def reading_documents(self, max_document_length, window_stride=None):
        """The run with its model reading documents in windows (`BertCNNClassifier.reading_documents`).

        Example:
        ```python
        run = bertcnn_tf.load_run("runs/demo").reading_documents(max_document_length=2048)
        bertcnn_tf.predict(run, ["a review of two thousand words ..."])
        ```
        """
        model = self.model.reading_documents(max_document_length, window_stride)
        settings = {"max_document_length": max_document_length, "window_stride": model.window_stride}
        return dataclasses.replace(self, model=model, settings={**self.settings, **settings})

    def save(self, run_dir):
        """Writes the run folder: `model.keras`, `labels.txt`, `settings.json`.

        Example:
        ```python
        import bertcnn_tf

        classifier.fit(texts, label_ids, epochs=2)
        run = bertcnn_tf.Run(classifier, labels=["billing", "delivery"], settings={"head": "cnn"})
        run.save("runs/by-hand")
        bertcnn_tf.export_for_serving("runs/by-hand", "saved_models/by-hand")
        ```
        """
        os.makedirs(run_dir, exist_ok=True)
        save_labels(run_dir, self.labels)
        save_settings(run_dir, self.settings)
        self.model.save(os.path.join(run_dir, MODEL_FILE))


def save_labels(run_dir, labels):
    atomic_write_text(os.path.join(run_dir, LABELS_FILE), "".join(f"{label}\n" for label in labels))


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n")]


def save_settings(run_dir, settings):
    text = json.dumps(settings, indent=2, ensure_ascii=False, sort_keys=True)
    atomic_write_text(os.path.join(run_dir, SETTINGS_FILE), text + "\n")


def load_run(run_dir):
    """Loads a run folder written by `bertcnn train` (or `Run.save`).

    Raises `FileNotFoundError` naming the missing file when `run_dir` is not
    a complete run folder.

    Example:
    ```python
    import bertcnn_tf

    run = bertcnn_tf.load_run("runs/demo")
    run.labels, run.settings["head"], run.model.summary()
    ```
    """
    missing = [
        name
        for name in (MODEL_FILE, LABELS_FILE, SETTINGS_FILE)
        if not os.path.exists(os.path.join(run_dir, name))
    ]
    if missing:
        raise FileNotFoundError(
            f"{run_dir!r} is not a run folder: it lacks {', '.join(missing)}. "
            "Pass the --output folder of `bertcnn train`."
        )
    with open(os.path.join(run_dir, SETTINGS_FILE), encoding="utf-8") as f:
        settings = json.load(f)
    model = keras.saving.load_model(os.path.join(run_dir, MODEL_FILE))
    return Run(model=model, labels=read_labels(os.path.join(run_dir, LABELS_FILE)), settings=settings)


def as_run(run_or_dir):
    """A `Run` as it is, or the run folder at a path loaded."""
    return run_or_dir if isinstance(run_or_dir, Run) else load_run(run_or_dir)
