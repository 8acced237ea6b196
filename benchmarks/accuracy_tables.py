"""The accuracy section of RESULTS.md: the runs' scores per dataset and head, and the paired tests.

Built from `results/accuracy.jsonl` (written by `accuracy.py`) by `python -m benchmarks.report`;
the runs grouped into experiments by `setups.py`. The main table takes every setup run, the
README's only each dataset's run at the defaults:

    from benchmarks.accuracy_tables import summary_table
    from benchmarks.setups import read_runs
    print(summary_table(read_runs(), at_defaults_only=True))
"""

from benchmarks.machine import describe_machine
from benchmarks.reference import ALSO_EVALUATED
from benchmarks.reference import DATASETS
from benchmarks.reference import KIM_2014
from benchmarks.reference import KIM_NOTE
from benchmarks.reference import KIM_SPLIT
from benchmarks.reference import PUBLISHED_BERT
from benchmarks.reference import PUBLISHED_BERT_ALSO
from benchmarks.reference import PUBLISHED_NOTE
from benchmarks.reference import TARGETS
from benchmarks.setups import baseline_setup
from benchmarks.setups import correct_flags
from benchmarks.setups import default_setups
from benchmarks.setups import describe_setup
from benchmarks.setups import setup_of
from bertcnn_tf.training.significance import discordant
from bertcnn_tf.training.significance import format_p
from bertcnn_tf.training.significance import mcnemar_p

MODEL_ORDER = ["cnn", "keras_hub_cls", "mean", "max", "cls", "seed"]
MODEL_NAMES = {"cnn": "BERT-CNN (ours)", "keras_hub_cls": "keras-hub BertTextClassifier ([CLS])", "mean": "masked mean pooling"}


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
            counts[(dataset, setup, seed)] = (len(bits), *discordant(correct_flags(bits), correct_flags(other)))
    return counts


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
        discordant(correct_flags(ones[f]["correct"]), correct_flags(others[f]["correct"]))
        for f in sorted(set(ones) & set(others)) if ones[f].get("correct") and others[f].get("correct")
    ]
    return sum(first for first, _ in pairs), sum(second for _, second in pairs), len(pairs)


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


def accuracy_section(rows, folds):
    """RESULTS.md's accuracy section from the runs on each dataset's own split (`rows`) and the
    cross-validation folds (`folds`), both as `setups.read_runs` gives them."""
    table = summary_table(rows)
    paired = paired_comparisons(rows)
    if paired:
        table += "\n\n" + paired
    table += also_evaluated_tables(rows)
    cross_validation = cross_validation_table(folds)
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
    command = "python -m benchmarks.accuracy --data-dir ../shared/data --datasets ... --models cnn,keras_hub_cls,mean --seeds 1,2,3"
    return (
        f"Command: `{command}` (variants: `--epochs`, `--head-warmup-epochs`, `--tune-threshold` ...; "
        f"each setup is its own row). Cells: mean ± sample standard deviation over the seeds run.\n\n"
        f"{machines_line(rows)}\n\n{table}\n\n{KIM_NOTE} {PUBLISHED_NOTE}\n\nPlot: `plots/accuracy.png` (the runs at the defaults, a panel per dataset).\n"
    )
