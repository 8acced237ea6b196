"""How faithful `bertcnn_tf.explain`'s spans are, and what explaining costs against `predict`.

ERASER's metrics (DeYoung et al., 2020, "ERASER: A Benchmark to Evaluate Rationalized NLP
Models"), with c the predicted class of the unchanged text and p the run's calibrated
probabilities (`predict_probabilities` with the run's temperature, what `bertcnn_tf.predict`
reports):

- comprehensiveness = p(c | text) - p(c | text with the rationale deleted): higher is more faithful;
- sufficiency = p(c | text) - p(c | only the rationale kept): lower is more faithful.

The unit is the word-piece token the model read (text tokens only: no [CLS]/[SEP], nothing
past the sequence length). Deleting or keeping tokens rebuilds a string from the kept tokens'
characters, in order: tokens adjacent in the text stay joined, others are joined by one space;
the new string is tokenized and predicted again, as ERASER does with its tokens.

Three rationales per text, always of the same number of tokens:

- `explain`: the tokens the top explain windows cover, in the order the windows rank
  (largest contribution first; windows overlap, so a window adds only its tokens not already
  taken, in text order);
- `random`: random contiguous spans with the same lengths as the explain rationale's
  contiguous runs, placed without overlap (seeded per text);
- `gradient_x_input`: the tokens with the largest gradient x input score: the gradient of the
  predicted class's score (its logit minus the mean logit, what explain splits; a softmax
  probability depends on logit differences only) with respect to the backbone's token
  embeddings (`backbone.token_embedding`'s output), times those embeddings, summed over the
  hidden size. The tape watches that output by wrapping the layer's `call` for the pass, so
  the gradient is per position even where a token id repeats (the embedding matrix's gradient
  would sum them).

Budgets: the union of the top 1 and the top 3 explain spans (`explain`'s own top-k, the
baselines matched to its token count per text), and ERASER's AOPC: the mean over rationales
of 1, 5, 10, 20 and 50% of the text's tokens (at least one token each).

Speed: `bertcnn_tf.explain(run, texts)` (default top_k) against `bertcnn_tf.predict(run, texts)`
on the same texts and run, each warmed up once, then alternated, the median of the repeats.
The sst2 run is also timed on imdb dev reviews, which fill the whole sequence length.

Resumable: each finished dataset is one line of `results/faithfulness.jsonl`, skipped when run
again with the same limits. Not a test. `python -m benchmarks.report` rebuilds RESULTS.md from it.

    nice -n 19 python -m benchmarks.faithfulness --data-dir ../shared/data --datasets trec,sst2,banking77 \
        --train-limit 2000 --eval-limit 500 --epochs 2 --sequence-length 64
"""

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_split
from benchmarks.machine import machine_info
from benchmarks.reference import DATASETS
from benchmarks.results import FAITHFULNESS
from benchmarks.results import RESULTS_DIR
from benchmarks.results import read_results
from benchmarks.results import record_run

METHODS = ("explain", "random", "gradient_x_input")
SPAN_BUDGETS = (1, 3)  # explain's top-k spans
AOPC_SHARES = (0.01, 0.05, 0.1, 0.2, 0.5)  # ERASER's bins
LONG_TEXTS = "imdb"  # timed with the sst2 run: reviews that fill the sequence length


def sample_rows(examples, limit, seed):
    """At most `limit` rows drawn at random (test splits are often sorted by label), in file order."""
    if not limit or len(examples) <= limit:
        return examples
    return examples.subset(sorted(random.Random(seed).sample(range(len(examples)), limit)))


def text_tokens(features, row):
    """[(byte begin, byte end)] of the text tokens the model read, in order."""
    begin, end = features["token_begin"][row], features["token_end"][row]
    return [(int(b), int(e)) for b, e in zip(begin, end) if b >= 0]


def char_to_byte(text, char):
    return len(text[:char].encode("utf-8"))


def rebuild(encoded, tokens, kept):
    """The text of the tokens whose positions are in `kept`: neighbours in the text stay joined,
    the others are joined by one space."""
    parts, last_end = [], None
    for position in sorted(kept):
        begin, end = tokens[position]
        if last_end is not None and begin != last_end:
            parts.append(b" ")
        parts.append(encoded[begin:end])
        last_end = end
    return b"".join(parts).decode("utf-8", "replace")


