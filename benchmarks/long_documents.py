"""Long documents on imdb: truncation, head+tail and windows, for the CNN and CLS heads (issue 41).

Accuracy at the same budget. Per head ("cnn", "cls") and setting, a run on all-MiniLM-L6-v2
(`backbone="offline"`) trained on the same stratified subsample of imdb train, the same epochs
and seed, and scored on the same random subsample of imdb dev:

- `trunc128`: truncation at 128 tokens (the article's setting);
- `windows2048`: `max_document_length=2048`, windows of 128 tokens at the default stride
  (consecutive windows share 8 tokens), the head pooling over every window;
- `headtail512`: head+tail truncation at 512 (Sun et al., 2019): a review of T > 510 text tokens
  keeps its first 128 and last 382. Not a package option: the benchmark cuts each text (train and
  dev alike) at the model's own token boundaries (`bertcnn_tf.token_offsets.tokenize_with_offsets`,
  byte offsets) into text[:end of token 128] + " " + text[begin of token T-382:], the tail's start
  moved forward past "##" word pieces so that re-tokenizing gives those tokens (the row records the
  share of cut texts whose re-tokenized ids are exactly the kept ones);
- `trunc512`: truncation at 512.

Each configuration runs in its own child process, so the peak RSS (VmHWM) it records is its own:
the peak up to the end of training, then the peak while predicting (VmHWM reset in between through
/proc/self/clear_refs). docs/s: `predict_logits` over the dev subsample after a warm-up call.

Speed target (`--speed` row; an untrained CNN head, since the cost does not depend on the weights),
on imdb dev reviews:

- window overhead: the text tokens packed in windows (own tokens plus the overlap) over the
  documents' own tokens (cut at 2,048); also the real tokens with each window's [CLS]/[SEP], and the
  positions incl. the padding of each document's last window (windows x 128). Target: <= 1.15x.
- tokens/s: `--speed-docs` reviews predicted in windows of 128, against the same reviews' tokens
  chopped at token boundaries into pieces of 126 tokens, each a single-window text, predicted at
  128 by a classifier without windows; each side's own text tokens over its time, alternated
  repeats after a warm-up, the median. Target: documents >= 0.9x the short texts' tokens/s. The
  row also counts the positions each side runs in `predict_logits`'s batches, padding included.
  `--speed-only` measures this alone and records a new row (the report shows the newest).

Resumable: each finished configuration is one line of `results/long_documents.jsonl`, skipped
when run again with the same limits. Not a test. `python -m benchmarks.report` rebuilds RESULTS.md.

    nice -n 19 python -m benchmarks.long_documents --data-dir ../shared/data \
        --train-limit 800 --eval-limit 400 --epochs 1 --speed-docs 100 --repeats 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_split
from benchmarks.machine import machine_info
from benchmarks.results import LONG_DOCUMENTS
from benchmarks.results import RESULTS_DIR
from benchmarks.results import read_results
from benchmarks.results import record_run

DATASET = "imdb"
HEADS = ("cnn", "cls")
# Cheapest first, so that a run cut short still has the short settings.
SETTINGS = {
    "trunc128": {"sequence_length": 128},
    "windows2048": {"sequence_length": 128, "max_document_length": 2048},
    "headtail512": {"sequence_length": 512, "head_tokens": 128, "tail_tokens": 382},
    "trunc512": {"sequence_length": 512},
}
WINDOW_LENGTH = 128  # the speed measurement's windows
MAX_DOCUMENT_LENGTH = 2048
OVERHEAD_TARGET = 1.15  # window text tokens over the document's own, at most
TOKENS_PER_S_TARGET = 0.9  # documents' tokens/s over short texts', at least


def load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def peak_rss_mb():
    from benchmarks.memory import peak_rss_mb as peak

    return peak()


def reset_peak_rss():
    """Resets this process's VmHWM to its current RSS (Linux 4.0+); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def sample_rows(examples, limit, seed):
    """At most `limit` rows drawn at random, in file order."""
    import random

    if not limit or len(examples) <= limit:
        return examples
    return examples.subset(sorted(random.Random(seed).sample(range(len(examples)), limit)))


def train_subsample(args):
    from bertcnn_tf.data.files import stratified_split

    rows = read_split(args.data_dir, DATASET, "train")
    if args.train_limit and len(rows) > args.train_limit:
        rows, _ = stratified_split(rows, 1 - args.train_limit / len(rows), args.seed)
    return rows


