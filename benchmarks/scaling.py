"""Inference texts/s against sequence length and batch size, with a plot.

Through the Keras model (`bertcnn_tf.inference.predict_probabilities`), in
float32 and in bfloat16, against padding every batch to 128 (the seed
article's pipeline), all in one process:

- against length: texts of exactly L tokens, batch 32;
- against batch size: sst2 dev sentences (raw text in), sorted and trimmed.

Writes `results/scaling.json` (the newest run only); `python -m benchmarks.report`
draws `plots/speed_scaling.png` and the scaling section of RESULTS.md from it. Not a test;
never run in CI.

    python -m benchmarks.scaling --data-dir ../shared/data
"""

import argparse
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_sst2_dev
from benchmarks.machine import machine_info
from benchmarks.results import SCALING
from benchmarks.results import recorded
from benchmarks.results import write_document
from benchmarks.timing import padded_to_128
from benchmarks.timing import timed

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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--texts", type=int, default=256, help="texts per measurement")
    args = parser.parse_args(argv)

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf.data.files import Examples
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.precision import with_compute_dtype

    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    fast = with_compute_dtype(model, "bfloat16")
    padded = padded_to_128(model)
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
    print(recorded(write_document(SCALING, row)))


if __name__ == "__main__":
    main()
