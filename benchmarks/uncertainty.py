"""Knowing when it does not know: open-intent detection and calibration on real data.

Open intents (`--open-set`): banking77 with 25%, 50% and 75% of its intents kept as known and
the rest made unknown, the protocol of Zhang et al. (2021, "Deep Open Intent Classification with
Adaptive Decision Boundary"): the model trains and validates on the known intents only, and the
test set keeps every row, the unknown intents' rows labelled "unknown". Four confidence scores
are compared, each thresholded to answer 95% of the validation rows (`--abstain`'s default):

- `msp`: the top softmax probability;
- `temperature`: the top probability after the run's fitted temperature (the package's default);
- `energy`: `logsumexp` of the logits (Liu et al., 2020, "Energy-based Out-of-distribution Detection");
- `mahalanobis`: minus the smallest Mahalanobis distance from the head's features to a known
  class's mean, with one covariance shared by the classes (Lee et al., 2018).

Each gets accuracy and macro-F1 over the known intents plus "unknown" on the test set, and the
AUROC of telling known from unknown rows (threshold-free).

Calibration (`--calibration`): ECE (15 bins) and NLL on the test split before and after the fitted
temperature, on sst2 and trec.

Resumable: each finished run is one line of `results/uncertainty.jsonl` and is skipped when run
again. Not a test; never run in CI. `python -m benchmarks.report` rebuilds RESULTS.md from it.

    python -m benchmarks.uncertainty --open-set --known 0.25,0.5,0.75 --seeds 1
    python -m benchmarks.uncertainty --calibration --datasets sst2,trec --train-limit 8000
"""

import argparse
import dataclasses
import json
import random
import shutil
import sys
import tempfile
import time

import numpy as np

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_split
from benchmarks.machine import machine_info
from benchmarks.reference import DATASETS
from benchmarks.results import UNCERTAINTY
from benchmarks.results import append_result
from benchmarks.results import read_results
from benchmarks.results import recorded

OPEN_SET_DATASET = "banking77"
UNKNOWN = "unknown"
COVERAGE = 0.95
SCORES = ("msp", "temperature", "energy", "mahalanobis")


def known_intents(labels, share, seed):
    """The intents kept as known: `share` of them, drawn with `seed` (at least two)."""
    labels = sorted(labels)
    count = max(2, round(share * len(labels)))
    return sorted(random.Random(seed).sample(labels, count))


def open_set_scores(logits, temperature, features, class_means, precision):
    """{score name: [n] confidences}, higher for rows the model should answer."""
    from scipy.special import logsumexp
    from scipy.special import softmax

    distances = [np.einsum("ij,jk,ik->i", features - mean, precision, features - mean) for mean in class_means]
    return {
        "msp": softmax(logits, axis=-1).max(-1),
        "temperature": softmax(logits / temperature, axis=-1).max(-1),
        "energy": logsumexp(logits, axis=-1),
        "mahalanobis": -np.min(distances, axis=0),
    }


def gaussian_fit(features, class_ids, classes):
    """Per-class means and the precision of the covariance they share (Lee et al., 2018)."""
    means = [features[class_ids == c].mean(axis=0) for c in range(classes)]
    centred = features - np.stack(means)[class_ids]
    covariance = centred.T @ centred / len(features)
    return means, np.linalg.pinv(covariance)


def score_report(test_scores, validation_scores, predicted, truth, unknown_id):
    """Open-set accuracy and macro-F1 at `COVERAGE` of the validation rows, and the known-vs-unknown AUROC."""
    from sklearn import metrics

    threshold = np.quantile(validation_scores, 1 - COVERAGE, method="lower")
    answered = np.where(test_scores >= threshold, predicted, unknown_id)
    return {
        "accuracy": float(metrics.accuracy_score(truth, answered)),
        "macro_f1": float(metrics.f1_score(truth, answered, average="macro", zero_division=0)),
        "known_macro_f1": float(
            metrics.f1_score(truth, answered, labels=list(range(unknown_id)), average="macro", zero_division=0)
        ),
        "unknown_f1": float(metrics.f1_score(truth == unknown_id, answered == unknown_id, zero_division=0)),
        "auroc": float(metrics.roc_auc_score(truth != unknown_id, test_scores)),
    }


def head_features(model, examples, batch_size):
    """The vectors the classifier's `Dense` layer reads, for every example."""
    import keras

    from bertcnn_tf.inference import predict_logits

    features = keras.Model(model.input, model.get_layer("logits").input)
    features.preprocessor = model.preprocessor
    return predict_logits(features, examples, batch_size)


