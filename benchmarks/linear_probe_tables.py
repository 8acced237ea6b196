"""RESULTS.md's linear probe section: what the frozen backbone's vectors score, per dataset.

Built from `results/linear_probe.json` (written by `linear_probe.py`) by `python -m benchmarks.report`:

    from benchmarks.linear_probe_tables import linear_probe_section
    from benchmarks.results import LINEAR_PROBE, read_document
    print(linear_probe_section(read_document(LINEAR_PROBE)))
"""

from benchmarks.machine import describe_machine
from benchmarks.reference import DATASETS

# The vectors compared, in the order `linear_probe.feature_model` concatenates them.
VECTORS = ["pooled_output", "cls_vector", "masked_mean", "masked_max"]
VECTOR_NAMES = {
    "pooled_output": "pooled [CLS] (keras-hub `BertTextClassifier` reads this)",
    "cls_vector": "raw [CLS] vector",
    "masked_mean": "masked mean of token vectors",
    "masked_max": "masked max of token vectors",
}


def linear_probe_section(results):
    """RESULTS.md body: probe scores and cosine similarities, one row per dataset."""
    lines = [
        "Command: `python -m benchmarks.linear_probe --data-dir ../shared/data --datasets ...`.",
        "",
        "Logistic regression on the frozen vectors of all-MiniLM-L6-v2 (no fine-tuning), fitted on "
        "the train split (a random sample of `--max-train` rows where it is larger; 10,000 here), scored "
        "on the accuracy benchmark's evaluation split; "
        "multi-label: one regression per label, threshold 0.5. In brackets: the mean cosine "
        "similarity between the vectors of two different texts.",
        "",
        "| dataset (metric) | train rows | " + " | ".join(VECTOR_NAMES[name] for name in VECTORS) + " |",
        "|---|---|" + "---|" * len(VECTORS),
    ]
    for dataset in sorted(results, key=list(DATASETS).index):
        result = results[dataset]
        cells = [
            f"{100 * v['score']:.1f} ({v['mean_cosine_similarity']:.2f})"
            for v in (result["vectors"][name] for name in VECTORS)
        ]
        lines.append(
            f"| {dataset} ({result['metric']}) | {result['train_examples']} | " + " | ".join(cells) + " |"
        )
    machines = sorted({describe_machine(r["machine"]) for r in results.values()})
    lines += ["", "Machine: " + "; ".join(machines) + "."]
    return "\n".join(lines)
