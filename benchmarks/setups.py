"""Which accuracy runs are one experiment, and which experiment is "the defaults users get".

A row of `results/accuracy.jsonl` records every training setting of its run. Two rows are the
same experiment when their dataset, model, seed, fold and setup match; the setup is the
training budget and the settings an experiment may change (`VARIANT_DEFAULTS`), each as its
default where the row recorded what the default resolves to. `accuracy.py` reads this to skip
runs already done, the reports to group and pair runs:

    from benchmarks.setups import describe_setup, setup_of
    settings = {"epochs": 1, "learning_rate": 5e-5, "sequence_length": 128, "dropout": 0.5}
    describe_setup(setup_of(settings))
    # '1 epoch, dropout 0.5, head_learning_rate_multiplier 1, label_smoothing 0': a row without
    # a setting ran before it existed, at what was then the default
"""

from benchmarks.reference import ALSO_EVALUATED
from benchmarks.reference import DATASETS
from benchmarks.reference import MULTI_LABEL
from benchmarks.results import ACCURACY
from benchmarks.results import RESULTS_DIR
from benchmarks.results import read_results
from bertcnn_tf.training.config import TrainingConfig
from bertcnn_tf.training.config import default_label_smoothing

# Today's defaults of the settings an experiment may change, from the package's
# `TrainingConfig` (its module imports no TensorFlow, so the reports stay fast).
DEFAULT_LEARNING_RATE = TrainingConfig.learning_rate
DEFAULT_SEQUENCE_LENGTH = TrainingConfig.sequence_length
CNN_HEAD_SETTINGS = ("kernel_sizes", "filters", "pooling", "with_cls_token")
VARIANT_DEFAULTS = {
    name: getattr(TrainingConfig, name)
    for name in (
        "head_learning_rate", "head_warmup_epochs", "dropout", "tune_threshold", "head_learning_rate_multiplier",
        "output_learning_rate_multiplier", "layer_decay", "ema_momentum", "label_smoothing", "batch_size", "backbone",
        *CNN_HEAD_SETTINGS,
    )
}
# What rows written before a setting existed ran with, where that differs from today's default.
BEFORE_SETTING_EXISTED = {"head_learning_rate_multiplier": 1.0, "label_smoothing": 0.0}
# Settings whose default (None) the training run resolves from the data, as rows record it.
RESOLVED_DEFAULTS = {
    "label_smoothing": lambda settings: default_label_smoothing(settings.get("multi_label", False)),
}


def setup_of(settings):
    """The training budget and settings that make runs comparable, as a tuple; a setting a row
    records at what its default resolves to for that data counts as the default."""
    return (
        settings["epochs"], settings["learning_rate"], settings["sequence_length"],
        *(setting_of(settings, name, default) for name, default in VARIANT_DEFAULTS.items()),
    )


def setting_of(settings, name, default):
    """One setting of a row, as its setup holds it (`setup_of`)."""
    value = hashable(settings.get(name, BEFORE_SETTING_EXISTED.get(name, default)))
    if name in RESOLVED_DEFAULTS and value == RESOLVED_DEFAULTS[name](settings):
        return default
    return value


def hashable(value):
    """A setting as a key part: JSON gives back kernel sizes as a list."""
    return tuple(value) if isinstance(value, list) else value


def baseline_setup(setup):
    """The setup of the CLS runs to pair with cnn runs of `setup`: CLS has no CNN head settings
    (they are None in its rows), so a variant that only reshapes the CNN head pairs with CLS at
    otherwise the same setup."""
    epochs, learning_rate, sequence_length, *variants = setup
    return (epochs, learning_rate, sequence_length, *(
        None if name in CNN_HEAD_SETTINGS else value for name, value in zip(VARIANT_DEFAULTS, variants)))


def describe_setup(setup):
    """'3 epochs' or '1 epoch, head_warmup_epochs 1': the budget and what differs from the defaults."""
    epochs, learning_rate, sequence_length, *variants = setup
    parts = [f"{epochs} epoch" + ("" if epochs == 1 else "s")]
    if learning_rate != DEFAULT_LEARNING_RATE:
        parts.append(f"lr {learning_rate:g}")
    if sequence_length != DEFAULT_SEQUENCE_LENGTH:
        parts.append(f"length {sequence_length}")
    for (name, default), value in zip(VARIANT_DEFAULTS.items(), variants):
        if value != default:
            parts.append(f"{name} {format_setting(value)}" if not isinstance(value, bool) else name)
    return ", ".join(parts)


def format_setting(value):
    """1e-3 -> '0.001', (3, 4, 5) -> '3/4/5', 'max_mean' -> 'max_mean'."""
    if isinstance(value, tuple):
        return "/".join(str(part) for part in value)
    return value if isinstance(value, str) else f"{value:g}"


def key_of(row):
    """What makes two runs the same experiment."""
    return (row["dataset"], row["model"], row["seed"], setup_of(row["settings"]), row.get("max_train", 0),
            row.get("folds", 0), row.get("fold"))


def latest_runs(rows):
    """One row per experiment (`key_of`), the newest: a run repeated to score a split it
    lacked replaces the earlier one."""
    runs = {}
    for row in rows:
        runs[key_of(row)] = row
    return list(runs.values())


def read_runs(cross_validated=False, results_dir=RESULTS_DIR):
    """The accuracy results, the newest row per experiment (`latest_runs`): the runs on each
    dataset's own split, or the cross-validation folds."""
    rows = latest_runs(read_results(ACCURACY, results_dir))
    return [row for row in rows if bool(row.get("folds")) == cross_validated]


def has_every_split(row):
    """Whether the row scored every split its dataset now also evaluates (`ALSO_EVALUATED`)."""
    return all(split in row.get("also", {}) for split in ALSO_EVALUATED.get(row["dataset"], ()))


def correct_flags(bits):
    """A stored '1'/'0' correctness string as booleans."""
    return [bit == "1" for bit in bits]


def default_setups(rows):
    """{dataset: the setup at the defaults users get with the most epochs that has a cnn run}.

    The defaults: today's `TrainingConfig` values of every variant setting, the learning rate
    and the sequence length; threshold tuning counts as a default on multi-label sets, where it is
    a flag of its own. Any budget of epochs; the largest run stands for the dataset.
    """
    names = list(VARIANT_DEFAULTS)
    defaults = (DEFAULT_LEARNING_RATE, DEFAULT_SEQUENCE_LENGTH)
    chosen = {}
    for row in rows:
        if row.get("max_train") or row["model"] != "cnn":
            continue
        setup = setup_of(row["settings"])
        epochs, learning_rate, sequence_length, *variants = setup
        free = {"tune_threshold"} if row["dataset"] in MULTI_LABEL else set()
        at_defaults = all(
            value == VARIANT_DEFAULTS[name] or name in free for name, value in zip(names, variants)
        )
        if at_defaults and (learning_rate, sequence_length) == defaults:
            best = chosen.get(row["dataset"])
            if best is None or epochs > best[0]:
                chosen[row["dataset"]] = setup
    return dict(sorted(chosen.items(), key=lambda item: list(DATASETS).index(item[0])))


def default_setups_with_folds(rows, folds=()):
    """(`default_setups` of `rows`, in DATASETS order, with each dataset that has no run at the
    defaults on its own split but k-fold runs there (`folds`) added; the datasets so added)."""
    folded = {dataset: setup for dataset, setup in default_setups(folds).items() if dataset not in default_setups(rows)}
    merged = {**default_setups(rows), **folded}
    return {dataset: merged[dataset] for dataset in DATASETS if dataset in merged}, folded
