"""Accuracy on real data: BERT-CNN against the CLS baseline and masked mean pooling.

Resumable: every finished (dataset, model, seed, fold) is one line of `results/accuracy.jsonl`,
and a run that is already there is skipped, so results accumulate across invocations. Not a
test; never run in CI. `python -m benchmarks.report` rebuilds the tables, the plot and the
README's results from that file.

    python -m benchmarks.accuracy --data-dir ../shared/data --datasets trec,cr \
        --models cnn,keras_hub_cls,mean --seeds 1,2,3
    python -m benchmarks.accuracy --data-dir ../shared/data --datasets mpqa \
        --models cnn,keras_hub_cls --folds 10   # Kim (2014)'s 10-fold cross-validation
"""

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import label_separator
from benchmarks.datasets import read_split
from benchmarks.machine import machine_info
from benchmarks.reference import ALSO_EVALUATED
from benchmarks.reference import DATASETS
from benchmarks.reference import FOLD_SEED
from benchmarks.reference import MULTI_LABEL
from benchmarks.results import ACCURACY
from benchmarks.results import append_result
from benchmarks.results import read_results
from benchmarks.results import recorded
from benchmarks.results import results_path
from benchmarks.setups import CNN_HEAD_SETTINGS
from benchmarks.setups import VARIANT_DEFAULTS
from benchmarks.setups import has_every_split
from benchmarks.setups import key_of
from benchmarks.setups import latest_runs


def keras_hub_cls_factory(config, num_classes):
    """keras-hub's own `BertTextClassifier` (pooled [CLS] output), same backbone."""
    import keras_hub

    from bertcnn_tf.backbones import load_backbone

    backbone, preprocessor = load_backbone(config.backbone, config.sequence_length)
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=num_classes, preprocessor=preprocessor
    )


def variant_settings(args, dataset, model_name):
    """The variant flags as training settings.

    Threshold tuning is for multi-label sets only, the head's shape for the cnn head only.
    """
    values = {name: getattr(args, name) for name in VARIANT_DEFAULTS}
    values["tune_threshold"] = bool(args.tune_threshold and dataset in MULTI_LABEL)
    if model_name != "cnn":
        values.update(dict.fromkeys(CNN_HEAD_SETTINGS))
    return values


def run_one(data_dir, dataset, model_name, seed, args, fold=None):
    """Trains and scores one run: on the dataset's own split, or on `fold` of `args.folds`."""
    from bertcnn_tf.data.files import stratified_folds
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import build_classifier
    from bertcnn_tf.training.trainer import train

    split, metric = DATASETS[dataset]
    multi_label = dataset in MULTI_LABEL
    if fold is None:
        train_examples, evaluation = read_split(data_dir, dataset, "train"), read_split(data_dir, dataset, split)
    else:
        everything = read_split(data_dir, dataset, "all")
        train_examples, evaluation = stratified_folds(everything, args.folds, FOLD_SEED)[fold]
        split = f"fold {fold + 1} of {args.folds}"
    if args.max_train and len(train_examples) > args.max_train:
        import random

        keep = sorted(random.Random(seed).sample(range(len(train_examples)), args.max_train))
        train_examples = train_examples.subset(keep)
    config = TrainingConfig(
        head="cnn" if model_name == "keras_hub_cls" else model_name,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        sequence_length=args.sequence_length,
        seed=seed,
        multi_label=multi_label,
        label_separator=label_separator(dataset),
        early_stopping_patience=args.epochs,
        verbose=2,
        **variant_settings(args, dataset, model_name),
    )
    factory = keras_hub_cls_factory if model_name == "keras_hub_cls" else build_classifier
    run_dir = tempfile.mkdtemp(prefix=f"bench-{dataset}-{model_name}-{seed}-")
    start = time.time()
    try:
        run, report = train(
            train_examples, run_dir, config, test_examples=evaluation, model_factory=factory
        )
        seconds = round(time.time() - start, 1)
        correct = None if multi_label else correctness_bits(run, evaluation, args.batch_size)
        also = {
            name: split_accuracy(run, read_split(data_dir, dataset, name), args.batch_size)
            for name in ALSO_EVALUATED.get(dataset, ())
        }
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    scores = report["splits"]["test"]
    if correct is not None and abs(correct.count("1") / len(correct) - scores["accuracy"]) > 1e-9:
        # Kept out rather than stored wrong; the run's scores stand on their own.
        print(f"warning: per-example correctness gives {correct.count('1') / len(correct):.4f}, "
              f"the report {scores['accuracy']:.4f}; not stored", flush=True)
        correct = None
    return {
        "dataset": dataset,
        "model": model_name,
        "seed": seed,
        "split": split,
        "metric": metric,
        "score": scores[metric],
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro_f1"],
        "per_class_f1": {label: round(c["f1"], 4) for label, c in scores["per_class"].items()},
        "threshold": scores.get("threshold"),
        "train_examples": len(train_examples),
        "eval_examples": scores["examples"],
        "seconds": seconds,
        "settings": {k: v for k, v in dataclasses.asdict(config).items() if k != "verbose"},
        "correct": correct,
        "also": also,
        "folds": 0 if fold is None else args.folds,
        "fold": fold,
    }


