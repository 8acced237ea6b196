"""`bertcnn train`, `compare`, `evaluate`, `predict` and `demo`: flags in, the package's functions called.

Nothing here imports TensorFlow at import time, so `--help` answers at once;
each handler imports what it runs.
"""

import argparse
import dataclasses
import json
import os

from bertcnn_tf.choices import EXPLAINED_HEADS
from bertcnn_tf.choices import POOLING_MODES
from bertcnn_tf.choices import STRATEGIES
from bertcnn_tf.choices import TRAINING_PRECISIONS
from bertcnn_tf.data.files import DataError
from bertcnn_tf.training.config import TrainingConfig

# What a multi-worker non-chief worker prints instead of metrics.
WORKER_DONE = "Training done on this worker; the chief writes the run folder and the report."


def training_config(args, **overrides):
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.multi_label and values.get("label_separator") is None:
        values["label_separator"] = "|"
    values.update(overrides)
    return TrainingConfig(**values)


def read_split(args, path, config, require_labels=True):
    from bertcnn_tf.data.files import read_examples

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
    from bertcnn_tf.training.trainer import train

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
    """Trains each candidate with the same budget, seeds and examples, then tests their gaps."""
    from bertcnn_tf.training.compare import compare
    from bertcnn_tf.training.compare import compare_candidates

    heads = [head.strip() for head in args.heads.split(",") if head.strip()]
    seeds = parse_numbers(args.seeds, "--seeds", int, "1,2,3") if args.seeds else [args.seed]
    candidates = compare_candidates(heads, *parse_varied_settings(args))
    config = training_config(args)
    train_examples = read_split(args, args.train, config)
    validation = read_split(args, args.validation, config) if args.validation else None
    test = read_split(args, args.test, config) if args.test else None
    summary = compare(train_examples, args.output, config, candidates, seeds, validation, test)
    if summary is None:
        print(WORKER_DONE)
        return 0
    print_comparison(summary, config.multi_label)
    print(json.dumps(summary))
    return 0


def parse_varied_settings(args):
    """`--head-learning-rate-multipliers` and `--label-smoothings` as lists (or None), checked."""
    multipliers = smoothings = None
    if args.head_learning_rate_multipliers:
        multipliers = parse_numbers(args.head_learning_rate_multipliers, "--head-learning-rate-multipliers", float, "1,20")
        if not all(factor > 0 for factor in multipliers):  # also refuses "nan"
            raise DataError(
                f"--head-learning-rate-multipliers {args.head_learning_rate_multipliers!r}: "
                "give positive numbers, such as 1,20"
            )
    if args.label_smoothings:
        smoothings = parse_numbers(args.label_smoothings, "--label-smoothings", float, "0,0.1")
        if not all(0 <= share < 1 for share in smoothings):  # also refuses "nan"
            raise DataError(f"--label-smoothings {args.label_smoothings!r}: give numbers in [0, 1), such as 0,0.1")
    return multipliers, smoothings


def print_comparison(summary, multi_label):
    from bertcnn_tf.training.significance import format_p

    split, seeds, results, paired = (summary[key] for key in ("split", "seeds", "heads", "paired"))
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
    from bertcnn_tf.training.evaluation import evaluate
    from bertcnn_tf.training.evaluation import write_report
    from bertcnn_tf.training.runs import load_run

    run = reading_documents(load_run(args.model), args)
    config = training_config_from_run(run, args)
    examples = read_split(args, args.data, config)
    metrics = evaluate(run, examples, args.batch_size)
    if args.report_dir:
        write_report(args.report_dir, {"splits": {"evaluation": metrics}}, run.labels)
    summary = {k: metrics[k] for k in ("accuracy", "macro_f1", "micro_f1", "subset_accuracy", "weighted_f1", "examples") if k in metrics}
    summary.update({name: metrics["calibration"][name] for name in ("ece", "nll")})
    if "abstention" in metrics:
        summary.update({k: v for k, v in metrics["abstention"].items() if k != "risk_coverage"})
    summary["per_class"] = metrics["per_class"]
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def training_config_from_run(run, args):
    """The run's column settings, overridden by any given on the command line."""
    config = TrainingConfig(**{k: v for k, v in run.settings.items() if k in {f.name for f in dataclasses.fields(TrainingConfig)}})
    for name in ("text_column", "label_column", "text_pair_column"):
        if getattr(args, name, None):
            config = dataclasses.replace(config, **{name: getattr(args, name)})
    return config


