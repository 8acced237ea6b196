"""Reading and reporting the accuracy runs: which runs are one experiment, and the tables.

`accuracy.py` trains and appends rows to `results/accuracy.jsonl`; this module reads them back
(the newest row per experiment), pairs the heads example by example, and writes the accuracy
section of RESULTS.md, its plot, and through `readme.py`, `variants.py` and `agreement.py` the
sections built on it.

    python benchmarks/accuracy.py --table   # rewrites all of it from the results file
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import describe_machine  # noqa: E402
from benchmarks.common import read_results  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.readme import refresh_readme  # noqa: E402
from benchmarks.reference import ALSO_EVALUATED  # noqa: E402
from benchmarks.reference import DATASETS  # noqa: E402
from benchmarks.reference import KIM_2014  # noqa: E402
from benchmarks.reference import KIM_NOTE  # noqa: E402
from benchmarks.reference import KIM_SPLIT  # noqa: E402
from benchmarks.reference import MULTI_LABEL  # noqa: E402
from benchmarks.reference import PUBLISHED_BERT  # noqa: E402
from benchmarks.reference import PUBLISHED_BERT_ALSO  # noqa: E402
from benchmarks.reference import PUBLISHED_NOTE  # noqa: E402
from benchmarks.reference import TARGETS  # noqa: E402
from bertcnn_tf.metrics import default_label_smoothing  # noqa: E402
from bertcnn_tf.significance import format_p  # noqa: E402
from bertcnn_tf.significance import mcnemar_p  # noqa: E402
from bertcnn_tf.significance import paired_comparison  # noqa: E402
from bertcnn_tf.training import TrainingConfig  # noqa: E402

RESULTS = os.path.join(HERE, "results", "accuracy.jsonl")
PLOT = os.path.join(HERE, "plots", "accuracy.png")
MODEL_ORDER = ["cnn", "keras_hub_cls", "mean", "max", "cls", "seed"]
MODEL_NAMES = {"cnn": "BERT-CNN (ours)", "keras_hub_cls": "keras-hub BertTextClassifier ([CLS])", "mean": "masked mean pooling"}

# Training settings an experiment may change, with the defaults users get (TrainingConfig's).
CNN_HEAD_SETTINGS = ("kernel_sizes", "filters", "pooling", "with_cls_token")
VARIANT_DEFAULTS = {
    name: getattr(TrainingConfig, name)
    for name in ("head_learning_rate", "head_warmup_epochs", "dropout", "tune_threshold",
                 "head_learning_rate_multiplier", "output_learning_rate_multiplier", "layer_decay",
                 "ema_momentum", "label_smoothing", "batch_size", "backbone",
                 *CNN_HEAD_SETTINGS)
}
# What rows written before a setting existed ran with, where that differs from today's default.
BEFORE_SETTING_EXISTED = {"head_learning_rate_multiplier": 1.0, "label_smoothing": 0.0}
# Settings whose default (None) the training run resolves from the data, as rows record it.
RESOLVED_DEFAULTS = {"label_smoothing": lambda settings: default_label_smoothing(settings.get("multi_label", False))}


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
    if learning_rate != 5e-5:
        parts.append(f"lr {learning_rate:g}")
    if sequence_length != 128:
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


def read_runs(cross_validated=False):
    """The accuracy results, the newest row per experiment (`latest_runs`): the runs on each
    dataset's own split, or the cross-validation folds."""
    return [row for row in latest_runs(read_results(RESULTS)) if bool(row.get("folds")) == cross_validated]


def has_every_split(row):
    """Whether the row scored every split its dataset now also evaluates (`ALSO_EVALUATED`)."""
    return all(split in row.get("also", {}) for split in ALSO_EVALUATED.get(row["dataset"], ()))


