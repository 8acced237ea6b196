"""What the CNN head adds to training time, at several widths, side by side.

Trains keras-hub's `BertTextClassifier` (the CLS baseline), this package's
masked-mean head and the CNN head at each `--filters` on the same pre-built
sst2 dev batches (length-bucketed, trimmed), each batch by every model in
turn so that a slow spell of the shared machine hits all alike (see
`timing.training_rates`), and reports each one's
training time over the CLS classifier's, next to the share of the model's
arithmetic its head accounts for. Not a test; never run in CI.

    python -m benchmarks.head_cost --data-dir ../shared/data --filters 64,100,128

Records a row in `results/head_cost.jsonl`; `python -m benchmarks.report` rebuilds the tables.
"""

import argparse
import json
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_sst2_dev
from benchmarks.machine import machine_info
from benchmarks.results import HEAD_COST
from benchmarks.results import record_run
from benchmarks.timing import alternately_labelled
from benchmarks.timing import keras_hub_cls_classifier
from benchmarks.timing import model_flops_per_text
from benchmarks.timing import training_batches
from benchmarks.timing import training_rates


def head_share(backbone, tokens, filters, kernel_sizes):
    """The head's share of the model's forward FLOPs per text of `tokens` tokens."""
    with_head = model_flops_per_text(backbone, tokens, filters, kernel_sizes)
    return 1.0 - model_flops_per_text(backbone, tokens, 0, kernel_sizes) / with_head


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.head_cost", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--texts", type=int, default=872)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--filters", default="64,100,128", help="CNN widths to compare, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; a batch counts its median time")
    args = parser.parse_args(argv)

    from bertcnn_tf import BertCNNClassifier

    examples = read_sst2_dev(args.data_dir, args.texts)
    train_examples, targets = alternately_labelled(examples)
    widths = [int(f) for f in args.filters.split(",")]

    def ours(**head):
        return BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128, **head)

    mean = ours(head="mean")
    cls = keras_hub_cls_classifier(mean.preprocessor.tokenizer)
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
    record_run(HEAD_COST, row)


if __name__ == "__main__":
    main()