def explain_order(text, tokens, evidence):
    """Token positions in the order explain's ranked spans first cover them, and the count after each span."""
    order, taken, after_span = [], set(), []
    for span in evidence:
        if span["segment"] != "text":
            continue
        begin, end = char_to_byte(text, span["start"]), char_to_byte(text, span["end"])
        for position, (b, e) in enumerate(tokens):
            if b >= begin and e <= end and position not in taken:
                taken.add(position)
                order.append(position)
        after_span.append(len(order))
    return order, after_span


def runs_of(positions):
    """Lengths of the maximal contiguous runs of a set of token positions."""
    lengths, previous = [], None
    for position in sorted(positions):
        if previous is not None and position == previous + 1:
            lengths[-1] += 1
        else:
            lengths.append(1)
        previous = position
    return lengths


def random_spans(lengths, count, rng):
    """Positions of contiguous spans of `lengths` placed at random among `count` tokens, not overlapping."""
    lengths = list(lengths)
    rng.shuffle(lengths)
    free = count - sum(lengths)
    # Each arrangement of the spans among the free tokens equally likely: pick the spans' slots
    # among free + spans slots, in order.
    slots = sorted(rng.sample(range(free + len(lengths)), len(lengths)))
    positions, offset = [], 0
    for index, (slot, length) in enumerate(zip(slots, lengths)):
        start = slot - index + offset
        positions += range(start, start + length)
        offset += length
    return positions


def gradient_x_input(model, features, batch_size=32):
    """[n, width] gradient x input scores of each token for the predicted class (see the module docstring)."""
    import tensorflow as tf

    from bertcnn_tf import attribution

    embedding_layer = model.backbone.token_embedding
    original_call = embedding_layer.call
    names = ("token_ids", "segment_ids", "padding_mask")
    scores = np.zeros(features["token_ids"].shape, dtype="float32")
    for start in range(0, len(scores), batch_size):
        batch = {name: tf.constant(features[name][start : start + batch_size]) for name in names}
        with tf.GradientTape() as tape:
            seen = []

            def watched_call(*args, **kwargs):
                output = original_call(*args, **kwargs)
                tape.watch(output)
                seen.append(output)
                return output

            embedding_layer.call = watched_call
            try:
                outputs = attribution.forward(model, batch)["outputs"]
            finally:
                del embedding_layer.call  # back to the class's method
            classes = tf.argmax(outputs, axis=-1, output_type=tf.int32)
            score = tf.gather(outputs, classes, batch_dims=1) - tf.reduce_mean(outputs, axis=-1)
        (embeddings,) = seen
        gradient = tape.gradient(score, embeddings)
        scores[start : start + batch_size] = tf.reduce_sum(gradient * embeddings, axis=-1).numpy()
    return scores


class Predictor:
    """The run's calibrated probabilities of strings, each distinct string predicted once."""

    def __init__(self, run, batch_size=64):
        self.run, self.batch_size, self.cache = run, batch_size, {}

    def __call__(self, texts):
        from bertcnn_tf.data.files import Examples
        from bertcnn_tf.inference import predict_probabilities

        new = sorted({text for text in texts if text not in self.cache})
        if new:
            probabilities = predict_probabilities(
                self.run.model, Examples.unlabelled(new), batch_size=self.batch_size, temperature=self.run.temperature
            )
            self.cache.update(zip(new, probabilities))
        return np.stack([self.cache[text] for text in texts])


def rationales(texts, features, explanations, gradients, seed):
    """{budget name: {method: [per text, the set of token positions]}}, and the tokens per text."""
    budgets = {f"top {k} span{'s' if k > 1 else ''}": {m: [] for m in METHODS} for k in SPAN_BUDGETS}
    budgets |= {f"{share:.0%}": {m: [] for m in METHODS} for share in AOPC_SHARES}
    counts = []
    for row, (text, explanation) in enumerate(zip(texts, explanations)):
        tokens = text_tokens(features, row)
        counts.append(len(tokens))
        order, after_span = explain_order(text, tokens, explanation["evidence"])
        # Beyond the ranked spans (none hold text there), the remaining tokens in text order.
        taken = set(order)
        order += [position for position in range(len(tokens)) if position not in taken]
        by_gradient = sorted(range(len(tokens)), key=lambda p: -gradients[row, p + 1])  # +1: after [CLS]
        wanted = [after_span[min(k, len(after_span)) - 1] if after_span else 0 for k in SPAN_BUDGETS]
        wanted += [max(1, math.ceil(share * len(tokens))) if tokens else 0 for share in AOPC_SHARES]
        for name, size in zip(budgets, wanted):
            chosen = set(order[:size])
            rng = random.Random(f"{seed}-{row}-{name}")
            budgets[name]["explain"].append(chosen)
            budgets[name]["random"].append(set(random_spans(runs_of(chosen), len(tokens), rng)))
            budgets[name]["gradient_x_input"].append(set(by_gradient[:size]))
    return budgets, counts