def split_accuracy(run, examples, batch_size):
    """{"accuracy", "examples", "correct"} of a single-label run on a split besides its evaluation split."""
    bits = correctness_bits(run, examples, batch_size)
    return {"accuracy": bits.count("1") / len(bits), "examples": len(bits), "correct": bits}


def correctness_bits(run, examples, batch_size):
    """'1' where the run's top label is the example's label, else '0', in file order."""
    from bertcnn_tf.training.evaluation import correct_per_example

    return "".join("1" if right else "0" for right in correct_per_example(run, examples, batch_size))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--datasets", default="trec,cr,mpqa,subj,mr,sst2,banking77,goemotions")
    parser.add_argument("--models", default="cnn,keras_hub_cls,mean")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=VARIANT_DEFAULTS["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--max-train", type=int, default=0, help="subsample training rows (0: all)")
    parser.add_argument(
        "--folds", type=int, default=0,
        help="k-fold cross-validation over the dataset's all.csv, Kim (2014)'s protocol (0: its own split)",
    )
    parser.add_argument("--head-learning-rate", type=float, default=VARIANT_DEFAULTS["head_learning_rate"])
    parser.add_argument("--head-warmup-epochs", type=int, default=VARIANT_DEFAULTS["head_warmup_epochs"])
    parser.add_argument("--dropout", type=float, default=VARIANT_DEFAULTS["dropout"])
    parser.add_argument(
        "--head-learning-rate-multiplier", type=float,
        default=VARIANT_DEFAULTS["head_learning_rate_multiplier"],
    )
    parser.add_argument(
        "--output-learning-rate-multiplier", type=float,
        default=VARIANT_DEFAULTS["output_learning_rate_multiplier"],
        help="the classifier Dense's rate over --learning-rate (default: the head's)",
    )
    parser.add_argument("--backbone", default=VARIANT_DEFAULTS["backbone"],
                        help="another backbone to fine-tune, such as one `python -m benchmarks.adapt_backbone` saved (default: offline)")
    parser.add_argument("--layer-decay", type=float, default=VARIANT_DEFAULTS["layer_decay"])
    parser.add_argument("--ema-momentum", type=float, default=VARIANT_DEFAULTS["ema_momentum"])
    parser.add_argument("--label-smoothing", type=float, default=VARIANT_DEFAULTS["label_smoothing"])
    from bertcnn_tf.cli.training import add_cnn_head_flags

    add_cnn_head_flags(parser)  # applied to the cnn model only
    parser.add_argument("--tune-threshold", action="store_true", help="multi-label sets: threshold tuned on validation")
    args = parser.parse_args(argv)

    # A run that lacks a split its dataset now also evaluates is run again, and replaces it.
    done = {key_of(row) for row in latest_runs(read_results(ACCURACY)) if has_every_split(row)}
    folds = range(args.folds) if args.folds else [None]
    for dataset in args.datasets.split(","):
        if args.folds and not os.path.exists(os.path.join(args.data_dir, dataset, "all.csv")):
            parser.error(f"--folds: {dataset} has no all.csv to cross-validate on; it has its own split.")
        for seed in [int(s) for s in args.seeds.split(",")]:
            for fold in folds:  # the heads of one fold together, so a cut-short run leaves pairs
                for model in args.models.split(","):
                    settings = {"epochs": args.epochs, "learning_rate": args.learning_rate,
                                "sequence_length": args.sequence_length, "multi_label": dataset in MULTI_LABEL}
                    settings.update(variant_settings(args, dataset, model))
                    probe = {"dataset": dataset, "model": model, "seed": seed, "settings": settings,
                             "max_train": args.max_train, "folds": args.folds, "fold": fold}
                    name = f"{dataset} {model} seed {seed}" + ("" if fold is None else f" fold {fold + 1}")
                    if key_of(probe) in done:
                        print(f"skip {name}: already in {results_path(ACCURACY)}")
                        continue
                    print(f"=== {name} ===", flush=True)
                    row = run_one(args.data_dir, dataset, model, seed, args, fold)
                    row["max_train"] = args.max_train
                    row["machine"] = machine_info()
                    append_result(ACCURACY, row)
                    print(json.dumps({k: row[k] for k in ("dataset", "model", "seed", "fold", "score", "seconds")}), flush=True)
    print(recorded(results_path(ACCURACY)))


if __name__ == "__main__":
    main()