def dev_subsample(args, limit=None):
    return sample_rows(read_split(args.data_dir, DATASET, "dev"), limit or args.eval_limit, args.seed)


def token_pieces(tokenizer, texts, chunk=256):
    """Per text: (ids, byte begins, byte ends) of the model's own tokens, as numpy arrays."""
    import tensorflow as tf

    from bertcnn_tf.preprocessing import valid_utf8
    from bertcnn_tf.token_offsets import tokenize_with_offsets

    pieces = []
    for start in range(0, len(texts), chunk):
        ids, begin, end = tokenize_with_offsets(tokenizer, valid_utf8(tf.constant(texts[start : start + chunk])))
        pieces += [tuple(np.asarray(x) for x in row) for row in zip(ids.to_list(), begin.to_list(), end.to_list())]
    return pieces


def head_tail_texts(tokenizer, texts, head_tokens, tail_tokens):
    """Texts of more than head+tail tokens cut to their first `head_tokens` and last `tail_tokens`
    (see the module docstring); returns the texts and {cut, exact} counts."""
    vocabulary = tokenizer.get_vocabulary()
    cut_texts, cut, recut = [], 0, []
    pieces = token_pieces(tokenizer, texts)
    for text, (ids, begin, end) in zip(texts, pieces):
        if len(ids) <= head_tokens + tail_tokens:
            cut_texts.append(text)
            continue
        start = len(ids) - tail_tokens
        # A "##" piece re-tokenized on its own would lose its prefix: start the tail at a word.
        while start < len(ids) and vocabulary[ids[start]].startswith("##"):
            start += 1
        encoded = text.encode("utf-8")
        new = encoded[: end[head_tokens - 1]] + b" " + encoded[begin[start] :]
        cut_texts.append(new.decode("utf-8", "replace"))
        recut.append((len(cut_texts) - 1, np.concatenate([ids[:head_tokens], ids[start:]])))
        cut += 1
    retokenized = token_pieces(tokenizer, [cut_texts[i] for i, _ in recut])
    exact = sum(int(np.array_equal(new[0], kept)) for new, (_, kept) in zip(retokenized, recut))
    return cut_texts, {"cut": cut, "exact": exact, "texts": len(texts)}


def child_configuration(args, head, setting):
    """Trains and scores one configuration (in its own process); returns its row."""
    import bertcnn_tf
    from bertcnn_tf.data.files import Examples
    from bertcnn_tf.inference import predict_logits
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import train

    options = SETTINGS[setting]
    train_rows, dev_rows = train_subsample(args), dev_subsample(args)
    head_tail = None
    if "head_tokens" in options:
        tokenizer = bertcnn_tf.BertCNNClassifier.from_preset("offline", num_classes=2).preprocessor.tokenizer
        started = time.perf_counter()
        texts, head_tail = head_tail_texts(tokenizer, list(train_rows.texts), options["head_tokens"], options["tail_tokens"])
        train_rows = Examples(texts=texts, labels=train_rows.labels)
        texts, dev_cut = head_tail_texts(tokenizer, list(dev_rows.texts), options["head_tokens"], options["tail_tokens"])
        dev_rows = Examples(texts=texts, labels=dev_rows.labels)
        head_tail = {"train": head_tail, "dev": dev_cut, "seconds": round(time.perf_counter() - started, 1)}
    config = TrainingConfig(
        backbone="offline", head=head, epochs=args.epochs, sequence_length=options["sequence_length"],
        max_document_length=options.get("max_document_length"), seed=args.seed, verbose=2,
    )
    load_before = load_average()
    run_dir = tempfile.mkdtemp(prefix="long-documents-")
    started = time.perf_counter()
    run, _ = train(train_rows, run_dir, config)
    train_seconds = time.perf_counter() - started
    train_peak = peak_rss_mb()
    reset = reset_peak_rss()
    model = run.model
    predict_logits(model, dev_rows.subset(range(min(64, len(dev_rows)))))  # warm-up: traces
    started = time.perf_counter()
    logits = predict_logits(model, dev_rows)
    predict_seconds = time.perf_counter() - started
    truth = np.array([run.labels.index(labels[0]) for labels in dev_rows.labels])
    return {
        "kind": "accuracy", "dataset": DATASET, "head": head, "setting": setting, "options": options,
        "seed": args.seed, "epochs": args.epochs, "train_limit": args.train_limit, "eval_limit": args.eval_limit,
        "train_rows": len(train_rows), "dev_rows": len(dev_rows),
        "validation_split": config.validation_split, "accuracy": float(np.mean(logits.argmax(-1) == truth)),
        "train_seconds": round(train_seconds, 1), "predict_seconds": round(predict_seconds, 2),
        "docs_per_s": len(dev_rows) / predict_seconds,
        "train_peak_rss_mb": round(train_peak), "predict_peak_rss_mb": round(peak_rss_mb()) if reset else None,
        "head_tail": head_tail, "load_average": {"before": load_before, "after": load_average()},
        "command": args.command, "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
    }