def discordant_counts(rows, first="cnn", second="keras_hub_cls", split=None):
    """{(dataset, setup, seed): (examples, only `first` right, only `second` right)}, wherever
    both ran on the same setup (`second` on its `baseline_setup`) and seed and stored their
    per-example correctness; on the evaluation split, or on `split` where it was also evaluated."""
    runs = {}
    for row in rows:
        bits = row.get("correct") if split is None else row.get("also", {}).get(split, {}).get("correct")
        if bits and not row.get("max_train"):
            runs[(row["dataset"], setup_of(row["settings"]), row["seed"], row["model"])] = bits
    counts = {}
    for (dataset, setup, seed, model), bits in sorted(runs.items(), key=str):
        other = runs.get((dataset, baseline_setup(setup), seed, second))
        if model == first and other is not None:
            pair = paired_comparison(correct_flags(bits), correct_flags(other))
            counts[(dataset, setup, seed)] = (pair["examples"], pair["first_only"], pair["second_only"])
    return counts


def correct_flags(bits):
    """A stored '1'/'0' correctness string as booleans."""
    return [bit == "1" for bit in bits]


def paired_comparisons(rows, first="cnn", second="keras_hub_cls", split=None):
    """Markdown rows: where `first` and `second` ran on the same setup and seed, on which
    examples only one of them is right, and McNemar's p for that split."""
    lines = [
        f"| {dataset} ({describe_setup(setup)}), seed {seed} | {examples} | {first_only} | "
        f"{second_only} | {format_p(mcnemar_p(first_only, second_only))} |"
        for (dataset, setup, seed), (examples, first_only, second_only)
        in discordant_counts(rows, first, second, split).items()
    ]
    if not lines:
        return ""
    header = [
        f"Paired: the examples only {first} or only {second} gets right, same setup and seed; a variant "
        f"of the CNN head's shape against {second} at otherwise the same setup "
        "(McNemar's exact test; p above 0.05: the gap is not significant at the 5% level).",
        "",
        f"| run | examples | only {first} right | only {second} right | p |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(header + lines)


def fold_groups(rows):
    """{(dataset, setup, model, folds): {fold: row}} of cross-validation runs (first seed run only)."""
    groups = {}
    for row in rows:
        if row.get("folds") and not row.get("max_train"):
            runs = groups.setdefault((row["dataset"], setup_of(row["settings"]), row["model"], row["folds"]), {})
            runs.setdefault(row["fold"], row)
    return groups


def cross_validated_score(runs, folds):
    """(mean accuracy in percent over the folds, std, folds done, complete?) of one `fold_groups` entry."""
    import numpy as np

    scores = [100 * row["accuracy"] for row in runs.values()]
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, len(scores), len(scores) == folds


def discordant_over_folds(groups, dataset, setup, folds, first="cnn", second="keras_hub_cls"):
    """(examples only `first` gets right, only `second`, folds both ran) summed over the folds of
    a `fold_groups` experiment (`second` at its `baseline_setup`); each example is in one fold, so
    the sums are one paired test."""
    ones = groups.get((dataset, setup, first, folds), {})
    others = groups.get((dataset, baseline_setup(setup), second, folds), {})
    pairs = [
        paired_comparison(correct_flags(ones[f]["correct"]), correct_flags(others[f]["correct"]))
        for f in sorted(set(ones) & set(others)) if ones[f].get("correct") and others[f].get("correct")
    ]
    return sum(p["first_only"] for p in pairs), sum(p["second_only"] for p in pairs), len(pairs)


def cross_validation_table(rows, at_defaults_only=False):
    """Markdown: mean accuracy over the folds per dataset and head beside Kim (2014), and the
    examples only the CNN or only CLS gets right, summed over the folds (each example is tested once);
    then those sums pooled over the datasets at their defaults, whose examples are all different.
    Every setup run, or only each dataset's `default_setups` one."""
    groups = fold_groups(rows)
    defaults = default_setups(rows)
    if at_defaults_only:
        groups = {key: runs for key, runs in groups.items() if defaults.get(key[0]) == key[1]}
    pooled = []
    if not groups:
        return ""
    models = sorted({key[2] for key in groups}, key=MODEL_ORDER.index)
    lines = [
        "| dataset (budget) | " + " | ".join(models) + " | Kim 2014 | only cnn right / only keras_hub_cls right | p |",
        "|---|" + "---|" * len(models) + "---|---|---|",
    ]
    for dataset, setup, folds in sorted({(d, s, f) for d, s, _, f in groups}, key=str):
        cells = []
        for model in models:
            runs = groups.get((dataset, setup, model, folds))
            if not runs:
                cells.append("–")
                continue
            mean, std, done, _ = cross_validated_score(runs, folds)
            spread = f" ± {std:.1f}" if done > 1 else ""  # one fold has no spread to show
            cells.append(f"{mean:.1f}{spread} ({done} of {folds} folds)")
        first, second, paired_folds = discordant_over_folds(groups, dataset, setup, folds)
        paired = (f"{first} / {second} ({paired_folds} folds)", format_p(mcnemar_p(first, second))) if paired_folds else ("–", "–")
        lines.append(
            f"| {dataset} ({folds}-fold, {describe_setup(setup)}) | " + " | ".join(cells)
            + f" | {KIM_2014.get(dataset, '–')} | {paired[0]} | {paired[1]} |"
        )
        if paired_folds and setup == defaults.get(dataset):
            # A dataset not yet through every fold says so, as its own row does.
            name = dataset if paired_folds == folds else f"{dataset} ({paired_folds} of {folds} folds)"
            pooled.append((name, first, second))
    if len(pooled) > 1:
        first, second = sum(p[1] for p in pooled), sum(p[2] for p in pooled)
        lines.append(
            f"| pooled: {', '.join(p[0] for p in pooled)} at the defaults |" + " – |" * (len(models) + 1)
            + f" {first} / {second} | {format_p(mcnemar_p(first, second))} |"
        )
    return "\n".join(lines)


def score_of(row, split=None):
    """The row's score in percent: its metric on the evaluation split, or accuracy on `split`
    where that was also evaluated (else None)."""
    if split is None:
        return 100 * row["score"]
    scores = row.get("also", {}).get(split)
    return None if scores is None else 100 * scores["accuracy"]


def score_groups(rows, split=None):
    """{(dataset, setup, model): [score in percent, one per seed]} (`score_of`); subsampled runs left out."""
    groups = {}
    for row in rows:
        score = score_of(row, split)
        if row.get("max_train") or score is None:
            continue  # subsampled smoke runs are not results
        key = (row["dataset"], setup_of(row["settings"]), row["model"])
        groups.setdefault(key, []).append(score)
    return groups


def experiments(groups):
    """(dataset, setup) pairs in DATASETS order, then by setup."""
    found = {(dataset, setup) for dataset, setup, _ in groups}
    return sorted(found, key=lambda pair: (list(DATASETS).index(pair[0]), describe_setup(pair[1])))


def summary_table(rows, at_defaults_only=False, split=None):
    """Mean ± sample standard deviation over seeds per dataset and model, in percent, with Kim
    (2014), published BERTs and targets; every setup run, or only each dataset's `default_setups` one;
    on the evaluation split, or on `split` where it was also evaluated (accuracy)."""
    import numpy as np

    groups = score_groups(rows, split)
    models = sorted({model for *_, model in groups}, key=MODEL_ORDER.index)
    chosen = experiments(groups)
    if at_defaults_only:
        chosen = [pair for pair in default_setups(rows).items() if pair in chosen]
    lines = [
        "| dataset (split, budget) | metric | " + " | ".join(models) + " | Kim 2014 | published BERTs | target |",
        "|---|---|" + "---|" * len(models) + "---|---|---|",
    ]
    for dataset, setup in chosen:
        cells = []
        for model in models:
            scores = groups.get((dataset, setup, model))
            if not scores:
                cells.append("–")
            elif len(scores) == 1:
                cells.append(f"{scores[0]:.1f} (1 seed)")
            else:
                cells.append(f"{np.mean(scores):.1f} ± {np.std(scores, ddof=1):.1f} ({len(scores)} seeds)")
        shown_split, metric = DATASETS[dataset] if split is None else (split, "accuracy")
        kim = KIM_2014.get(dataset, "–")
        if KIM_SPLIT.get(dataset) not in (None, split):
            kim = f"{kim} ({KIM_SPLIT[dataset]})"
        published, target = (PUBLISHED_BERT.get(dataset, "–"), TARGETS.get(dataset, "–")) if split is None else (
            PUBLISHED_BERT_ALSO.get((dataset, split), "–"), "–")
        lines.append(
            f"| {dataset} ({shown_split}, {describe_setup(setup)}) | {metric} | " + " | ".join(cells)
            + f" | {kim} | {published} | {target} |"
        )
    return "\n".join(lines)


def also_evaluated_tables(rows):
    """Markdown: the summary and paired tables of each split also evaluated, where any run scored it."""
    parts = []
    for split in sorted({split for splits in ALSO_EVALUATED.values() for split in splits}):
        if score_groups(rows, split):
            datasets = ", ".join(d for d, splits in ALSO_EVALUATED.items() if split in splits)
            parts += [
                f"Also scored on the {split} split ({datasets}), by the same trained models, the runs "
                f"since the harness does it:", summary_table(rows, split=split),
            ]
            paired = paired_comparisons(rows, split=split)
            parts += [paired] if paired else []
    return "".join("\n\n" + part for part in parts)


def machines_line(rows):
    """Where the rows were run: each distinct machine and package set, once."""
    seen = []
    for row in rows:
        if row.get("machine") and describe_machine(row["machine"]) not in seen:
            seen.append(describe_machine(row["machine"]))
    return "Machines: " + "; ".join(seen) + "."


def default_setups(rows):
    """{dataset: the setup at the defaults users get with the most epochs that has a cnn run}.

    The defaults: today's `TrainingConfig` values of every variant setting, the learning rate
    and the sequence length; threshold tuning counts as a default on multi-label sets, where it is
    a flag of its own. Any budget of epochs; the largest run stands for the dataset.
    """
    names = list(VARIANT_DEFAULTS)
    defaults = (TrainingConfig.learning_rate, TrainingConfig.sequence_length)
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


def plot_accuracy(rows, path, folds=()):
    """One panel per dataset at the defaults (`default_setups`): mean over seeds per head,
    the seeds' spread as error bars, Kim (2014) and the target as lines; a dataset with no run
    at the defaults on its own split but k-fold runs (`folds`) shows those, over the folds. Each
    panel has its own y-range, since the heads differ by a point or two; the variants are in the tables."""
    import numpy as np
    from matplotlib.figure import Figure

    from bertcnn_tf.evaluation import save_figure

    groups = score_groups(rows)
    setups, folded = default_setups_with_folds(rows, folds)
    groups.update(score_groups([row for row in folds if row["dataset"] in folded]))
    models = sorted({model for *_, model in groups}, key=MODEL_ORDER.index)
    colors = {model: f"C{index}" for index, model in enumerate(models)}
    columns = 4
    panel_rows = -(-len(setups) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.9 * panel_rows + 0.6))
    for index, (dataset, setup) in enumerate(setups.items()):
        axes = figure.add_subplot(panel_rows, columns, index + 1)
        shown = [(m, groups[(dataset, setup, m)]) for m in models if groups.get((dataset, setup, m))]
        means = [np.mean(scores) for _, scores in shown]
        errors = [np.std(scores, ddof=1) if len(scores) > 1 else 0 for _, scores in shown]
        axes.bar(range(len(shown)), means, yerr=errors, capsize=3, color=[colors[m] for m, _ in shown])
        lines = []
        for value, style in ((KIM_2014.get(dataset), "k-"), (TARGETS.get(dataset), "r--")):
            if value is not None:
                axes.axhline(value, color=style[0], linestyle=style[1:], linewidth=1)
                lines.append(value)
        values = [m - e for m, e in zip(means, errors)] + lines
        low = min(values) - 3
        high = max([m + e for m, e in zip(means, errors)] + lines) + 1.5
        axes.set_ylim(low, high)
        label_height = 0.12 * (high - low)  # two lines at fontsize 7 in a panel this size
        for x, (mean, error, (_, scores)) in enumerate(zip(means, errors, shown)):
            # Inside the bar, clear of the error bar; above it where the bar is too short to hold it.
            inside = mean - error - low > label_height + 0.4
            axes.text(x, low + 0.4 if inside else mean + error + 0.2, f"{mean:.1f}\n({len(scores)})",
                      ha="center", va="bottom", fontsize=7, color="white" if inside else "black")
        axes.set_xticks(range(len(shown)), [m for m, _ in shown], fontsize=7)
        metric = DATASETS[dataset][1].replace("_", "-")
        protocol = next((f"{row['folds']}-fold, " for row in folds if row["dataset"] == dataset), "") if dataset in folded else ""
        axes.set_title(f"{dataset} ({metric}, {protocol}{describe_setup(setup)})", fontsize=8)
        axes.tick_params(axis="y", labelsize=7)
        axes.grid(True, axis="y", alpha=0.3)
    figure.suptitle(
        "all-MiniLM-L6-v2 at the defaults, same budget per head: mean over seeds (seeds in brackets; "
        "folds on k-fold panels); "
        + ", ".join(f"{m} = {MODEL_NAMES.get(m, m)}" for m in models)
        + ".\nBlack line: Kim (2014)'s CNN; red dashed line: the target.",
        fontsize=8,
    )
    figure.tight_layout()
    save_figure(figure, path)


