"""The `bertcnn` command: parses flags and calls the package's functions.

```
bertcnn train --train train.csv --output runs/first [--validation dev.csv] [--test test.csv]
bertcnn evaluate --model runs/first --data test.csv
bertcnn predict --model runs/first "where is my parcel?" "charged twice"
bertcnn compare --train train.csv --output runs/compare --heads cnn,cls,mean [--seeds 1,2,3]
bertcnn compare --train train.csv --output runs/rates --heads cnn --head-learning-rate-multipliers 1,20
bertcnn compare --train train.csv --output runs/smoothing --heads cnn,cls --label-smoothings 0,0.1
bertcnn export --model runs/first --export-dir saved_models/first
bertcnn check-serving saved_models/first
bertcnn demo
```
"""

import argparse
import dataclasses
import itertools
import json
import sys

from bertcnn_tf.cli_serving import add_serving_commands
from bertcnn_tf.data import DataError
from bertcnn_tf.distribution import STRATEGIES
from bertcnn_tf.layers.text_cnn import POOLING_MODES
from bertcnn_tf.precision import INFERENCE_DTYPES


# What a multi-worker non-chief worker prints instead of metrics.
WORKER_DONE = "Training done on this worker; the chief writes the run folder and the report."


def training_config(args, **overrides):
    from bertcnn_tf.training import TrainingConfig

    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.multi_label and values.get("label_separator") is None:
        values["label_separator"] = "|"
    values.update(overrides)
    return TrainingConfig(**values)


def read_split(args, path, config, require_labels=True):
    from bertcnn_tf.data import read_examples

    examples = read_examples(
        path,
        text_column=config.text_column,
        label_column=config.label_column,
        text_pair_column=config.text_pair_column,
        label_separator=config.label_separator,
        encoding=args.encoding,
        require_labels=require_labels,
    )
    note = examples.dropped_summary()
    print(f"{path}: {len(examples)} rows" + (f" (dropped {note})" if note else ""))
    return examples


def train_command(args):
    from bertcnn_tf.training import train

    config = training_config(args)
    train_examples = read_split(args, args.train, config)
    validation = read_split(args, args.validation, config) if args.validation else None
    test = read_split(args, args.test, config) if args.test else None
    _, report = train(train_examples, args.output, config, validation, test)
    if report is None:
        print(WORKER_DONE)
        return 0
    print_metrics(report["splits"], args.output)
    return 0


def compare_command(args):
    """Trains each head with the same budget, seeds and examples, then tests their gaps."""
    import os

    from bertcnn_tf.data import stratified_split
    from bertcnn_tf.io_utils import atomic_write_text
    from bertcnn_tf.significance import paired_comparison
    from bertcnn_tf.training import correct_per_example
    from bertcnn_tf.training import train

    heads = [head.strip() for head in args.heads.split(",") if head.strip()]
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    config = training_config(args)
    candidates = compare_candidates(heads, args.head_learning_rate_multipliers, args.label_smoothings)
    all_train = read_split(args, args.train, config)
    validation = read_split(args, args.validation, config) if args.validation else None
    test = read_split(args, args.test, config) if args.test else None
    split = "test" if test is not None else "validation"
    scores, paired = {name: [] for name, _, _ in candidates}, []
    for seed in seeds:
        train_examples, held_out = all_train, validation
        if validation is None:  # split once per seed, so that every head is scored on the same rows
            train_examples, held_out = stratified_split(all_train, config.validation_split, seed)
        scored = test if test is not None else held_out
        correct = {}
        for name, head, changes in candidates:
            print(f"\n=== {name} seed={seed} ===")
            output = os.path.join(args.output, name if len(seeds) == 1 else os.path.join(name, f"seed-{seed}"))
            # --with-cls-token reshapes every head but "cls", which is that vector already.
            head_config = dataclasses.replace(
                config, head=head, seed=seed, with_cls_token=None if head == "cls" else config.with_cls_token,
                **changes,
            )
            run, report = train(train_examples, output, head_config, held_out, test)
            if report is None:  # a multi-worker worker other than the chief
                continue
            scores[name].append({"seed": seed, **{k: report["splits"][split][k] for k in ("accuracy", "macro_f1")}})
            correct[name] = correct_per_example(run, scored, config.batch_size)
        paired += [
            {"first": first, "second": second, "seed": seed, **paired_comparison(correct[first], correct[second])}
            for first, second in itertools.combinations(correct, 2)
        ]
    if not any(scores.values()):
        print(WORKER_DONE)
        return 0
    results = {head: summarize_seeds(runs) for head, runs in scores.items()}
    print_comparison(split, seeds, results, paired, config.multi_label)
    summary = json.dumps({"split": split, "seeds": seeds, "heads": results, "paired": paired})
    atomic_write_text(os.path.join(args.output, "comparison.json"), summary + "\n")
    print(summary)
    return 0