def faithfulness(run, examples, seed):
    """The ERASER scores of the three rationales at each budget, over `examples`."""
    import bertcnn_tf
    from bertcnn_tf.preprocessing import tokenize_all

    texts = list(examples.texts)
    predictor = Predictor(run)
    full = predictor(texts)
    predicted = full.argmax(-1)
    p_full = full[np.arange(len(texts)), predicted]
    features = tokenize_all(examples, run.model.preprocessor, with_offsets=True)
    # Every window ranked (each covers some text), so any budget can be filled from them.
    top_k = features["token_ids"].shape[1] * len(run.model.head_layer.kernel_sizes)
    started = time.perf_counter()
    explanations = bertcnn_tf.explain(run, texts, top_k=top_k)
    explain_seconds = time.perf_counter() - started
    assert [run.labels[c] for c in predicted] == [e["label"] for e in explanations]
    started = time.perf_counter()
    gradients = gradient_x_input(run.model, features)
    gradient_seconds = time.perf_counter() - started
    budgets, counts = rationales(texts, features, explanations, gradients, seed)
    encoded = [text.encode("utf-8") for text in texts]
    tokens = [text_tokens(features, row) for row in range(len(texts))]
    rows = np.arange(len(texts))
    table = {}
    for name, methods in budgets.items():
        table[name] = {}
        for method, chosen in methods.items():
            deleted = [rebuild(encoded[r], tokens[r], set(range(len(tokens[r]))) - chosen[r]) for r in range(len(texts))]
            kept = [rebuild(encoded[r], tokens[r], chosen[r]) for r in range(len(texts))]
            comprehensiveness = p_full - predictor(deleted)[rows, predicted]
            sufficiency = p_full - predictor(kept)[rows, predicted]
            table[name][method] = {
                "comprehensiveness": float(comprehensiveness.mean()),
                "sufficiency": float(sufficiency.mean()),
                "tokens": float(np.mean([len(c) for c in chosen])),
            }
    aopc = {
        method: {
            metric: float(np.mean([table[f"{share:.0%}"][method][metric] for share in AOPC_SHARES]))
            for metric in ("comprehensiveness", "sufficiency")
        }
        for method in METHODS
    }
    truth = [run.labels.index(labels[0]) if labels and labels[0] in run.labels else -1 for labels in examples.labels]
    return {
        "rows": len(texts),
        "accuracy": float(np.mean(predicted == np.array(truth))),
        "mean_tokens": float(np.mean(counts)),
        "mean_probability": float(p_full.mean()),
        "budgets": table,
        "aopc": aopc,
        "explain_seconds_top_all": round(explain_seconds, 2),
        "gradient_seconds": round(gradient_seconds, 2),
    }


def time_explain_against_predict(run, texts, repeats):
    """Median seconds of `explain` and `predict` over the same texts, warmed up, alternated."""
    import bertcnn_tf

    calls = {"predict": lambda: bertcnn_tf.predict(run, texts), "explain": lambda: bertcnn_tf.explain(run, texts)}
    for call in calls.values():
        call()
    seconds = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "texts": len(texts),
        "repeats": repeats,
        "predict_ms_per_text": 1000 * median["predict"] / len(texts),
        "explain_ms_per_text": 1000 * median["explain"] / len(texts),
        "explain_over_predict": median["explain"] / median["predict"],
        "seconds": seconds,
    }