def refresh_accuracy():
    """Rewrites RESULTS.md's accuracy section, its plot, the README's results and the variants
    section from the results file; returns the section's tables."""
    rows = read_runs()
    table = summary_table(rows)
    paired = paired_comparisons(rows)
    if paired:
        table += "\n\n" + paired
    table += also_evaluated_tables(rows)
    cross_validation = cross_validation_table(read_runs(cross_validated=True))
    if cross_validation:
        table += (
            "\n\nKim's protocol on the sets without an official split (`--folds 10`): k-fold "
            "cross-validation over all.csv, stratified, the same folds for every head; each fold trains on the "
            "rest (10% of it held out for choosing the epoch) and scores its fold. Cells: mean ± standard "
            "deviation over the folds. Paired: the examples only one head gets right, summed over the folds "
            "both ran (a variant of the CNN head's shape against CLS at otherwise the same setup); McNemar's "
            "exact test. The pooled row sums those counts over the datasets at their defaults, "
            "whose examples are all different, so it too is one valid test.\n\n" + cross_validation
        )
    command = "python benchmarks/accuracy.py --data-dir ../shared/data --datasets ... --models cnn,keras_hub_cls,mean --seeds 1,2,3"
    update_results_section(
        "accuracy",
        f"Command: `{command}` (variants: `--epochs`, `--head-warmup-epochs`, `--tune-threshold` ...; "
        f"each setup is its own row). Cells: mean ± sample standard deviation over the seeds run.\n\n"
        f"{machines_line(rows)}\n\n{table}\n\n{KIM_NOTE} {PUBLISHED_NOTE}\n\nPlot: `plots/accuracy.png` (the runs at the defaults, a panel per dataset).\n",
    )
    plot_accuracy(rows, PLOT, read_runs(cross_validated=True))
    refresh_readme()
    from benchmarks.agreement import refresh_agreement  # these import this module
    from benchmarks.variants import refresh_variants

    refresh_variants(rows)
    refresh_agreement(rows)
    return table
