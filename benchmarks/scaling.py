"""Inference texts/s against sequence length and batch size, with a plot.

Through the Keras model (`bertcnn_tf.inference.predict_probabilities`), in
float32 and in bfloat16, against padding every batch to 128 (the seed
article's pipeline), all in one process:

- against length: texts of exactly L tokens, batch 32;
- against batch size: sst2 dev sentences (raw text in), sorted and trimmed.

Writes `results/scaling.json`, `plots/speed_scaling.png` and the scaling
section of RESULTS.md. Not a test; never run in CI.

    python benchmarks/scaling.py --data-dir ../shared/data
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import machine_info  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.readme import refresh_readme  # noqa: E402
from benchmarks.speed import read_sst2_dev  # noqa: E402
from benchmarks.speed import timed  # noqa: E402

RESULTS = os.path.join(HERE, "results", "scaling.json")
PLOT = os.path.join(HERE, "plots", "speed_scaling.png")
LENGTHS = (8, 16, 32, 64, 128)
BATCH_SIZES = (1, 4, 8, 16, 32, 64, 128)


def texts_of_length(tokenizer, length, count):
    """`count` texts that tokenize to exactly `length` tokens with [CLS] and [SEP]."""
    word = "good"
    assert len(tokenizer(word)) == 1, "the filler word must be one token"
    return [" ".join([word] * (length - 2))] * count


def rate(predict, examples, batch_size):
    return len(examples) / timed(lambda: predict(examples, batch_size), repeats=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    parser.add_argument("--texts", type=int, default=256, help="texts per measurement")
    args = parser.parse_args(argv)

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf import make_preprocessor
    from bertcnn_tf.data import Examples
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.io_utils import atomic_write_text
    from bertcnn_tf.precision import with_compute_dtype

    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    fast = with_compute_dtype(model, "bfloat16")
    padded = BertCNNClassifier(model.backbone, 2, preprocessor=make_preprocessor(model.preprocessor.tokenizer, 128))
    padded.set_weights(model.get_weights())
    pipelines = {
        "float32": lambda ex, bs: predict_probabilities(model, ex, batch_size=bs),
        "bfloat16": lambda ex, bs: predict_probabilities(fast, ex, batch_size=bs),
        "pad to 128": lambda ex, bs: padded.predict(ex.texts, batch_size=bs, verbose=0),
    }

    by_length = {name: [] for name in pipelines}
    for length in LENGTHS:
        texts = texts_of_length(model.preprocessor.tokenizer, length, args.texts)
        examples = Examples(texts=texts, labels=[[] for _ in texts])
        for name, predict in pipelines.items():
            by_length[name].append(rate(predict, examples, 32))
        print(length, {name: round(values[-1], 1) for name, values in by_length.items()}, flush=True)

    sst2 = read_sst2_dev(args.data_dir, args.texts)
    by_batch = {name: [] for name in pipelines}
    for batch_size in BATCH_SIZES:
        for name, predict in pipelines.items():
            by_batch[name].append(rate(predict, sst2, batch_size))
        print(batch_size, {name: round(values[-1], 1) for name, values in by_batch.items()}, flush=True)

    row = {
        "lengths": list(LENGTHS), "texts_per_s_by_length": by_length,
        "batch_sizes": list(BATCH_SIZES), "texts_per_s_by_batch": by_batch,
        "texts": args.texts, "machine": machine_info(), "time": time.strftime("%Y-%m-%d %H:%M"),
    }
    atomic_write_text(RESULTS, json.dumps(row, indent=2) + "\n")
    plot(row, PLOT)
    update_results_section("scaling", scaling_markdown(row))
    refresh_readme()


def plot(row, path):
    """Two panels: texts/s against length (batch 32) and against batch size (sst2 dev)."""
    from matplotlib.figure import Figure

    from bertcnn_tf.evaluation import save_figure

    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    for name, values in row["texts_per_s_by_length"].items():
        left.plot(row["lengths"], values, marker="o", label=name)
    left.set(xscale="log", yscale="log", xlabel="tokens per text", ylabel="texts/s",
             title="Texts/s against length (batch 32)")
    left.set_xticks(row["lengths"], [str(n) for n in row["lengths"]])
    for name, values in row["texts_per_s_by_batch"].items():
        right.plot(row["batch_sizes"], values, marker="o", label=name)
    right.set(xscale="log", xlabel="batch size", ylabel="texts/s",
              title="Texts/s against batch size (sst2 dev)")
    right.set_xticks(row["batch_sizes"], [str(n) for n in row["batch_sizes"]])
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(f"all-MiniLM-L6-v2 + CNN head, Keras model, {row['machine']['cores']} CPU cores")
    figure.tight_layout()
    save_figure(figure, path)


def scaling_markdown(row):
    names = list(row["texts_per_s_by_length"])
    header = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    by_length = "\n".join(
        f"| {length} tokens | " + " | ".join(f"{row['texts_per_s_by_length'][n][i]:.0f}" for n in names) + " |"
        for i, length in enumerate(row["lengths"])
    )
    by_batch = "\n".join(
        f"| batch {size} | " + " | ".join(f"{row['texts_per_s_by_batch'][n][i]:.0f}" for n in names) + " |"
        for i, size in enumerate(row["batch_sizes"])
    )
    return f"""Command: `python benchmarks/scaling.py --data-dir ../shared/data` ({row['time']}).
Texts/s through the Keras model; {row['texts']} texts per point. Plot: `plots/speed_scaling.png`.

Against length (texts of exactly that many tokens, batch 32):

{header}
{by_length}

Against batch size (sst2 dev sentences, raw text in):

{header}
{by_batch}
"""


if __name__ == "__main__":
    main()