def load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def run_dataset(args, dataset):
    from bertcnn_tf.data.files import stratified_split
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import train

    split, _ = DATASETS[dataset]
    train_rows = read_split(args.data_dir, dataset, "train")
    if args.train_limit and len(train_rows) > args.train_limit:
        train_rows, _ = stratified_split(train_rows, 1 - args.train_limit / len(train_rows), args.seed)
    evaluated = sample_rows(read_split(args.data_dir, dataset, split), args.eval_limit, args.seed)
    config = TrainingConfig(
        backbone="offline", head="cnn", epochs=args.epochs, sequence_length=args.sequence_length, seed=args.seed,
        verbose=2,
    )
    run_dir = tempfile.mkdtemp(prefix="faithfulness-")
    load_before = load_average()
    try:
        started = time.time()
        run, _ = train(train_rows, run_dir, config)
        train_seconds = time.time() - started
        scores = faithfulness(run, evaluated, args.seed)
        speed = {split: time_explain_against_predict(run, list(evaluated.texts), args.repeats)}
        if dataset == "sst2" and args.long_texts:
            long = sample_rows(read_split(args.data_dir, args.long_texts, "dev"), args.eval_limit, args.seed)
            speed[f"{args.long_texts} dev"] = time_explain_against_predict(run, list(long.texts), args.repeats)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "dataset": dataset, "split": split, "seed": args.seed, "epochs": args.epochs,
        "sequence_length": args.sequence_length, "train_limit": args.train_limit, "eval_limit": args.eval_limit,
        "train_rows": len(train_rows), "temperature": float(run.temperature), "kernel_sizes":
        list(run.model.head_layer.kernel_sizes), "train_seconds": round(train_seconds), **scores, "speed": speed,
        "load_average": {"before": load_before, "after": load_average()}, "command": args.command,
        "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
    }


def run_speed(args):
    """Explain against predict only, on an untrained CNN head (the cost does not depend on the weights)."""
    import bertcnn_tf
    from bertcnn_tf.training.runs import Run

    classifier = bertcnn_tf.BertCNNClassifier.from_preset(
        "offline", num_classes=2, head="cnn", sequence_length=args.sequence_length
    )
    run = Run(model=classifier, labels=["a", "b"], settings={"head": "cnn", "sequence_length": args.sequence_length})
    speed = {}
    load_before = load_average()
    for dataset in args.datasets.split(",") + ([args.long_texts] if args.long_texts else []):
        split = DATASETS[dataset][0] if dataset in DATASETS else "dev"
        texts = sample_rows(read_split(args.data_dir, dataset, split), args.eval_limit, args.seed)
        speed[f"{dataset} {split}"] = time_explain_against_predict(run, list(texts.texts), args.repeats)
    return {
        "kind": "speed", "sequence_length": args.sequence_length, "eval_limit": args.eval_limit, "speed": speed,
        "load_average": {"before": load_before, "after": load_average()}, "command": args.command,
        "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
    }


def setup_key(row):
    if row.get("kind") == "speed":
        return None
    return (row["dataset"], row["seed"], row["epochs"], row["sequence_length"], row["train_limit"], row["eval_limit"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faithfulness", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--datasets", default="trec,sst2,banking77")
    parser.add_argument("--train-limit", type=int, default=2000, help="at most this many training rows, stratified")
    parser.add_argument("--eval-limit", type=int, default=500, help="at most this many evaluated rows, drawn at random")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each of explain and predict")
    parser.add_argument("--long-texts", default=LONG_TEXTS, help="also time the sst2 run on this data set's dev texts")
    parser.add_argument("--results-dir", default=RESULTS_DIR, help="where to record (a scratch folder for trials)")
    parser.add_argument(
        "--speed-only", action="store_true",
        help="only time explain against predict on each data set's texts, with an untrained head",
    )
    args = parser.parse_args(argv)
    args.command = "python -m benchmarks.faithfulness " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.speed_only:
        record_run(FAITHFULNESS, run_speed(args), args.results_dir)
        return
    done = {setup_key(row) for row in read_results(FAITHFULNESS, args.results_dir)}
    for dataset in args.datasets.split(","):
        key = (dataset, args.seed, args.epochs, args.sequence_length, args.train_limit, args.eval_limit)
        if key in done:
            print(f"skip {dataset}: already recorded")
            continue
        record_run(FAITHFULNESS, run_dataset(args, dataset), args.results_dir)


if __name__ == "__main__":
    main()
