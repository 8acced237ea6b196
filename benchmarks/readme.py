"""The README's results section, rebuilt from the benchmarks' result files.

Every benchmark calls `refresh_readme()` after writing its results, which also
rebuilds the targets table in RESULTS.md (`targets.py`); run this file to
rebuild both by hand:

    python benchmarks/readme.py
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import read_results  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.targets import newest_head_cost  # noqa: E402
from benchmarks.targets import refresh_targets  # noqa: E402

README = os.path.join(os.path.dirname(HERE), "README.md")


def native_row(r, q):
    """The table row of the export served by a C process, where the run measured one."""
    if "ours_savedmodel_native_texts_per_s" not in r:
        return ""
    return (
        f"| the same export in a C process with no Python, as TF Serving runs it | "
        f"{r['ours_savedmodel_native_texts_per_s']:.0f} / {r['ours_savedmodel_bf16_native_texts_per_s']:.0f} | "
        f"{q['savedmodel_native_vs_pad128']:.1f}x / {q['savedmodel_native_bf16_vs_pad128']:.1f}x |\n"
    )


def native_latency(r):
    if "ours_savedmodel_native_latency_p50_ms" not in r:
        return ""
    shown = f", {r['ours_savedmodel_native_latency_p50_ms']:.1f} ms in a C serving process"
    if "ours_savedmodel_xla_native_latency_p50_ms" in r:
        shown += f", {r['ours_savedmodel_xla_native_latency_p50_ms']:.1f} ms there compiled by XLA (`--jit-compile`)"
    return shown


def xla_row(r, q):
    """The table row of the export compiled by XLA, where the run measured one."""
    if "ours_savedmodel_xla_native_texts_per_s" not in r:
        return ""
    return (
        f"| the float32 export compiled by XLA (`--jit-compile`), C process | "
        f"{r['ours_savedmodel_xla_native_texts_per_s']:.0f} | {q['savedmodel_native_xla_vs_pad128']:.1f}x |\n"
    )


def speed_summary(row):
    r, q = row["results"], row["ratios"]
    pad = r["pad128_keras_texts_per_s"]
    # Absolute rates follow the shared machine's speed on the day; the matmul rate says which day it was.
    machine = f"{row['machine']['cores']} CPU cores, fp32 matmul {r['matmul_fp32_gflops']:.0f} GFLOP/s"
    return f"""| inference, sst2 dev, batch 32 ({machine}) | texts/s | vs padding to 128 |
|---|---|---|
| exported SavedModel (TF's C++ loader), float32 / bfloat16 | {r['ours_savedmodel_texts_per_s']:.0f} / {r['ours_savedmodel_bf16_texts_per_s']:.0f} | {q['savedmodel_vs_pad128']:.1f}x / {q['savedmodel_bf16_vs_pad128']:.1f}x |
{native_row(r, q)}{xla_row(r, q)}| Keras model, float32 / bfloat16 | {r['ours_keras_texts_per_s']:.0f} / {r['ours_keras_bf16_texts_per_s']:.0f} | {q['ours_vs_pad128']:.1f}x / {q['ours_bf16_vs_pad128']:.1f}x |
| padding every batch to 128 (the seed article) | {pad:.0f} | 1x |
| keras-hub `BertTextClassifier.predict` (pads to {r['keras_hub_sequence_length']}) | {r['keras_hub_texts_per_s']:.0f} | {r['keras_hub_texts_per_s'] / pad:.2f}x |

Single text through the SavedModel: p50 {r['ours_savedmodel_latency_p50_ms']:.1f} ms from Python{native_latency(r)}."""


def training_summary(speed_row, head_cost_rows):
    """The CNN head's training time over the CLS classifier's, from the newest run that measured it."""
    when, ratio, command = newest_head_cost(speed_row, head_cost_rows)
    return (
        f"Training: the CNN head takes {ratio:.2f}x the time of keras-hub's CLS classifier per example "
        f"(`{command}`, {when})."
    )


def kim_protocol_tables(rows, cross_validated):
    """Markdown parts: the defaults scored the way Kim (2014) scored, where they were: sst2 on its
    test set, and k-fold cross-validation."""
    from benchmarks.accuracy_report import cross_validation_table
    from benchmarks.accuracy_report import summary_table

    parts = []
    on_test = summary_table(rows, at_defaults_only=True, split="test")
    if on_test.count("\n") > 1:  # more than the header
        parts.append(on_test)
    if cross_validated:
        parts.append(cross_validation_table(cross_validated, at_defaults_only=True))
    if parts:
        parts.insert(0, "Scored as Kim (2014) scored (the main table uses one split per dataset): sst2 on "
                        "the SST-2 test set, and 10-fold cross-validation over the whole dataset.")
    return parts


def refresh_readme():
    """Rewrites the README's results section and RESULTS.md's targets from benchmarks/results/."""
    from benchmarks.accuracy_report import read_runs
    from benchmarks.accuracy_report import summary_table
    from benchmarks.head_cost import RESULTS as HEAD_COST_RESULTS
    from benchmarks.reference import PUBLISHED_NOTE
    from benchmarks.speed import RESULTS as SPEED_RESULTS

    parts = [
        "Measured here on 2 CPU cores with the offline all-MiniLM-L6-v2 backbone; commands, "
        "machine, versions and more rows in [benchmarks/RESULTS.md](benchmarks/RESULTS.md). "
        "Accuracy: each head fine-tuned with the same budget at the defaults users get, the largest "
        "budget run per dataset (a seed count of 1 is a single run; a dataset not listed has not yet run on "
        "its own split at today's defaults); the variants tried, and the runs at earlier defaults, are in RESULTS.md.",
    ]
    accuracy_rows = read_runs()
    if accuracy_rows:
        parts.append(summary_table(accuracy_rows, at_defaults_only=True))
        parts.append(PUBLISHED_NOTE)
        parts += kim_protocol_tables(accuracy_rows, read_runs(cross_validated=True))
    speed_rows = read_results(SPEED_RESULTS)
    if speed_rows and "ours_keras_bf16_texts_per_s" in speed_rows[-1]["results"]:
        parts.append(speed_summary(speed_rows[-1]) + " " + training_summary(speed_rows[-1], read_results(HEAD_COST_RESULTS)))
    plots = [
        (name, f"benchmarks/plots/{name}.png")
        for name in ("accuracy", "speed_scaling")
        if os.path.exists(os.path.join(HERE, "plots", f"{name}.png"))
    ]
    parts += [f"![{name}]({path})" for name, path in plots]
    update_results_section("results", "\n\n".join(parts) + "\n", path=README)
    refresh_targets()


if __name__ == "__main__":
    refresh_readme()