def run_open_set(args, share, seed):
    from bertcnn_tf.data.files import LabelVocabulary
    from bertcnn_tf.data.files import split_unknown
    from bertcnn_tf.data.files import stratified_split
    from bertcnn_tf.inference import predict_logits
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import train

    train_rows = read_split(args.data_dir, OPEN_SET_DATASET, "train")
    test_rows = read_split(args.data_dir, OPEN_SET_DATASET, "test")
    known = set(known_intents({row[0] for row in train_rows.labels}, share, seed))

    def relabel(examples):
        return dataclasses.replace(
            examples, labels=[labels if labels[0] in known else [UNKNOWN] for labels in examples.labels]
        )

    train_known, _ = split_unknown(relabel(train_rows), UNKNOWN)
    test = relabel(test_rows)
    config = TrainingConfig(epochs=args.epochs, seed=seed, abstain=True, target_coverage=COVERAGE, verbose=2)
    run_dir = tempfile.mkdtemp(prefix="open-set-")
    try:
        started = time.time()
        run, report = train(train_known, run_dir, config)
        seconds = time.time() - started
        vocabulary = LabelVocabulary(run.labels, unknown_label=UNKNOWN)
        unknown_id = len(run.labels)
        truth = np.where(vocabulary.encode(test).sum(-1) > 0, vocabulary.encode(test).argmax(-1), unknown_id)
        # The validation rows `train` held out: the same split, recomputed.
        fit_rows, validation = stratified_split(train_known, config.validation_split, config.seed)
        fit_ids = vocabulary.encode(fit_rows).argmax(-1)
        means, precision = gaussian_fit(head_features(run.model, fit_rows, 64), fit_ids, unknown_id)
        scored = {}
        for name, examples in (("test", test), ("validation", validation)):
            logits = predict_logits(run.model, examples, 64)
            features = head_features(run.model, examples, 64)
            scored[name] = (logits, open_set_scores(logits, run.temperature, features, means, precision))
        test_logits, test_scores = scored["test"]
        predicted = test_logits.argmax(-1)
        scores = {
            name: score_report(test_scores[name], scored["validation"][1][name], predicted, truth, unknown_id)
            for name in SCORES
        }
        abstention = report["splits"]["validation"]["abstention"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "kind": "open_set", "dataset": OPEN_SET_DATASET, "known_share": share, "seed": seed, "epochs": args.epochs,
        "known_intents": len(known), "train_rows": len(train_known), "test_rows": len(test),
        "unknown_test_rows": int(np.sum(truth == unknown_id)), "temperature": run.temperature,
        "abstain_below": run.abstain_below, "validation_coverage": abstention["coverage"], "scores": scores,
        "train_seconds": round(seconds), "command": args.command, "machine": machine_info(),
    }


def run_calibration(args, dataset, seed):
    from bertcnn_tf.data.files import stratified_split
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.evaluation import evaluate
    from bertcnn_tf.training.trainer import train

    split, _ = DATASETS[dataset]
    train_rows = read_split(args.data_dir, dataset, "train")
    if args.train_limit and len(train_rows) > args.train_limit:
        train_rows, _ = stratified_split(train_rows, 1 - args.train_limit / len(train_rows), seed)
    test = read_split(args.data_dir, dataset, split)
    run_dir = tempfile.mkdtemp(prefix="calibration-")
    try:
        run, _ = train(train_rows, run_dir, TrainingConfig(epochs=args.epochs, seed=seed, verbose=2))
        calibration = evaluate(run, test)["calibration"]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "kind": "calibration", "dataset": dataset, "split": split, "seed": seed, "epochs": args.epochs,
        "train_rows": len(train_rows), "temperature": calibration["temperature"],
        "ece": calibration["ece"], "nll": calibration["nll"], "command": args.command, "machine": machine_info(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uncertainty", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--open-set", action="store_true", help="banking77 with a share of its intents unknown")
    parser.add_argument("--known", default="0.25,0.5,0.75", help="shares of the intents kept as known")
    parser.add_argument("--calibration", action="store_true", help="ECE and NLL before and after the temperature")
    parser.add_argument("--datasets", default="sst2,trec", help="the calibration data sets")
    parser.add_argument("--train-limit", type=int, help="calibration: at most this many training rows, stratified")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    args.command = "python -m benchmarks.uncertainty " + " ".join(argv if argv is not None else sys.argv[1:])
    seeds = [int(seed) for seed in args.seeds.split(",")]
    done = {
        (row["kind"], row.get("dataset"), row.get("known_share"), row["seed"], row["epochs"], row.get("train_rows_limit"))
        for row in read_results(UNCERTAINTY)
    }
    jobs = []
    if args.open_set:
        jobs += [("open_set", OPEN_SET_DATASET, float(share), seed) for share in args.known.split(",") for seed in seeds]
    if args.calibration:
        jobs += [("calibration", dataset, None, seed) for dataset in args.datasets.split(",") for seed in seeds]
    for kind, dataset, share, seed in jobs:
        limit = args.train_limit if kind == "calibration" else None
        if (kind, dataset, share, seed, args.epochs, limit) in done:
            print(f"skip {kind} {dataset} {share or ''} seed {seed}: already recorded")
            continue
        row = run_open_set(args, share, seed) if kind == "open_set" else run_calibration(args, dataset, seed)
        row["train_rows_limit"] = limit
        path = append_result(UNCERTAINTY, row)
        print(json.dumps({k: v for k, v in row.items() if k != "machine"}, indent=1))
        print(recorded(path))


if __name__ == "__main__":
    main()
