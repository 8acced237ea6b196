"""The benchmarks' targets, each against the run that measures it, rebuilt from the result files.

    python -m benchmarks.targets   # prints the section `python -m benchmarks.report` writes

Accuracy targets read the runs at the defaults users get (any budget of epochs;
threshold tuning allowed on multi-label sets, where it is a flag of its own),
taking for each dataset the largest budget run there. Speed targets read the
newest run, and beside it the run on the fastest machine measured where that is
another, each with its machine's fp32 matmul rate, since absolute rates follow
the shared machine a run lands on; memory targets read the newest run.
"""

import argparse

from benchmarks.accuracy_tables import cross_validated_score
from benchmarks.accuracy_tables import discordant_counts
from benchmarks.accuracy_tables import discordant_over_folds
from benchmarks.accuracy_tables import fold_groups
from benchmarks.accuracy_tables import score_groups
from benchmarks.reference import DATASETS
from benchmarks.reference import KIM_2014
from benchmarks.reference import KIM_FOLDS
from benchmarks.reference import KIM_SPLIT
from benchmarks.reference import TARGETS
from benchmarks.results import HEAD_COST
from benchmarks.results import MEMORY
from benchmarks.results import SPEED
from benchmarks.results import read_results
from benchmarks.setups import default_setups_with_folds
from benchmarks.setups import describe_setup
from benchmarks.setups import read_runs
from bertcnn_tf.training.significance import format_p
from bertcnn_tf.training.significance import mcnemar_p


def accuracy_targets(rows, cross_validated=()):
    """Markdown rows for the accuracy targets; `cross_validated`: the k-fold runs, which, once every
    fold has run, stand for the Kim comparison and the CNN-against-CLS comparison on that set."""
    import numpy as np

    # A dataset whose runs at the defaults are all k-fold (say, after a default changed) stands by those.
    setups, _ = default_setups_with_folds(rows, cross_validated)
    groups = {split: score_groups(rows, split) for split in {None, *KIM_SPLIT.values()}}

    def cell(dataset, model, split=None):
        scores = groups[split].get((dataset, setups[dataset], model))
        if not scores:
            return None, "–"
        seeds = f"{len(scores)} seed" + ("" if len(scores) == 1 else "s")
        where = describe_setup(setups[dataset]) + (f", {split} split" if split else "")
        return float(np.mean(scores)), f"{np.mean(scores):.1f} ({seeds}, {where})"

    folds = fold_groups(cross_validated)

    def cross_validated_mean(dataset, model):
        """The head's mean over Kim's folds at the dataset's default setup, once every fold ran; else None."""
        k = KIM_FOLDS.get(dataset)
        runs = folds.get((dataset, setups[dataset], model, k))
        if not runs:
            return None
        mean, _, _, complete = cross_validated_score(runs, k)
        return mean if complete else None

    def kim_cell(dataset):
        """(the CNN's mean, how it was scored, by Kim's protocol?): by his protocol where it ran (his
        test split, or all his folds at the dataset's default setup), else on the evaluation split."""
        split = KIM_SPLIT.get(dataset)
        value, text = cell(dataset, "cnn", split)
        if split and value is not None:
            return value, text, True
        value = cross_validated_mean(dataset, "cnn")
        if value is not None:
            return value, f"{value:.1f} ({KIM_FOLDS[dataset]}-fold cross-validation)", True
        value, text = cell(dataset, "cnn")
        return value, text, False

    lines = []
    for dataset, goal in TARGETS.items():
        value, text = cell(dataset, "cnn") if dataset in setups else (None, "–")
        if value is not None:
            lines.append(row_of(f"{dataset} {DATASETS[dataset][1].replace('_', '-')} ≥ {goal}", text, value >= goal))
    kim = [(dataset, *kim_cell(dataset)) for dataset in KIM_2014 if dataset in setups]
    below = [f"{d} {text} against {KIM_2014[d]}" for d, v, text, _ in kim if v <= KIM_2014[d]]
    exact = [f"{d} {text} against {KIM_2014[d]}" for d, v, text, by_protocol in kim if by_protocol and v > KIM_2014[d]]
    lines.append(row_of(
        "BERT-CNN above Kim (2014) on every dataset Kim reports",
        f"above on {len(kim) - len(below)} of {len(kim)}" + (f" (not above: {'; '.join(below)})" if below else "")
        + (f"; scored as Kim scored: {'; '.join(exact)}; the rest on one split" if exact else ""),
        not below and len(kim) == len(KIM_2014),
    ))
    tests = discordant_counts(rows)

    def versus(cnn, cls):
        return f"{cnn:.1f} {'<' if cnn < cls else '≥'} {cls:.1f}"

    def one_split(dataset):
        """'90.0 < 90.7 (p 0.13-0.68, pooled 0.37)': both heads' means over the seeds on the
        evaluation split, with McNemar's p per seed and over the seeds pooled; None where a head
        has no run there."""
        cnn, cls = cell(dataset, "cnn")[0], cell(dataset, "keras_hub_cls")[0]
        if cnn is None or cls is None:
            return None
        counts = [(a, b) for (d, setup, _), (_, a, b) in tests.items() if d == dataset and setup == setups[d]]
        ps = sorted(mcnemar_p(a, b) for a, b in counts)
        p = "" if not ps else f" (p {format_p(ps[0])})" if len(ps) == 1 else (
            f" (p {format_p(ps[0])}-{format_p(ps[-1])}, pooled "
            f"{format_p(mcnemar_p(sum(a for a, _ in counts), sum(b for _, b in counts)))})")
        return versus(cnn, cls) + p

    def over_every_example(dataset):
        """(cnn, cls, '90.1 < 90.3 over 10 folds, every example once (p 0.25; one split ...)')
        where both heads ran all of Kim's folds at the default setup, else None."""
        cnn, cls = (cross_validated_mean(dataset, model) for model in ("cnn", "keras_hub_cls"))
        if cnn is None or cls is None:
            return None
        k = KIM_FOLDS[dataset]
        first, second, _ = discordant_over_folds(folds, dataset, setups[dataset], k)
        split = one_split(dataset)
        return cnn, cls, (
            f"{versus(cnn, cls)} over {k} folds, every example once "
            f"(p {format_p(mcnemar_p(first, second))}" + (f"; one split: {split})" if split else ")")
        )

    # Each dataset where both heads ran, in DATASETS order: by cross-validation where both ran
    # every fold (ten times the examples of one split), else by the means over seeds on the
    # evaluation split.
    compared = []
    for dataset in setups:
        folded = over_every_example(dataset)
        if folded:
            compared.append((dataset, *folded, True))
        elif one_split(dataset):
            cnn, cls = cell(dataset, "cnn")[0], cell(dataset, "keras_hub_cls")[0]
            compared.append((dataset, cnn, cls, one_split(dataset), False))
    behind = [f"{d} {text}" for d, cnn, cls, text, _ in compared if cnn < cls]
    by_folds = [f"{d} {text}" for d, cnn, cls, text, folded in compared if folded and cnn >= cls]
    lines.append(row_of(
        "BERT-CNN at or above keras-hub's CLS classifier on most datasets",
        f"at or above on {len(compared) - len(behind)} of {len(compared)}"
        + (f", by cross-validation where both heads ran every fold: {'; '.join(by_folds)}" if by_folds else "")
        + (f" (behind: {'; '.join(behind)}; McNemar's p per seed, and over the seeds' "
           "discordant examples pooled, which share their examples, so that p is if anything too small)"
           if behind else ""),
        2 * (len(compared) - len(behind)) > len(compared),
    ))
    return lines