def predict_command(args):
    from bertcnn_tf.inference import predict
    from bertcnn_tf.scoring import predict_file
    from bertcnn_tf.training.runs import load_run

    if getattr(args, "engine", "local") == "beam":
        if args.explain:
            raise DataError("--explain runs on the local engine: drop --engine beam, or --explain.")
        return beam_predict_command(args)
    if args.saved_model or args.output_format != "jsonl":
        raise DataError("--saved-model and --output-format are for --engine beam; the local engine scores "
                        "with the run's Keras model and writes JSON Lines (.gz: gzipped).")
    if bool(args.texts) == bool(args.input):
        raise DataError("Give texts on the command line or --input FILE, not both or neither.")
    if args.resume and not args.output:
        raise DataError("--resume goes on with an --output file: name the one the interrupted run wrote.")
    if args.explain and args.top_k < 1:
        raise DataError(f"--top-k must be at least 1, not {args.top_k}.")
    explain_top_k = args.top_k if args.explain else None
    run = reading_documents(load_run(args.model), args)
    if explain_top_k and run.model.head not in EXPLAINED_HEADS:
        raise DataError(f'--explain needs a head that splits into spans ({", ".join(EXPLAINED_HEADS)}), '
                        f'not head="{run.model.head}": predict without --explain.')
    if not args.input:
        if run.text_pair_column:
            raise DataError("This model reads sentence pairs: pass them in a file with --input.")
        records = predict(
            run, args.texts, batch_size=args.batch_size, precision=args.precision, abstain_below=args.abstain_below,
            explain_top_k=explain_top_k,
        )
        for text, record in zip(args.texts, records):
            print(json.dumps({"text": text, **record}, ensure_ascii=False))
        return 0
    config = training_config_from_run(run, args)
    summary = predict_file(
        run, args.input, args.output, text_column=config.text_column, text_pair_column=config.text_pair_column,
        id_column=args.id_column, encoding=args.encoding, chunk_rows=args.chunk_rows, batch_size=args.batch_size,
        resume=args.resume, rejects_path=args.rejects, precision=args.precision, abstain_below=args.abstain_below,
        progress=args.output is not None, explain_top_k=explain_top_k,
    )
    if args.output:
        resumed = f", resumed after row {summary['resumed_at']:,}" if summary["resumed_at"] else ""
        print(f"wrote {summary['scored']:,} predictions of {summary['rows']:,} rows to {args.output}{resumed}")
        if summary["rejected"]:
            print(f"rejected {summary['rejected']:,} rows (empty text or bad bytes), with their lines: {summary['rejects']}")
    return 0


def beam_predict_command(args):
    """`bertcnn predict --engine beam`: the file scoring of `predict_command` as a Beam pipeline.

    Everything after `--` goes to Beam as pipeline options (they arrive as
    `args.texts`: texts to classify come from --input here).
    """
    if not (args.input and args.output):
        raise DataError("--engine beam scores files: give --input FILE_OR_GLOB and --output PREFIX.")
    if args.max_document_length or args.window_stride:
        raise DataError(
            "--max-document-length is for --engine local. For Beam, export the run reading documents "
            "(bertcnn export --max-document-length N) and pass --saved-model, or train with it."
        )
    if args.resume:
        raise DataError(
            "--resume is for --engine local. A Beam runner retries a failed bundle itself, and its shards "
            "get their final names only when the job succeeds; a job started again scores everything again."
        )
    if args.texts and not args.texts[0].startswith("-"):
        raise DataError(
            f"with --engine beam, the words after `--` are Beam pipeline options (e.g. --runner DirectRunner), "
            f"not texts: {args.texts[0]!r}. Put the texts in the --input file."
        )
    try:
        from bertcnn_tf.serving.beam import score_files
        from bertcnn_tf.serving.beam import summary_text
    except ImportError as error:
        raise DataError(f"--engine beam needs Apache Beam ({error}): pip install 'bertcnn_tf[beam]'.") from None

    summary = score_files(
        args.input, args.output, run_dir=args.model, saved_model=args.saved_model, text_column=args.text_column,
        text_pair_column=args.text_pair_column, id_column=args.id_column, encoding=args.encoding,
        batch_size=args.batch_size, chunk_rows=args.chunk_rows, precision=args.precision,
        abstain_below=args.abstain_below, output_format=args.output_format, rejects_prefix=args.rejects,
        pipeline_args=args.texts,
    )
    print(summary_text(summary))
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
    parser.add_argument("--text-column", default=TrainingConfig.text_column if defaults else None)
    parser.add_argument("--label-column", default=TrainingConfig.label_column if defaults else None)
    parser.add_argument("--text-pair-column", help="second text column, for sentence pairs")
    parser.add_argument("--encoding", default="utf-8", help="the files' text encoding")


def add_document_flags(parser, window="the run's sequence length"):
    parser.add_argument(
        "--max-document-length", type=int,
        help=f"read texts up to this many tokens, in windows of {window}, instead of truncating them",
    )
    parser.add_argument(
        "--window-stride", type=int, help="tokens between window starts (default: windows share 8 tokens)",
    )