def compare_candidates(heads, multipliers_text=None, smoothings_text=None):
    """[(name, head, TrainingConfig changes)]: every head once per combination of the values
    given, head learning-rate multipliers ("1,20": named "cnn-1x", "cnn-20x") and label
    smoothings ("0,0.1": "cnn-ls0", "cnn-ls0.1"); each head once, named as it is, given neither.

    >>> [name for name, _, _ in compare_candidates(["cnn", "cls"], "1,20", "0,0.1")][:3]
    ['cnn-1x-ls0', 'cnn-1x-ls0.1', 'cnn-20x-ls0']
    """
    axes = []
    if multipliers_text:
        multipliers = parse_numbers(multipliers_text, "--head-learning-rate-multipliers", float, "1,20")
        if not all(factor > 0 for factor in multipliers):  # also refuses "nan"
            raise DataError(f"--head-learning-rate-multipliers {multipliers_text!r}: give positive numbers, such as 1,20")
        axes.append([(f"{factor:g}x", "head_learning_rate_multiplier", factor) for factor in multipliers])
    if smoothings_text:
        smoothings = parse_numbers(smoothings_text, "--label-smoothings", float, "0,0.1")
        if not all(0 <= share < 1 for share in smoothings):  # also refuses "nan"
            raise DataError(f"--label-smoothings {smoothings_text!r}: give numbers in [0, 1), such as 0,0.1")
        axes.append([(f"ls{share:g}", "label_smoothing", share) for share in smoothings])
    return [
        ("-".join([head, *(tag for tag, _, _ in combination)]), head,
         {field: value for _, field, value in combination})
        for head in heads
        for combination in itertools.product(*axes)
    ]


def print_comparison(split, seeds, results, paired, multi_label):
    from bertcnn_tf.significance import format_p

    over = f" (mean ± std over {len(seeds)} seeds)" if len(seeds) > 1 else ""
    width = max(6, *(len(name) for name in results))
    print(f"\n{'head':<{width}} {split + ' accuracy':>20} {split + ' macro-F1':>20}{over}")
    for head, result in results.items():
        cells = [
            f"{result[metric]:.4f}" + (f" ± {result[metric + '_std']:.4f}" if len(seeds) > 1 else "")
            for metric in ("accuracy", "macro_f1")
        ]
        print(f"{head:<{width}} {cells[0]:>20} {cells[1]:>20}")
    if paired:
        exact = " (all of its labels right)" if multi_label else ""
        print(f"\nPaired, each seed's heads on the same {split} examples{exact}: McNemar's exact test")
    for pair in paired:
        verdict = "significant" if pair["p"] < 0.05 else "not significant"
        print(
            f"seed {pair['seed']}, {pair['first']} vs {pair['second']}: only {pair['first']} right on "
            f"{pair['first_only']}, only {pair['second']} on {pair['second_only']} of {pair['examples']}; "
            f"p {format_p(pair['p'])}, {verdict} at the 5% level"
        )