def speed_targets(runs, head_cost):
    """Markdown rows for the speed targets, from `speed.py` runs (the newest first; the others
    shown beside it, each with its machine's matmul rate) and the newest `head_cost.py` run."""

    def where(run):
        return (f"`speed.py`, {run['time']}, {run.get('machine', {}).get('cpu', 'machine not recorded')}, "
                f"fp32 matmul {run['results']['matmul_fp32_gflops']:.0f} GFLOP/s")

    def latency(run):
        r = run["results"]
        python_p50 = r["ours_savedmodel_latency_p50_ms"]
        native_p50 = r.get("ours_savedmodel_native_latency_p50_ms")  # runs before the C probe lack it
        shown = f"{python_p50:.1f} ms from Python"
        if native_p50 is not None:
            shown = f"{native_p50:.1f} ms in a C serving process, {shown}"
        return shown, min(python_p50, native_p50 or python_p50)

    def target(name, measure, passes, shown_runs=runs):
        """One row: `measure(run)` gives (shown, value) for each run, `passes(value)` the verdict."""
        measured = [(run, *measure(run)) for run in shown_runs]
        verdicts = {passes(value) for _, _, value in measured}
        cell = "; ".join(f"{shown} ({where(run)})" for run, shown, _ in measured)
        if len(verdicts) == 1:
            return row_of(name, cell, verdicts.pop())
        status = "; ".join(("met" if passes(value) else "**not met**") + f" on {run['time']}" for run, _, value in measured)
        return f"| {name} | {cell} | {status} |"

    lines = [
        target("≥ 250 texts/s at batch 32, float32 export",
               lambda run: (f"{run['results']['ours_savedmodel_texts_per_s']:.0f} texts/s",
                            run["results"]["ours_savedmodel_texts_per_s"]), lambda value: value >= 250),
        target("≥ 3.5x the pad-to-128 pipeline",
               lambda run: (f"{run['ratios']['savedmodel_vs_pad128']:.2f}x", run["ratios"]["savedmodel_vs_pad128"]),
               lambda value: value >= 3.5),
        target("single-text p50 ≤ 10 ms, float32 export", latency, lambda value: value <= 10),
        target("model FLOP rate ≥ 50% of the fp32 matmul rate",
               lambda run: (f"{run['ratios']['model_flops_over_fp32_matmul']:.2f}",
                            run["ratios"]["model_flops_over_fp32_matmul"]), lambda value: value >= 0.5),
    ]
    # The XLA export (`--jit-compile`, which TF Serving runs only with
    # --xla_cpu_compilation_enabled=true) was measured from 2026-12-06 on.
    xla_runs = [run for run in runs if "ours_savedmodel_xla_native_texts_per_s" in run["results"]]
    if xla_runs:
        lines.insert(1, target(
            "≥ 250 texts/s at batch 32, XLA export (`--jit-compile`)",
            lambda run: (f"{run['results']['ours_savedmodel_xla_native_texts_per_s']:.0f} texts/s in a C serving process",
                         run["results"]["ours_savedmodel_xla_native_texts_per_s"]), lambda value: value >= 250, xla_runs))
        lines.insert(4, target(
            "single-text p50 ≤ 10 ms, XLA export (`--jit-compile`)",
            lambda run: (f"{run['results']['ours_savedmodel_xla_native_latency_p50_ms']:.1f} ms in a C serving process",
                         run["results"]["ours_savedmodel_xla_native_latency_p50_ms"]), lambda value: value <= 10, xla_runs))
    when, ratio, command = newest_head_cost(runs[0], head_cost)
    lines.append(row_of("CNN head ≤ 5% training time over the CLS classifier",
                        f"{ratio:.3f}x (`{command}`, {when})", ratio <= 1.05))
    return lines