def reading_documents(run, args):
    """The run reading documents as `--max-document-length`/`--window-stride` say; as it is without them."""
    length, stride = args.max_document_length, args.window_stride
    if length is None and stride is None:
        return run
    if length is None:
        length = run.settings.get("max_document_length")
        if length is None:
            raise DataError("--window-stride needs --max-document-length: this run truncates its texts.")
    if run.text_pair_column:
        raise DataError("--max-document-length reads single texts: this run reads sentence pairs, which are not windowed.")
    try:
        return run.reading_documents(length, stride)
    except ValueError as error:
        raise DataError(str(error)) from None


def add_training_flags(parser):
    parser.add_argument("--train", required=True, help="training file (.csv, .tsv, .jsonl)")
    parser.add_argument("--output", required=True, help="run folder to write")
    parser.add_argument("--validation", help="validation file; default: a stratified split of --train")
    parser.add_argument("--test", help="test file, evaluated once at the end")
    add_column_flags(parser)
    parser.add_argument("--backbone", default=TrainingConfig.backbone, help="'offline', a keras-hub preset, or a model directory")
    parser.add_argument("--sequence-length", type=int, default=TrainingConfig.sequence_length)
    add_document_flags(parser, "--sequence-length")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
    parser.add_argument("--learning-rate", type=float, default=TrainingConfig.learning_rate)
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
    parser.add_argument("--precision", choices=TRAINING_PRECISIONS)
    parser.add_argument("--xla", action="store_true", help="compile the numeric model with XLA")
    parser.add_argument("--seed", type=int, default=TrainingConfig.seed)
    parser.add_argument("--multi-label", action="store_true", help="rows carry several labels")
    parser.add_argument("--label-separator", help="joins the labels of a row (multi-label; default '|')")
    parser.add_argument("--threshold", type=float, help="multi-label decision threshold (default 0.5)")
    parser.add_argument(
        "--no-calibration", dest="calibrate", action="store_const", const=False,
        help="keep the raw logits: fit no temperature on the validation split (default: fit one)",
    )
    parser.add_argument(
        "--abstain", action="store_const", const=True,
        help="single-label: tune a confidence below which the model answers --unknown-label (label_id -1); "
        "rows with that label are not a class, and tune it from the validation split",
    )
    parser.add_argument(
        "--unknown-label", help=f"with --abstain: the label of rows outside every class (default {TrainingConfig.unknown_label})"
    )
    parser.add_argument(
        "--target-coverage", type=float,
        help=f"with --abstain and no unknown validation rows: the share of rows to answer (default {TrainingConfig.target_coverage})",
    )
    parser.add_argument(
        "--tune-threshold", action="store_true", default=None,
        help="multi-label: use the threshold with the best validation macro-F1 instead",
    )
    parser.add_argument("--validation-split", type=float)
    parser.add_argument("--early-stopping-patience", type=int)
    parser.add_argument("--backup-every-steps", type=int, help="back up mid-epoch every N steps")
    parser.add_argument(
        "--strategy", choices=list(STRATEGIES), default=TrainingConfig.strategy,
        help="tf.distribute strategy (default auto: a named TPU, else all GPUs, else one device); "
        "--batch-size is per replica (docs/distributed.md)",
    )
    parser.add_argument("--tpu", help="TPU name or grpc:// address (default: $TPU_NAME, else the local TPU)")
    parser.add_argument(
        "--static-shapes", action="store_true", default=None,
        help="pad every batch to --sequence-length and drop ragged ends (always on with TPUs)",
    )


def explain_command(args):
    """`bertcnn explain`: an HTML page (or JSON Lines) of the spans behind each label."""
    from bertcnn_tf.inference import explain
    from bertcnn_tf.training.runs import load_run

    if bool(args.texts) == bool(args.input):
        raise DataError("Give texts on the command line or --input FILE, not both or neither.")
    if args.top_k < 1:
        raise DataError(f"--top-k must be at least 1, not {args.top_k}.")
    run = load_run(args.model)
    if args.input:
        examples = read_split(args, args.input, training_config_from_run(run, args), require_labels=False)
    else:
        if run.text_pair_column:
            raise DataError("This model reads sentence pairs: pass them in a file with --input.")
        examples = args.texts
    try:
        explanations = explain(run, examples, top_k=args.top_k, label=args.label, batch_size=args.batch_size)
    except ValueError as error:  # a "cls" head, an unknown --label
        raise DataError(str(error)) from error
    if args.output and args.output.endswith((".html", ".htm")):
        explanations.save_html(args.output, title=f"Why these labels: {os.path.basename(os.path.normpath(args.model))}")
        print(f"wrote the explanations of {len(explanations):,} texts to {args.output}")
    elif args.output:
        from bertcnn_tf.io_utils import atomic_write_text

        atomic_write_text(args.output, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in explanations))
        print(f"wrote the explanations of {len(explanations):,} texts to {args.output}")
    else:
        for item in explanations:
            print(json.dumps(item, ensure_ascii=False))
    return 0
