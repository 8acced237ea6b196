"""How much the trained runs share their errors: what a vote of them scores, what none gets right.

    python -m benchmarks.agreement                  # prints the section `python -m benchmarks.report` writes
    python -m benchmarks.agreement --every-setup    # the seed votes of every setup run

Reads `results/accuracy.jsonl` (written by `accuracy.py`). Per dataset and split, it takes every
run that stored per-example results there: every head, setup and seed (not the cross-validation
folds, not subsampled runs). If the runs mostly err on different examples, a vote of them scores
well above the best run and a better recipe or an ensemble could close a gap; if they err on the
same examples, the limit is what they share: the backbone and the data.
"""

import argparse

from benchmarks.accuracy_tables import MODEL_ORDER
from benchmarks.reference import ALSO_EVALUATED
from benchmarks.reference import DATASETS
from benchmarks.setups import baseline_setup
from benchmarks.setups import correct_flags
from benchmarks.setups import default_setups
from benchmarks.setups import describe_setup
from benchmarks.setups import read_runs
from benchmarks.setups import setup_of


def runs_by_split(rows):
    """{(dataset, split): [per-example correctness, one list per run]} over the runs that stored it."""
    found = {}
    for row in rows:
        if row.get("max_train") or row["dataset"] not in DATASETS:
            continue
        splits = {DATASETS[row["dataset"]][0]: row.get("correct")}
        for split in ALSO_EVALUATED.get(row["dataset"], ()):
            splits[split] = row.get("also", {}).get(split, {}).get("correct")
        for split, bits in splits.items():
            if bits:
                found.setdefault((row["dataset"], split), []).append(correct_flags(bits))
    return found


def agreement(runs):
    """{"runs", "examples", "mean", "best", "majority", "any", "none"} over runs scored on the same
    examples: accuracy in percent of the average and the best run, of "more than half the runs
    right" and of "at least one run right", and how many examples no run gets right."""
    examples = len(runs[0])
    if any(len(flags) != examples for flags in runs):
        raise ValueError(
            "runs scored on different numbers of examples cannot be compared example by example: "
            "rerun the older ones on today's data with `python -m benchmarks.accuracy`, whose newest row per experiment counts"
        )
    right = [sum(flags[i] for flags in runs) for i in range(examples)]
    accuracies = [100 * sum(flags) / examples for flags in runs]
    return {
        "runs": len(runs),
        "examples": examples,
        "mean": sum(accuracies) / len(accuracies),
        "best": max(accuracies),
        "majority": 100 * sum(2 * count > len(runs) for count in right) / examples,
        "any": 100 * sum(count > 0 for count in right) / examples,
        "none": sum(count == 0 for count in right),
    }


def agreement_markdown(rows):
    """The table, a row per dataset and split in DATASETS order; "" where no run stored examples."""
    found = runs_by_split(rows)
    if not found:
        return ""
    lines = [
        "| dataset (split) | runs | examples | mean run | best run | more than half the runs right "
        "| at least one run right | no run right (examples) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, split in sorted(found, key=lambda key: (list(DATASETS).index(key[0]), key[1])):
        a = agreement(found[(dataset, split)])
        lines.append(
            f"| {dataset} ({split}) | {a['runs']} | {a['examples']} | {a['mean']:.1f} | {a['best']:.1f} "
            f"| {a['majority']:.1f} | {a['any']:.1f} | {a['none']} |"
        )
    return "\n".join(lines)


def seed_votes_markdown(rows, every_setup=False):
    """A table: each head at its dataset's defaults (`default_setups`), or in `every_setup`, whose
    seeds (three or more, an odd number) all stored their evaluation split's examples, as the
    ensemble a user would get by voting those seeds; "" if none."""
    defaults = default_setups(rows)
    seeds = {}
    for row in rows:
        if row.get("correct") and not row.get("max_train") and row["dataset"] in DATASETS:
            key = (row["dataset"], setup_of(row["settings"]), row["model"])
            seeds.setdefault(key, []).append(correct_flags(row["correct"]))
    chosen = [
        (dataset, setup, model) for (dataset, setup, model), runs in seeds.items()
        if len(runs) >= 3 and len(runs) % 2 and (every_setup or dataset in defaults and setup == (
            defaults[dataset] if model == "cnn" else baseline_setup(defaults[dataset])))
    ]
    if not chosen:
        return ""
    lines = [
        "| dataset (split, setup) | model | seeds | mean seed | best seed | majority vote of the seeds |",
        "|---|---|---|---|---|---|",
    ]
    def order(key):
        dataset, setup, model = key
        return list(DATASETS).index(dataset), describe_setup(setup), MODEL_ORDER.index(model)

    for dataset, setup, model in sorted(chosen, key=order):
        a = agreement(seeds[(dataset, setup, model)])
        lines.append(
            f"| {dataset} ({DATASETS[dataset][0]}, {describe_setup(setup)}) | {model} | {a['runs']} "
            f"| {a['mean']:.1f} | {a['best']:.1f} | {a['majority']:.1f} |"
        )
    return "\n".join(lines)


def agreement_section(rows):
    """The section from the runs on each dataset's own split, as `setups.read_runs` gives them."""
    tables = agreement_markdown(rows)
    votes = seed_votes_markdown(rows)
    if votes:
        tables += (
            "\n\nEach head's seeds at its dataset's defaults as an ensemble: the majority vote of the "
            "three trained models, example by example (ties, with more than two classes, count as wrong; "
            "`--every-setup` prints it for every setup run with three or more seeds).\n\n" + votes
        )
    body = (
        "Every run that stored per-example results on a split (all heads, setups, budgets and seeds; "
        "the newest row per experiment), example by example. \"More than half the runs right\" is what "
        "a majority vote of those runs scores on a two-class set with an odd number of runs (ties count "
        "as wrong), and a lower bound of the plurality vote with more classes; \"at least one run right\" "
        "is the most that picking among these runs per example could reach. Where the vote scores no more "
        "than the best run, the runs share their errors: neither another recipe of the same kind nor an "
        "ensemble of them would move the score much.\n\n" + tables
    )
    return f"Command: `python -m benchmarks.agreement`.\n\n{body}\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agreement", description=__doc__.split("\n")[0])
    parser.add_argument("--every-setup", action="store_true",
                        help="print the seed votes of every setup run with three or more seeds")
    args = parser.parse_args(argv)
    print(seed_votes_markdown(read_runs(), every_setup=True) if args.every_setup else agreement_section(read_runs()))


if __name__ == "__main__":
    main()
