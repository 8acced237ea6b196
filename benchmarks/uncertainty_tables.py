"""RESULTS.md's uncertainty section: open-intent detection on banking77, and calibration.

Built from `results/uncertainty.jsonl` (written by `uncertainty.py`) by `python -m benchmarks.report`:

    from benchmarks.results import UNCERTAINTY, read_results
    from benchmarks.uncertainty_tables import uncertainty_section
    print(uncertainty_section(read_results(UNCERTAINTY)))
"""

import numpy as np

from benchmarks.machine import describe_machine

SCORE_NAMES = {
    "msp": "top softmax probability",
    "temperature": "top probability after the temperature (default)",
    "energy": "energy (logsumexp of the logits)",
    "mahalanobis": "Mahalanobis distance on the head's features",
}


def uncertainty_section(rows):
    """The section from every recorded run; runs of the same setup are averaged over their seeds."""
    open_set = [row for row in rows if row["kind"] == "open_set"]
    calibration = [row for row in rows if row["kind"] == "calibration"]
    lines = []
    if open_set:
        lines += open_set_table(open_set)
    if calibration:
        lines += ([""] if lines else []) + calibration_table(calibration)
    machines = sorted({describe_machine(row["machine"]) for row in rows})
    lines += ["", f"Machines: {'; '.join(machines)}."]
    return "\n".join(lines) + "\n"


def open_set_table(rows):
    shares = sorted({row["known_share"] for row in rows})
    first = rows[0]
    lines = [
        f"Command: `{first['command']}`. banking77, the known intents drawn at random per seed; train and "
        "validation hold the known intents only, the test set every row (unknown intents labelled unknown). "
        "Each score is thresholded to answer 95% of the validation rows; accuracy and macro-F1 are over the "
        "known intents plus unknown (Zhang et al., 2021), AUROC tells known from unknown test rows.",
        "",
        "| score | " + " | ".join(f"{share:.0%} known: accuracy / macro-F1 / AUROC" for share in shares) + " |",
        "|---|" + "---|" * len(shares),
    ]
    for score, label in SCORE_NAMES.items():
        cells = []
        for share in shares:
            runs = [row["scores"][score] for row in rows if row["known_share"] == share]
            cells.append(" / ".join(f"{100 * np.mean([run[m] for run in runs]):.1f}" for m in ("accuracy", "macro_f1", "auroc")))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    details = []
    for share in shares:
        runs = [row for row in rows if row["known_share"] == share]
        details.append(
            f"{share:.0%}: {runs[0]['known_intents']} intents, {runs[0]['train_rows']} training rows, "
            f"{runs[0]['unknown_test_rows']} of {runs[0]['test_rows']} test rows unknown, "
            f"{len(runs)} seed{'s' if len(runs) > 1 else ''}, {runs[0]['epochs']} epochs, "
            f"temperature {np.mean([run['temperature'] for run in runs]):.2f}"
        )
    lines += ["", "Setups: " + "; ".join(details) + "."]
    return lines


def calibration_table(rows):
    lines = [
        f"Command: `{rows[0]['command']}`. Temperature fitted on the validation split by NLL; ECE (15 bins) "
        "and NLL on the test split, before and after it.",
        "",
        "| dataset (split, training rows, epochs) | temperature | ECE before | ECE after | NLL before | NLL after |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['dataset']} ({row['split']}, {row['train_rows']}, {row['epochs']}) | {row['temperature']:.2f} | "
            f"{row['ece']['before']:.3f} | {row['ece']['after']:.3f} | {row['nll']['before']:.3f} | "
            f"{row['nll']['after']:.3f} |"
        )
    return lines