def summarize_seeds(runs):
    """A head's mean and sample standard deviation of each metric over its seeds, and the runs."""
    import numpy as np

    summary = {}
    for metric in ("accuracy", "macro_f1"):
        values = [run[metric] for run in runs]
        summary[metric] = float(np.mean(values))
        summary[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {**summary, "per_seed": runs}


def parse_seeds(text):
    return parse_numbers(text, "--seeds", int, "1,2,3")


def parse_numbers(text, flag, kind, example):
    """"1,2,3" -> [1, 2, 3]: one or more different numbers of `kind` (int or float), or a
    DataError naming `flag` and an `example` of what it takes."""
    noun = "whole numbers" if kind is int else "numbers"
    try:
        numbers = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise DataError(f"{flag} {text!r}: give {noun} separated by commas, such as {example}") from None
    if not numbers or len(set(numbers)) != len(numbers):
        raise DataError(f"{flag} {text!r}: give one or more different {noun}, such as {example}")
    return numbers


def evaluate_command(args):
    from bertcnn_tf.data import LabelVocabulary
    from bertcnn_tf.evaluation import write_report
    from bertcnn_tf.runs import load_run
    from bertcnn_tf.training import evaluate_examples

    run = load_run(args.model)
    config = training_config_from_run(run, args)
    examples = read_split(args, args.data, config)
    targets = LabelVocabulary(run.labels, run.multi_label).encode(examples)
    metrics = evaluate_examples(run, examples, targets, args.batch_size)
    if args.report_dir:
        write_report(args.report_dir, {"splits": {"evaluation": metrics}}, run.labels)
    summary = {k: metrics[k] for k in ("accuracy", "macro_f1", "micro_f1", "subset_accuracy", "weighted_f1", "examples") if k in metrics}
    summary["per_class"] = metrics["per_class"]
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def training_config_from_run(run, args):
    """The run's column settings, overridden by any given on the command line."""
    from bertcnn_tf.training import TrainingConfig

    config = TrainingConfig(**{k: v for k, v in run.settings.items() if k in {f.name for f in dataclasses.fields(TrainingConfig)}})
    for name in ("text_column", "label_column", "text_pair_column"):
        if getattr(args, name, None):
            config = dataclasses.replace(config, **{name: getattr(args, name)})
    return config


def predict_command(args):
    from bertcnn_tf.data import Examples
    from bertcnn_tf.inference import decide
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.io_utils import atomic_write_text
    from bertcnn_tf.precision import with_compute_dtype
    from bertcnn_tf.runs import load_run

    if bool(args.texts) == bool(args.input):
        raise DataError("Give texts on the command line or --input FILE, not both or neither.")
    run = load_run(args.model)
    if args.input:
        examples = read_split(args, args.input, training_config_from_run(run, args), require_labels=False)
    else:
        if run.text_pair_column:
            raise DataError("This model reads sentence pairs: pass them in a file with --input.")
        examples = Examples(texts=list(args.texts), labels=[[] for _ in args.texts])
    model = with_compute_dtype(run.model, args.precision) if args.precision else run.model
    probabilities = predict_probabilities(model, examples, run.multi_label, args.batch_size)
    decisions = decide(probabilities, run.labels, run.multi_label, run.threshold)
    lines = []
    for text, decision, row in zip(examples.texts, decisions, probabilities):
        record = {"text": text, "labels" if run.multi_label else "label": decision}
        record["probabilities"] = {label: round(float(p), 6) for label, p in zip(run.labels, row)}
        lines.append(json.dumps(record, ensure_ascii=False))
    if args.output:
        atomic_write_text(args.output, "\n".join(lines) + "\n")
        print(f"wrote {len(lines)} predictions to {args.output}")
    else:
        print("\n".join(lines))
    return 0


def demo_command(args):
    from bertcnn_tf.demo import run_demo

    run_demo(output_dir=args.output, export_base=args.export_dir, epochs=args.epochs)
    return 0


def print_metrics(splits, run_dir):
    for name, metrics in splits.items():
        print(f"{name}: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}")
    print(f"run folder: {run_dir} (model.keras, labels.txt, settings.json, report.md, plots)")


def kernel_sizes(text):
    """argparse type: "3,4,5" -> (3, 4, 5)."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of convolution widths: give positive integers joined by commas, e.g. 3,4,5"
        )
    return sizes


def add_cnn_head_flags(parser):
    """--kernel-sizes, --filters, --pooling, --with-cls-token: the head's shape (None: the classifier's default)."""
    parser.add_argument(
        "--kernel-sizes", type=kernel_sizes,
        help="the cnn head's convolution widths, comma-separated (default 3,4,5)",
    )
    parser.add_argument("--filters", type=int, help="the cnn head's filters per width (default 128)")
    parser.add_argument(
        "--pooling", choices=POOLING_MODES, help="the cnn head's masked pooling over time (default max)"
    )
    parser.add_argument(
        "--with-cls-token", action="store_const", const=True,
        help="also give the classifier the [CLS] token's vector, beside the head's features (not for --head cls)",
    )


def add_column_flags(parser, defaults=True):
    parser.add_argument("--text-column", default="text" if defaults else None)
    parser.add_argument("--label-column", default="label" if defaults else None)
    parser.add_argument("--text-pair-column", help="second text column, for sentence pairs")
    parser.add_argument("--encoding", default="utf-8", help="the files' text encoding")


def add_training_flags(parser):
    parser.add_argument("--train", required=True, help="training file (.csv, .tsv, .jsonl)")
    parser.add_argument("--output", required=True, help="run folder to write")
    parser.add_argument("--validation", help="validation file; default: a stratified split of --train")
    parser.add_argument("--test", help="test file, evaluated once at the end")
    add_column_flags(parser)
    parser.add_argument("--backbone", default="offline", help="'offline', a keras-hub preset, or a model directory")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--warmup-ratio", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--dropout", type=float)
    add_cnn_head_flags(parser)
    parser.add_argument("--head-warmup-epochs", type=int, help="epochs training the head alone first")
    parser.add_argument("--head-learning-rate", type=float, help="the head-only warm-up's learning rate")
    parser.add_argument(
        "--head-learning-rate-multiplier", type=float,
        help="fine-tuning: the head learns at this multiple of --learning-rate (default 20; 1: one rate for all)",
    )
    parser.add_argument(
        "--output-learning-rate-multiplier", type=float,
        help="fine-tuning: the classifier Dense learns at this multiple of --learning-rate "
        "(default: the head's multiplier)",
    )
    parser.add_argument(
        "--layer-decay", type=float,
        help="fine-tuning: each backbone layer learns at this multiple of the rate of the one above (default 1)",
    )
    parser.add_argument(
        "--ema-momentum", type=float,
        help="fine-tuning: validate and keep the moving average of the weights, with this momentum per step "
        "(e.g. 0.99; default: off)",
    )
    parser.add_argument(
        "--label-smoothing", type=float,
        help="spread this share of each target evenly over the classes (0: none; default 0.1 single-label, 0 multi-label)",
    )
    parser.add_argument("--class-weight", choices=["balanced"])
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--xla", action="store_true", help="compile the numeric model with XLA")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--multi-label", action="store_true", help="rows carry several labels")
    parser.add_argument("--label-separator", help="joins the labels of a row (multi-label; default '|')")
    parser.add_argument("--threshold", type=float, help="multi-label decision threshold (default 0.5)")
    parser.add_argument(
        "--tune-threshold", action="store_true", default=None,
        help="multi-label: use the threshold with the best validation macro-F1 instead",
    )
    parser.add_argument("--validation-split", type=float)
    parser.add_argument("--early-stopping-patience", type=int)
    parser.add_argument("--backup-every-steps", type=int, help="back up mid-epoch every N steps")
    parser.add_argument(
        "--strategy", choices=list(STRATEGIES), default="auto",
        help="tf.distribute strategy (default auto: a named TPU, else all GPUs, else one device); "
        "--batch-size is per replica (docs/distributed.md)",
    )
    parser.add_argument("--tpu", help="TPU name or grpc:// address (default: $TPU_NAME, else the local TPU)")
    parser.add_argument(
        "--static-shapes", action="store_true", default=None,
        help="pad every batch to --sequence-length and drop ragged ends (always on with TPUs)",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bertcnn", description="Train, evaluate and serve BERT-CNN text classifiers."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fine-tune a classifier on a labelled file")
    add_training_flags(train)
    train.add_argument("--head", default="cnn", choices=["cnn", "cls", "mean", "max", "seed"])
    train.set_defaults(handler=train_command)

    compare = commands.add_parser("compare", help="train several heads with the same budget and seeds")
    add_training_flags(compare)
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
    compare.set_defaults(handler=compare_command)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained model on a labelled file")
    evaluate.add_argument("--model", required=True, help="a run folder written by train")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument("--report-dir", help="also write report.json/.md and plots there")
    add_column_flags(evaluate, defaults=False)
    evaluate.set_defaults(handler=evaluate_command)

    predict = commands.add_parser("predict", help="labels and probabilities for new texts")
    predict.add_argument("--model", required=True, help="a run folder written by train")
    predict.add_argument("texts", nargs="*", help="texts to classify")
    predict.add_argument("--input", help="a file of texts (.csv, .tsv, .jsonl)")
    predict.add_argument("--output", help="write JSON Lines here instead of printing")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument(
        "--precision", choices=INFERENCE_DTYPES,
        help="compute in this dtype (default: the model's own); bfloat16 is faster on AVX512-BF16 CPUs",
    )
    add_column_flags(predict, defaults=False)
    predict.set_defaults(handler=predict_command)

    add_serving_commands(commands)

    demo = commands.add_parser("demo", help="train on the bundled demo data, export, predict")
    demo.add_argument("--output", default="runs/demo", help="run folder")
    demo.add_argument("--export-dir", default="saved_models/demo", help="TF Serving base path")
    demo.add_argument("--epochs", type=int, default=3)
    demo.set_defaults(handler=demo_command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (DataError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