def window_overhead(tokenizer, texts, sequence_length, max_tokens):
    """Totals over `texts` of their own tokens (cut at `max_tokens`) and of what their windows hold."""
    from bertcnn_tf.preprocessing import default_window_stride
    from bertcnn_tf.preprocessing import windows_per_document

    stride, content = default_window_stride(sequence_length), sequence_length - 2
    own = window_text = windows = 0
    long_own = long_window_text = 0
    for ids, _, _ in token_pieces(tokenizer, texts):
        length = min(len(ids), max_tokens)
        count = windows_per_document(length, sequence_length, stride)
        held = sum(min(content, length - k * stride) for k in range(count))  # text tokens, overlap included
        own, window_text, windows = own + length, window_text + held, windows + count
        if count > 1:
            long_own, long_window_text = long_own + length, long_window_text + held
    return {
        "documents": len(texts), "own_tokens": own, "windows": windows, "window_text_tokens": window_text,
        "window_real_tokens": window_text + 2 * windows, "window_positions": windows * sequence_length,
        "text_ratio": window_text / own, "real_ratio": (window_text + 2 * windows) / own,
        "positions_ratio": windows * sequence_length / own,
        "multi_window_text_ratio": long_window_text / long_own if long_own else None,
        "stride": stride,
    }


def short_pieces(tokenizer, texts, content, max_tokens):
    """The texts' first `max_tokens` tokens chopped at token boundaries into texts of `content` tokens."""
    pieces = []
    for text, (ids, begin, end) in zip(texts, token_pieces(tokenizer, texts)):
        encoded, length = text.encode("utf-8"), min(len(ids), max_tokens)
        for start in range(0, length, content):
            stop = min(start + content, length) - 1
            pieces.append(encoded[begin[start] : end[stop]].decode("utf-8", "replace"))
    return pieces


def text_tokens(features):
    """Text tokens the model reads ([CLS]/[SEP] not counted) in tokenized features."""
    mask = features["padding_mask"]
    real = mask.sum()
    windows = (mask.sum(axis=-1) > 0).sum()
    return int(real - 2 * windows)


