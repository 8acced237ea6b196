"""What the CNN head adds to training time, at several widths, side by side.

Trains keras-hub's `BertTextClassifier` (the CLS baseline), this package's
masked-mean head and the CNN head at each `--filters` on the same pre-built
sst2 dev batches (length-bucketed, trimmed), each batch by every model in
turn so that a slow spell of the shared machine hits all alike (see
`speed.training_rates`), and reports each one's
training time over the CLS classifier's, next to the share of the model's
arithmetic its head accounts for. Not a test; never run in CI.

    python benchmarks/head_cost.py --data-dir ../shared/data --filters 64,100,128
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import append_result  # noqa: E402
from benchmarks.common import describe_machine  # noqa: E402
from benchmarks.common import machine_info  # noqa: E402
from benchmarks.common import read_results  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.readme import refresh_readme  # noqa: E402
from benchmarks.speed import model_flops_per_text  # noqa: E402
from benchmarks.speed import read_sst2_dev  # noqa: E402
from benchmarks.speed import training_batches  # noqa: E402
from benchmarks.speed import training_rates  # noqa: E402

RESULTS = os.path.join(HERE, "results", "head_cost.jsonl")
HEAD_LABELS = {"cls": "keras-hub `BertTextClassifier` (CLS)", "mean": "masked mean head"}


def head_share(backbone, tokens, filters, kernel_sizes):
    """The head's share of the model's forward FLOPs per text of `tokens` tokens."""
    with_head = model_flops_per_text(backbone, tokens, filters, kernel_sizes)
    return 1.0 - model_flops_per_text(backbone, tokens, 0, kernel_sizes) / with_head


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    parser.add_argument("--texts", type=int, default=872)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--filters", default="64,100,128", help="CNN widths to compare, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; a batch counts its median time")
    args = parser.parse_args(argv)

    import keras_hub

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf import make_preprocessor
    from bertcnn_tf.backbones import offline_backbone_dir
    from bertcnn_tf.data import Examples
    from bertcnn_tf.data import LabelVocabulary

    examples = read_sst2_dev(args.data_dir, args.texts)
    labels = [["positive"] if i % 2 else ["negative"] for i in range(len(examples))]
    train_examples = Examples(texts=examples.texts, labels=labels)
    targets = LabelVocabulary(["negative", "positive"]).encode(train_examples)
    widths = [int(f) for f in args.filters.split(",")]

    def ours(**head):
        return BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128, **head)

    mean = ours(head="mean")
    cls = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone.from_preset(offline_backbone_dir()),
        num_classes=2,
        preprocessor=make_preprocessor(mean.preprocessor.tokenizer, 128),
    )
    tasks = {"cls": cls, "mean": mean, **{f"cnn_{f}": ours(filters=f) for f in widths}}
    any_cnn = tasks[f"cnn_{widths[0]}"]
    steps = -(-len(examples) // args.batch_size)
    batches = training_batches(mean.preprocessor, train_examples, targets, args.batch_size, steps)
    rates = training_rates(tasks, batches, args.rounds)
    print(json.dumps(rates), flush=True)

    real_tokens = sum(int(features["padding_mask"].numpy().sum()) for features, _ in batches)
    tokens_per_text = real_tokens / len(examples)
    row = {
        "time": time.strftime("%Y-%m-%d %H:%M"),
        "texts": len(examples),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "kernel_sizes": list(any_cnn.kernel_sizes),
        "examples_per_s": rates,
        "time_over_cls": {name: rates["cls"] / rate for name, rate in rates.items()},
        "head_flop_share": {
            f"cnn_{f}": head_share(any_cnn.backbone, tokens_per_text, f, any_cnn.kernel_sizes) for f in widths
        },
        "machine": machine_info(),
    }
    append_result(RESULTS, row)
    print(json.dumps(row, indent=2))
    update_results_section("head cost", head_cost_markdown(read_results(RESULTS)))
    refresh_readme()


def head_cost_markdown(rows):
    """The section for RESULTS.md: one table per run, newest first, each with its command."""
    runs = []
    for row in reversed(rows):
        widths = ",".join(name.split("_")[1] for name in row["head_flop_share"])
        lines = [
            f"`python benchmarks/head_cost.py --data-dir ../shared/data --filters {widths}` "
            f"({row['time']}; {describe_machine(row['machine'])}): {row['texts']} sst2 dev "
            f"sentences in batches of {row['batch_size']}; each batch trained by every model in turn, its median time over {row['rounds']} passes.",
            "",
            "| model | examples/s | training time over CLS | head's share of forward FLOPs |",
            "|---|---|---|---|",
        ]
        for name, rate in row["examples_per_s"].items():
            share = row["head_flop_share"].get(name)
            label = HEAD_LABELS.get(name) or f"CNN head, {name.split('_')[1]} filters per width"
            shown = "–" if share is None else f"{100 * share:.1f}%"
            lines.append(f"| {label} | {rate:.1f} | {row['time_over_cls'][name]:.3f} | {shown} |")
        runs.append("\n".join(lines))
    return "\n\n".join(runs) + "\n"


if __name__ == "__main__":
    main()