def speed_runs_shown(speed_rows):
    """The newest `speed.py` run, and the one on the fastest machine measured (highest fp32 matmul
    rate) where that is another: absolute rates follow the shared machine a run lands on."""
    newest = speed_rows[-1]
    fastest = max(speed_rows, key=lambda row: row["results"]["matmul_fp32_gflops"])
    return [newest] if fastest is newest else [newest, fastest]


def newest_head_cost(speed_row, head_cost_rows):
    """(time, CNN training time over CLS, command) of the newest run that measured the default width."""
    key = f"cnn_{speed_row['results'].get('filters', 128)}"
    runs = [(speed_row["time"], speed_row["ratios"]["cnn_training_time_over_cls"], "speed.py")]
    runs += [(row["time"], row["time_over_cls"][key], "head_cost.py") for row in head_cost_rows if key in row["time_over_cls"]]
    return max(runs)


def memory_targets(memory):
    """Markdown rows for the memory targets, from the newest `memory.py` run."""
    r = memory["results"]
    where = f"`memory.py`, {memory['time']}"

    def serving_row(target, name):
        native = r.get(f"serve_native_{name}", r[f"serve_{name}"])["peak_rss_mb"]
        measured = f"{native:.0f} MB in a C serving process, {r[f'serve_{name}']['peak_rss_mb']:.0f} MB from Python ({where})"
        return row_of(target, measured, native <= 1000)

    rows = [
        row_of("peak RSS ≤ 3 GB training at batch 32", f"{r['train']['peak_rss_mb']:.0f} MB ({where})",
               r["train"]["peak_rss_mb"] <= 3000),
        serving_row("peak RSS ≤ 1 GB serving", "float32"),
    ]
    if "serve_xla" in r:  # measured from 2026-12-06 on
        rows.append(serving_row("peak RSS ≤ 1 GB serving, XLA export (`--jit-compile`)", "xla"))
    return rows


def row_of(target, measured, met):
    return f"| {target} | {measured} | {'met' if met else '**not met**'} |"


def targets_section(accuracy, folds, speed, head_cost, memory):
    """The section: the accuracy runs on each dataset's own split and the cross-validation folds
    (as `setups.read_runs` gives them), and the rows of `speed.py`, `head_cost.py` and `memory.py`."""
    lines = ["| target | measured | |", "|---|---|---|"]
    if accuracy:
        lines += accuracy_targets(accuracy, folds)
    speed = [row for row in speed if "matmul_fp32_gflops" in row["results"]]
    if speed:
        lines += speed_targets(speed_runs_shown(speed), head_cost)
    if memory:
        lines += memory_targets(memory[-1])
    return (
        "Rebuilt from `results/` by `python -m benchmarks.report`. "
        "Accuracy: the runs at the defaults users get, the largest budget run per dataset, mean over "
        "its seeds; speed: the newest run, and the run on the fastest machine measured where that is "
        "another (absolute rates follow the shared machine a run lands on; ratios compare across runs); "
        "memory: the newest run.\n\n" + "\n".join(lines) + "\n"
    )


def main(argv=None):
    argparse.ArgumentParser(prog="python -m benchmarks.targets", description=__doc__.split("\n")[0]).parse_args(argv)
    print(targets_section(read_runs(), read_runs(cross_validated=True), read_results(SPEED),
                          read_results(HEAD_COST), read_results(MEMORY)))


if __name__ == "__main__":
    main()