def child_speed(args):
    """The window overhead and documents' against short texts' tokens/s (see the module docstring)."""
    import bertcnn_tf
    from bertcnn_tf.data.files import Examples
    from bertcnn_tf.inference import length_sorted_batches
    from bertcnn_tf.inference import predict_logits
    from bertcnn_tf.preprocessing import tokenize_all
    from bertcnn_tf.preprocessing import tokenize_windows

    documents = bertcnn_tf.BertCNNClassifier.from_preset(
        "offline", num_classes=2, head="cnn", sequence_length=WINDOW_LENGTH, max_document_length=MAX_DOCUMENT_LENGTH
    )
    texts = bertcnn_tf.BertCNNClassifier.from_preset("offline", num_classes=2, head="cnn", sequence_length=WINDOW_LENGTH)
    tokenizer = texts.preprocessor.tokenizer
    load_before = load_average()
    dev = read_split(args.data_dir, DATASET, "dev")
    overhead = window_overhead(tokenizer, list(dev.texts), WINDOW_LENGTH, MAX_DOCUMENT_LENGTH)
    chosen = list(dev_subsample(args, args.speed_docs).texts)
    pieces = short_pieces(tokenizer, chosen, WINDOW_LENGTH - 2, MAX_DOCUMENT_LENGTH)
    inputs = {"documents": Examples.unlabelled(chosen), "short texts": Examples.unlabelled(pieces)}
    models = {"documents": documents, "short texts": texts}
    features = {name: tokenize_all(inputs[name], models[name].preprocessor) for name in inputs}
    tokens = {name: text_tokens(features[name]) for name in inputs}
    # The positions each side runs, padding included, in predict_logits's own batches
    # (documents: their windows as rows).
    rows = tokenize_windows(inputs["documents"], documents.preprocessor)
    batched = {"documents": {name: rows[name] for name in features["documents"]}, "short texts": features["short texts"]}
    positions = {
        name: sum(batch["token_ids"].size for _, batch in length_sorted_batches(batched[name], 32)) for name in inputs
    }
    for name in inputs:
        predict_logits(models[name], inputs[name])  # warm-up
    seconds = {name: [] for name in inputs}
    for _ in range(args.repeats):
        for name in inputs:
            started = time.perf_counter()
            predict_logits(models[name], inputs[name])
            seconds[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    per_s = {name: tokens[name] / median[name] for name in inputs}
    # Own tokens of the documents: what their windows hold minus the overlap.
    own = window_overhead(tokenizer, chosen, WINDOW_LENGTH, MAX_DOCUMENT_LENGTH)
    doc_own_per_s = own["own_tokens"] / median["documents"]
    return {
        "kind": "speed", "dataset": DATASET, "sequence_length": WINDOW_LENGTH, "max_document_length": MAX_DOCUMENT_LENGTH,
        "seed": args.seed, "speed_docs": args.speed_docs, "documents": len(chosen), "short_texts": len(pieces), "repeats": args.repeats,
        "overhead": overhead, "documents_own_tokens": own["own_tokens"], "documents_window_text_tokens": tokens["documents"],
        "short_text_tokens": tokens["short texts"], "documents_positions": positions["documents"],
        "short_positions": positions["short texts"], "seconds": seconds,
        "documents_tokens_per_s": doc_own_per_s, "short_tokens_per_s": per_s["short texts"],
        "tokens_per_s_ratio": doc_own_per_s / per_s["short texts"],
        "documents_per_s": len(chosen) / median["documents"], "peak_rss_mb": round(peak_rss_mb()),
        "load_average": {"before": load_before, "after": load_average()},
        "command": args.command, "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
    }


def run_child(argv):
    """Runs this module with `argv` in a child process; returns the row it prints last."""
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.run([sys.executable, "-m", "benchmarks.long_documents", *argv], stdout=out, cwd=os.getcwd())
        out.seek(0)
        lines = out.read().strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)  # the child's training log, into this run's log
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"child {' '.join(argv)} failed with exit code {child.returncode}")
    return json.loads(lines[-1])


def setup_key(row):
    if row.get("kind") == "speed":
        return ("speed", row["seed"], row["speed_docs"], row["repeats"])
    return (row["head"], row["setting"], row["seed"], row["epochs"], row["train_limit"], row["eval_limit"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.long_documents", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--train-limit", type=int, default=800, help="at most this many training reviews, stratified")
    parser.add_argument("--eval-limit", type=int, default=400, help="at most this many dev reviews, drawn at random")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heads", default=",".join(HEADS))
    parser.add_argument("--settings", default=",".join(SETTINGS), help="run in this order")
    parser.add_argument("--speed-docs", type=int, default=100, help="dev reviews timed for the tokens/s target")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each side of the tokens/s target")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed-target measurement")
    parser.add_argument("--speed-only", action="store_true", help="only measure the speed targets, recorded anew")
    parser.add_argument("--results-dir", default=RESULTS_DIR, help="where to record (a scratch folder for trials)")
    parser.add_argument(
        "--again", action="store_true",
        help="run configurations already recorded again (after a change; the report shows the newest row)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # "speed" or "HEAD:SETTING": one measurement, printed
    args = parser.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    args.command = "python -m benchmarks.long_documents " + " ".join(
        a for i, a in enumerate(argv) if a != "--child" and (i == 0 or argv[i - 1] != "--child")
    )
    if args.child:
        row = child_speed(args) if args.child == "speed" else child_configuration(args, *args.child.split(":"))
        print(json.dumps(row))
        return
    if args.speed_only:
        record_run(LONG_DOCUMENTS, run_child([*argv, "--child", "speed"]), args.results_dir)
        return
    done = {setup_key(row) for row in read_results(LONG_DOCUMENTS, args.results_dir)}
    jobs = [] if args.no_speed else ["speed"]
    jobs += [f"{head}:{setting}" for setting in args.settings.split(",") for head in args.heads.split(",")]
    for job in jobs:
        if job == "speed":
            key = ("speed", args.seed, args.speed_docs, args.repeats)
        else:
            key = (*job.split(":"), args.seed, args.epochs, args.train_limit, args.eval_limit)
        if key in done and not args.again:
            print(f"skip {job}: already recorded")
            continue
        print(f"running {job}", flush=True)
        record_run(LONG_DOCUMENTS, run_child([*argv, "--child", job]), args.results_dir)


if __name__ == "__main__":
    main()
