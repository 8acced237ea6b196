"""Each variant of the training recipe against the defaults, on the same examples and seeds.

    python -m benchmarks.variants   # prints the section `python -m benchmarks.report` writes

Reads `results/accuracy.jsonl` (written by `accuracy.py`) and pairs every run of a non-default
setup with the default setup's run of the same dataset, model, seed, fold and epochs. For each
variant and model: the change in score per dataset, and, pooled over the single-label runs, the
examples only the variant gets right against only the default, with McNemar's exact test on
those sums; once for the runs on each dataset's own split, once for the cross-validation folds.
"""

import argparse

from benchmarks.accuracy_tables import MODEL_ORDER
from benchmarks.reference import DATASETS
from benchmarks.setups import VARIANT_DEFAULTS
from benchmarks.setups import baseline_setup
from benchmarks.setups import correct_flags
from benchmarks.setups import default_setups
from benchmarks.setups import format_setting
from benchmarks.setups import read_runs
from benchmarks.setups import setup_of
from bertcnn_tf.training.significance import discordant
from bertcnn_tf.training.significance import format_p
from bertcnn_tf.training.significance import mcnemar_p

BASELINE = "keras_hub_cls"


def variant_pairs(rows):
    """{(variant, model): [(dataset, seed, default row, variant row, baseline row)]}, same epochs
    and fold; a variant is what its setup changes from its dataset's default setup, as
    `describe_change` words it. The baseline row is CLS's run at its defaults (None for CLS itself
    and where CLS has no such run): a variant that helps a head may or may not close its gap to CLS."""
    defaults = default_setups(rows)
    runs = {}
    for row in rows:
        if not row.get("max_train"):
            runs[(row["dataset"], row["model"], row["seed"], row.get("fold"), setup_of(row["settings"]))] = row
    pairs = {}
    for (dataset, model, seed, fold, setup), row in runs.items():
        default = defaults.get(dataset)
        if default is None or setup == default or setup[0] != default[0]:
            continue  # the default itself, or another budget of epochs
        base = runs.get((dataset, model, seed, fold, default))
        if base is not None:
            baseline = None if model == BASELINE else runs.get((dataset, BASELINE, seed, fold, baseline_setup(default)))
            pairs.setdefault((describe_change(setup, default), model), []).append((dataset, seed, base, row, baseline))
    return pairs


def describe_change(setup, default):
    """'lr 0.0001, layer_decay 0.85': the settings where `setup` differs from `default`."""
    names = ["epochs", "lr", "length", *VARIANT_DEFAULTS]
    parts = []
    for name, value, base in zip(names, setup, default):
        if value == base:
            continue
        if isinstance(value, bool):
            parts.append(name if value else f"no {name}")
        else:
            parts.append(f"{name} {format_setting(value)}")
    return ", ".join(parts)


def pooled_discordant(pairs):
    """'12 / 9 (3 of 4 runs) | 0.66' over the (first, second) row pairs that stored per-example
    results: the examples only the first gets right and only the second, summed; '– | –' if none."""
    first_only, second_only, tested = 0, 0, 0
    for first, second in pairs:
        if first.get("correct") and second.get("correct"):
            first_right, second_right = discordant(correct_flags(first["correct"]), correct_flags(second["correct"]))
            first_only += first_right
            second_only += second_right
            tested += 1
    if not tested:
        return "– | –"
    return f"{first_only} / {second_only} ({tested} of {len(pairs)} runs) | {format_p(mcnemar_p(first_only, second_only))}"


def variants_markdown(rows, runs_are="seeds"):
    """A table: per variant and model, its change per dataset (mean over the paired runs, which
    are `runs_are`), the pooled paired test against the default, and against CLS at its defaults
    on the same runs; "" where no variant has a default to pair with."""
    lines = [
        f"| variant | model | change per dataset, points ({runs_are}) | only the variant right / only the default | McNemar p, pooled "
        f"| only the variant right / only {BASELINE} at its defaults | McNemar p, pooled |",
        "|---|---|---|---|---|---|---|",
    ]
    pairs = variant_pairs(rows)
    if not pairs:
        return ""
    for variant, model in sorted(pairs, key=lambda key: (key[0], MODEL_ORDER.index(key[1]))):
        found = pairs[(variant, model)]
        changes = []
        for dataset in DATASETS:
            deltas = [100 * (row["score"] - base["score"]) for d, _, base, row, _ in found if d == dataset]
            if deltas:
                changes.append(f"{dataset} {sum(deltas) / len(deltas):+.1f} ({len(deltas)})")
        lines.append(
            f"| {variant} | {model} | {', '.join(changes)} | "
            f"{pooled_discordant([(row, base) for _, _, base, row, _ in found])} | "
            f"{pooled_discordant([(row, baseline) for *_, row, baseline in found if baseline is not None])} |"
        )
    return "\n".join(lines)


def variants_section(rows, folds):
    """The section from the runs on each dataset's split (`rows`) and the cross-validation
    folds (`folds`), both as `setups.read_runs` gives them."""
    body = (
        "Each variant run is paired with the default setup's run of the same dataset, model, seed and "
        "epochs (for goemotions the default includes `--tune-threshold`). The change per dataset is "
        "the mean over those seeds. The pooled test sums the discordant examples over the runs "
        "that stored per-example results (not goemotions, which is multi-label, nor runs from before "
        "the harness stored them); seeds of one dataset share their examples, so where seeds repeat "
        "the pooled p is, if anything, too small: a pooled p above 0.05 means no significant difference.\n\n"
        + variants_markdown(rows)
    )
    cross_validated = variants_markdown(folds, "folds")
    if cross_validated:
        body += (
            "\n\nThe same by 10-fold cross-validation (`--folds 10`): each fold of a variant paired with the "
            "default's same fold. Each example is in one fold, so the pooled counts are one valid test, and the change "
            "per dataset is the change in the mean over the folds; a row with fewer folds than 10 is partial.\n\n"
            + cross_validated
        )
    return f"Command: `python -m benchmarks.variants`.\n\n{body}\n"


def main(argv=None):
    argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.split("\n")[0]).parse_args(argv)
    print(variants_section(read_runs(), read_runs(cross_validated=True)))


if __name__ == "__main__":
    main()
