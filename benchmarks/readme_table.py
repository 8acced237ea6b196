"""The README's results: a short table of accuracy, speed and memory, linking to RESULTS.md.

A user's view of the newest results: each dataset's score at the defaults against the CLS
baseline, Kim (2014) and the target, then what serving and training cost. Everything
else, and how each number was measured, is in benchmarks/RESULTS.md. Written into the
README's `results` section by `python -m benchmarks.report`:

    from benchmarks.readme_table import readme_results
    from benchmarks.setups import read_runs
    print(readme_results(read_runs(), speed=[], memory=[], head_cost=[]))
"""

from benchmarks.accuracy_tables import score_groups
from benchmarks.reference import DATASETS
from benchmarks.reference import KIM_2014
from benchmarks.reference import KIM_SPLIT
from benchmarks.reference import TARGETS
from benchmarks.setups import default_setups
from benchmarks.setups import describe_setup
from benchmarks.targets import newest_head_cost


def readme_results(accuracy, speed, memory, head_cost):
    """The section: `accuracy` as `setups.read_runs` gives it; `speed`, `memory` and `head_cost`
    the rows of their results files, oldest first."""
    parts = [
        "On CPU with the offline all-MiniLM-L6-v2 backbone. Accuracy: each head fine-tuned at the defaults "
        "with the same budget, the mean over its seeds; Kim (2014)'s CNN as published. Scored Kim's way, "
        "the variants tried and how each number was measured: [benchmarks/RESULTS.md](benchmarks/RESULTS.md)."
    ]
    if accuracy:
        parts.append(accuracy_table(accuracy))
    if speed:
        parts.append(cost_table(speed[-1], memory[-1] if memory else None, head_cost))
    parts.append("Plots: [accuracy per dataset](benchmarks/plots/accuracy.png), "
                 "[texts/s against length and batch size](benchmarks/plots/speed_scaling.png).")
    return "\n\n".join(parts) + "\n"


def accuracy_table(rows):
    """Each dataset at the defaults, the largest budget run: BERT-CNN and keras-hub's CLS
    classifier, each the mean over its seeds, beside Kim (2014) and the target."""
    import numpy as np

    groups = score_groups(rows)

    def mean(dataset, setup, model):
        scores = groups.get((dataset, setup, model))
        return f"{np.mean(scores):.1f}" if scores else "–"

    lines = [
        "| dataset (metric, split, budget) | BERT-CNN | keras-hub CLS classifier | Kim (2014) | target |",
        "|---|---|---|---|---|",
    ]
    for dataset, setup in default_setups(rows).items():
        split, metric = DATASETS[dataset]
        kim = KIM_2014.get(dataset, "–")
        if dataset in KIM_SPLIT:
            kim = f"{kim} ({KIM_SPLIT[dataset]})"
        lines.append(
            f"| {dataset} ({metric.replace('_', '-')}, {split}, {describe_setup(setup)}) | "
            f"{mean(dataset, setup, 'cnn')} | {mean(dataset, setup, 'keras_hub_cls')} | {kim} | "
            f"{TARGETS.get(dataset, '–')} |"
        )
    return "\n".join(lines)


def cost_table(speed, memory, head_cost):
    """Serving and training costs from the newest `speed.py` run, and memory from the newest
    `memory.py` run where there is one."""
    r, q = speed["results"], speed["ratios"]
    lines = [
        f"| sst2 dev, batch 32, {speed['machine']['cores']} CPU cores ({speed['time'][:10]}) | measured |",
        "|---|---|",
    ]
    if "ours_savedmodel_xla_native_texts_per_s" in r:  # runs before the XLA export lack these
        lines += [
            f"| the export served by a C process, as TF Serving runs it: float32 / XLA (`--jit-compile`) | "
            f"{r['ours_savedmodel_native_texts_per_s']:.0f} / {r['ours_savedmodel_xla_native_texts_per_s']:.0f} texts/s "
            f"({q['savedmodel_native_vs_pad128']:.1f}x / {q['savedmodel_native_xla_vs_pad128']:.1f}x the rate of padding every batch to 128) |",
            f"| single-text latency, p50, float32 / XLA export | {r['ours_savedmodel_native_latency_p50_ms']:.1f} / "
            f"{r['ours_savedmodel_xla_native_latency_p50_ms']:.1f} ms |",
        ]
    lines.append(f"| Keras `predict`, float32 | {r['ours_keras_texts_per_s']:.0f} texts/s |")
    _, ratio, _ = newest_head_cost(speed, head_cost)
    lines.append(f"| training time per example, CNN head over keras-hub's CLS classifier | {ratio:.2f}x |")
    if memory:
        m = memory["results"]
        serving = m.get("serve_native_float32", m["serve_float32"])["peak_rss_mb"]
        lines.append(f"| peak memory: training at batch 32 / serving the float32 export in a C process | "
                     f"{m['train']['peak_rss_mb']:.0f} / {serving:.0f} MB |")
    return "\n".join(lines)
