"""The `bertcnn` command: parses flags and calls the package's functions.

```
bertcnn train --train train.csv --output runs/first [--validation dev.csv] [--test test.csv]
bertcnn evaluate --model runs/first --data test.csv
bertcnn predict --model runs/first "where is my parcel?" "charged twice"
bertcnn predict --model runs/first --input 'in-*.csv' --output scores/in --engine beam -- --runner DirectRunner
bertcnn compare --train train.csv --output runs/compare --heads cnn,cls,mean [--seeds 1,2,3]
bertcnn export --model runs/first --export-dir saved_models/first
bertcnn check-serving saved_models/first
bertcnn demo
```

Parsing imports no TensorFlow, so `bertcnn --help` answers at once; a
command starts TensorFlow with its C++ start-up log silenced unless
`--verbose` (or `BERTCNN_VERBOSE=1`) asks for it (`startup.py`).
"""

import argparse
import os
import sys

from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.choices import HEADS
from bertcnn_tf.choices import INFERENCE_DTYPES
from bertcnn_tf.choices import PREDICT_CHUNK_ROWS
from bertcnn_tf.cli import serving
from bertcnn_tf.cli import training
from bertcnn_tf.cli.startup import VERBOSE_ENVIRONMENT
from bertcnn_tf.cli.startup import start_tensorflow
from bertcnn_tf.data.files import DataError
from bertcnn_tf.training.config import TrainingConfig


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bertcnn", description="Train, evaluate and serve BERT-CNN text classifiers."
    )
    parser.add_argument(
        "--verbose", action="store_true", default=bool(os.environ.get(VERBOSE_ENVIRONMENT)),
        help=f"show TensorFlow's C++ start-up log (also ${VERBOSE_ENVIRONMENT}=1)",
    )
    # Also accepted after the command's name; SUPPRESS keeps the top-level value otherwise.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=subparser_with(verbose))

    train = commands.add_parser("train", help="fine-tune a classifier on a labelled file")
    training.add_training_flags(train)
    train.add_argument("--head", default=TrainingConfig.head, choices=HEADS)
    train.set_defaults(handler=training.train_command)

    compare = commands.add_parser("compare", help="train several heads with the same budget and seeds")
    training.add_training_flags(compare)
    compare.add_argument("--heads", default="cnn,cls,mean", help="comma-separated heads")
    compare.add_argument(
        "--seeds", help="comma-separated seeds, such as 1,2,3: every head trains once per seed (default: --seed)"
    )
    compare.add_argument(
        "--head-learning-rate-multipliers",
        help="comma-separated, such as 1,20: train every head once at each of these head learning-rate "
        "multipliers, named cnn-1x, cnn-20x (small two-class sets can do better at 1, many classes need 20)",
    )
    compare.add_argument(
        "--label-smoothings",
        help="comma-separated, such as 0,0.1: train every head once at each of these label smoothings, "
        "named cnn-ls0, cnn-ls0.1 (0.1, the single-label default, lifted the cnn head on small single-label "
        "sets and many classes, cost it on multi-label goemotions); "
        "with --head-learning-rate-multipliers, once per pair",
    )
    compare.set_defaults(handler=training.compare_command)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained model on a labelled file")
    evaluate.add_argument("--model", required=True, help="a run folder written by train")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
    evaluate.add_argument("--report-dir", help="also write report.json/.md and plots there")
    training.add_column_flags(evaluate, defaults=False)
    training.add_document_flags(evaluate)
    evaluate.set_defaults(handler=training.evaluate_command)

    predict = commands.add_parser("predict", help="labels and probabilities for new texts")
    add_texts_flags(predict, "classify")
    predict.add_argument(
        "--output", help="write JSON Lines here (.gz: gzipped), a chunk at a time, renamed into place when done",
    )
    predict.add_argument("--id-column", help="an input column to copy into each output line as `id`")
    predict.add_argument(
        "--resume", action="store_true", help="go on from the last completed chunk of an interrupted run",
    )
    predict.add_argument("--rejects", help="where rows that cannot be scored go (default OUTPUT.rejects.jsonl)")
    predict.add_argument("--chunk-rows", type=int, default=PREDICT_CHUNK_ROWS, help="rows read, scored and written at a time")
    predict.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
    predict.add_argument(
        "--abstain-below", type=float,
        help="answer the run's unknown label where the top probability is below this (default: the run's own)",
    )
    predict.add_argument(
        "--precision", choices=INFERENCE_DTYPES,
        help="compute in this dtype (default: the model's own); bfloat16 is faster on AVX512-BF16 CPUs",
    )
    predict.add_argument(
        "--explain", action="store_true",
        help="also write the spans of text behind each label (`explanation`; multi-label: `explanations`)",
    )
    predict.add_argument("--top-k", type=int, default=EXPLAIN_TOP_K, help="with --explain: spans per label")
    predict.add_argument(
        "--engine", choices=("local", "beam"), default="local",
        help="local: this process, in chunks, resumable; beam: an Apache Beam pipeline (pip install "
        "'bertcnn_tf[beam]'), --output a prefix of JSON Lines shards, Beam's options after `--` "
        "(docs/beam.md)",
    )
    predict.add_argument(
        "--saved-model", help="with --engine beam: score with this export's version directory (raw text in) "
        "instead of the run's Keras model",
    )
    predict.add_argument(
        "--output-format", choices=("jsonl", "jsonl.gz", "parquet"), default="jsonl",
        help="with --engine beam: the shards' format",
    )
    training.add_column_flags(predict, defaults=False)
    training.add_document_flags(predict)
    predict.set_defaults(handler=training.predict_command)

    explain = commands.add_parser("explain", help="the spans of text that decided each label, as an HTML page")
    add_texts_flags(explain, "explain")
    explain.add_argument(
        "--output", help="write the page here (.html), or JSON Lines (.jsonl); default: JSON Lines on stdout",
    )
    explain.add_argument("--top-k", type=int, default=EXPLAIN_TOP_K, help="evidence spans per label")
    explain.add_argument("--label", help="explain this label for every text, instead of the predicted one")
    explain.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
    training.add_column_flags(explain, defaults=False)
    explain.set_defaults(handler=training.explain_command)

    serving.add_serving_commands(commands)

    demo = commands.add_parser("demo", help="train on the bundled demo data, export, predict")
    demo.add_argument("--output", default="runs/demo", help="run folder")
    demo.add_argument("--export-dir", default="saved_models/demo", help="TF Serving base path")
    demo.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    demo.set_defaults(handler=training.demo_command)
    return parser


def add_texts_flags(parser, verb):
    """A run folder, and texts on the command line or a file of them."""
    parser.add_argument("--model", required=True, help="a run folder written by train")
    parser.add_argument("texts", nargs="*", help=f"texts to {verb}")
    parser.add_argument("--input", help="a file of texts (.csv, .tsv, .jsonl)")


def subparser_with(*parents):
    """An `ArgumentParser` class whose instances inherit the options of `parents`."""

    class Subparser(argparse.ArgumentParser):
        def __init__(self, **kwargs):
            super().__init__(parents=[*parents, *kwargs.pop("parents", [])], **kwargs)

    return Subparser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        start_tensorflow(args)
        return args.handler(args)
    except (DataError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
