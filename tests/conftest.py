"""Tiny random backbones and preprocessors, built in seconds, for the tests."""

import json
import os
import shutil

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import pytest  # noqa: E402

import bertcnn_tf  # noqa: E402

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a good bad movie film great awful plot actors loved hated it was "
    "is not very boring fun service delivery late refund price ok , . !"
).split()
VOCABULARY = SPECIAL_TOKENS + WORDS


def tiny_tokenizer():
    return keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)


def tiny_backbone(dtype=None, seed=0, dropout=0.1):
    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=128,
        dropout=dropout,
        dtype=dtype,
    )


def quick_config(preset, **overrides):
    """A `TrainingConfig` that trains a tiny preset in seconds."""
    from bertcnn_tf.training.config import TrainingConfig

    values = dict(
        backbone=preset, epochs=3, batch_size=8, learning_rate=3e-3,
        sequence_length=32, warmup_ratio=0.0, verbose=0,
        # 3e-3 is already a fast rate for a tiny model; the default 20x head would swing.
        head_learning_rate_multiplier=1.0,
    )
    values.update(overrides)
    return TrainingConfig(**values)


def tiny_classifier(head="cnn", sequence_length=16, num_classes=3, dtype=None, **kwargs):
    kwargs.setdefault("filters", 8)
    return bertcnn_tf.BertCNNClassifier(
        tiny_backbone(dtype=dtype),
        num_classes=num_classes,
        preprocessor=bertcnn_tf.make_preprocessor(tiny_tokenizer(), sequence_length),
        head=head,
        **kwargs,
    )


TEXTS = [
    "the movie was great !",
    "awful plot , bad actors",
    "it was not very good",
    "loved it",
    "late delivery",
    "",
]
LABELS = [0, 1, 1, 0, 2, 2]


@pytest.fixture
def texts():
    return list(TEXTS)


@pytest.fixture
def labels():
    return list(LABELS)


def built_once(tmp_path_factory, name, build):
    """A folder that `build(folder)` fills once per test session, for every xdist worker.

    A module fixture runs once in each worker that runs one of its tests, and
    worksteal spreads a module over both, so each expensive export or training
    would be built twice. The first worker to ask builds it under a lock; the
    other waits for it (no longer than building it itself) and reuses it.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / "built-once" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


def trained_once(tmp_path_factory, name, train):
    """`(run, report, run folder, training CSV)` of a run that `train(folder)` writes to
    `folder/run` from `folder/train.csv`, trained once a session (`built_once`) and reloaded."""
    folder = built_once(tmp_path_factory, name, train)
    run_dir = str(folder / "run")
    with open(os.path.join(run_dir, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    return bertcnn_tf.load_run(run_dir), report, run_dir, str(folder / "train.csv")


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """A keras-hub preset directory holding a tiny random BERT and its vocabulary."""
    path = str(tmp_path_factory.mktemp("tiny_preset"))
    tiny_backbone().save_to_preset(path)
    tiny_tokenizer().save_to_preset(path)
    return path


def write_csv(path, rows, header=("text", "label")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def sentiment_rows(copies=6):
    """A small, learnable three-class set in the tiny vocabulary."""
    rows = [
        ("the movie was great !", "good"),
        ("loved it , great fun", "good"),
        ("a good film", "good"),
        ("awful plot , bad actors", "bad"),
        ("it was boring", "bad"),
        ("hated the film", "bad"),
        ("late delivery", "service"),
        ("refund the price", "service"),
        ("the service was late", "service"),
    ]
    return rows * copies
