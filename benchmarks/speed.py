"""Speed on real text, side by side in one process, reported as ratios.

Raw sst2 dev sentences in; the offline all-MiniLM-L6-v2 backbone. Compares
(all at batch 32 unless said otherwise):

- this package's inference through the exported SavedModel (run by TF's C++
  loader; each request sorted by length and run in trimmed parts) and through
  the Keras model (sorted by length, each batch trimmed to its longest text),
  in float32 and served in bfloat16 (and the export with its model call
  compiled by XLA, `--jit-compile`), against padding every batch to 128 (the
  seed article's setting) and keras-hub's `BertTextClassifier.predict`;
- single-text latency (p50 / p99);
- training examples/s of the CNN head against keras-hub's CLS classifier;
- the model's FLOP rate against this machine's measured matmul rate.

    python -m benchmarks.speed --data-dir ../shared/data [--texts 872]

Records a row in `results/speed.jsonl`; `python -m benchmarks.report` rebuilds the tables.
"""

import argparse
import json
import os
import shutil
import tempfile
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_sst2_dev
from benchmarks.machine import machine_info
from benchmarks.results import SPEED
from benchmarks.results import record_run
from benchmarks.timing import alternately_labelled
from benchmarks.timing import keras_hub_cls_classifier
from benchmarks.timing import model_flops_per_text
from benchmarks.timing import padded_to_128
from benchmarks.timing import timed
from benchmarks.timing import training_batches
from benchmarks.timing import training_rates


def matmul_rate(dtype, size=2048, repeats=10):
    """Measured GFLOP/s of a square matmul: this machine's practical limit."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    seconds = timed(lambda: [matmul(a).numpy() for _ in range(repeats)]) / repeats
    return 2 * size**3 / seconds / 1e9


def padded_tokens(examples, preprocessor, batch_size, sorted_batches):
    """Token positions actually computed: batches padded to their longest (rounded)."""
    import numpy as np

    from bertcnn_tf.inference import batch_width
    from bertcnn_tf.preprocessing import tokenize_all

    lengths = tokenize_all(examples, preprocessor)["padding_mask"].sum(-1)
    if sorted_batches:
        lengths = np.sort(lengths, kind="stable")
    total = 0
    for start in range(0, len(lengths), batch_size):
        batch = lengths[start : start + batch_size]
        total += len(batch) * batch_width(batch, preprocessor.sequence_length)
    return int(total)


def serving_rates(model, examples, batch_size, latency_texts, precision=None, jit_compile=False):
    """texts/s at `batch_size` (request order) and single-text latency of an export.

    The export is run by TensorFlow's C++ loader, as TF Serving runs it: from
    this Python process through the C API, and from a C process with no Python
    (`native_serving.run_probe`), which is what a TF Serving process pays.
    Every timing follows one untimed pass over the same requests, which is
    where an XLA export compiles its shapes; "cold" is a C process's first
    pass at `batch_size`, with nothing compiled or warmed before it.
    Returns {"python": (texts/s, p50 ms, p99 ms), "native": (...), "native_cold": texts/s}.
    """
    import numpy as np

    from benchmarks.native_serving import run_probe
    from bertcnn_tf.serving.c_api import SavedModelSession
    from bertcnn_tf.serving.export import export_for_serving
    from bertcnn_tf.training.runs import Run

    export_base = tempfile.mkdtemp(prefix="speed-export-")
    try:
        run = Run(model, ["negative", "positive"], {})
        version_dir = export_for_serving(
            run, os.path.join(export_base, "sst2"), check=False, precision=precision, jit_compile=jit_compile
        )
        texts = examples.texts
        batches = [np.array(texts[i : i + batch_size], dtype=object) for i in range(0, len(texts), batch_size)]
        with SavedModelSession(version_dir) as session:
            seconds = timed(lambda: [session.run("serving_default", {"text": b}) for b in batches])

            def classify(text):
                return session.run("serving_default", {"text": np.array([text], dtype=object)})

            for text in texts[:latency_texts]:
                classify(text)
            latencies = single_text_latencies(classify, texts[:latency_texts])
        cold = run_probe(version_dir, texts, batch=batch_size, repeats=1, warmup=0)
        throughput = run_probe(version_dir, texts, batch=batch_size, repeats=2)
        single = run_probe(version_dir, texts[:latency_texts], batch=1)
    finally:
        shutil.rmtree(export_base, ignore_errors=True)
    return {
        "python": (len(texts) / seconds, *latencies),
        "native": (throughput["best_pass_texts_per_second"], single["p50_ms"], single["p99_ms"]),
        "native_cold": cold["texts_per_second"],
    }


def single_text_latencies(classify, texts, warmup=5):
    """p50 and p99 milliseconds of `classify(text)` over `texts` (after `warmup`)."""
    import numpy as np

    seconds = []
    for text in texts:
        start = time.perf_counter()
        classify(text)
        seconds.append(time.perf_counter() - start)
    seconds = 1000 * np.asarray(seconds[warmup:])
    return float(np.percentile(seconds, 50)), float(np.percentile(seconds, 99))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--texts", type=int, default=872)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=27, help="timed training steps (27 x 32 = sst2 dev)")
    parser.add_argument("--filters", type=int, default=None, help="the CNN head's filters per width (default: the classifier's)")
    args = parser.parse_args(argv)

    import keras_hub

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf.backbones import offline_backbone_dir
    from bertcnn_tf.data.files import Examples
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.precision import with_compute_dtype

    examples = read_sst2_dev(args.data_dir, args.texts)
    n, bs = len(examples), args.batch_size
    head = {} if args.filters is None else {"filters": args.filters}
    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128, **head)
    fast_model = with_compute_dtype(model, "bfloat16")
    results = {"texts": n, "batch_size": bs, "filters": model.filters}

    # --- inference through the Keras model, texts/s ---
    ours = timed(lambda: predict_probabilities(model, examples, batch_size=bs))
    results["ours_keras_texts_per_s"] = n / ours
    ours_bf16 = timed(lambda: predict_probabilities(fast_model, examples, batch_size=bs))
    results["ours_keras_bf16_texts_per_s"] = n / ours_bf16

    # --- the exported SavedModel: float32, bfloat16, and float32 compiled by XLA ---
    exports = (("ours_savedmodel", None, False), ("ours_savedmodel_bf16", "bfloat16", False),
               ("ours_savedmodel_xla", None, True))
    for name, precision, jit_compile in exports:
        rates = serving_rates(model, examples, bs, args.latency_texts, precision, jit_compile)
        for process, prefix in (("python", name), ("native", f"{name}_native")):
            rate, p50, p99 = rates[process]
            results[f"{prefix}_texts_per_s"] = rate
            results[f"{prefix}_latency_p50_ms"], results[f"{prefix}_latency_p99_ms"] = p50, p99
        results[f"{name}_native_cold_texts_per_s"] = rates["native_cold"]

    # --- the baselines ---
    fixed_model = padded_to_128(model)
    pad128 = timed(lambda: fixed_model.predict(examples.texts, batch_size=bs, verbose=0))
    results["pad128_keras_texts_per_s"] = n / pad128

    hub = keras_hub.models.BertTextClassifier.from_preset(offline_backbone_dir(), num_classes=2)
    hub_seconds = timed(lambda: hub.predict(examples.texts, batch_size=bs, verbose=0))
    results["keras_hub_texts_per_s"] = n / hub_seconds
    results["keras_hub_sequence_length"] = hub.preprocessor.sequence_length
    print(json.dumps(results), flush=True)

    # --- single-text latency through the Keras model ---
    p50, p99 = single_text_latencies(
        lambda text: predict_probabilities(model, Examples(texts=[text], labels=[[]]), batch_size=1),
        examples.texts[: args.latency_texts],
    )
    results["ours_keras_latency_p50_ms"], results["ours_keras_latency_p99_ms"] = p50, p99

    # --- training examples/s: CNN head vs keras-hub's CLS classifier ---
    train_examples, targets = alternately_labelled(examples)
    hub_trainer = keras_hub_cls_classifier(model.preprocessor.tokenizer)
    cnn_trainer = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128, **head)
    batches = training_batches(cnn_trainer.preprocessor, train_examples, targets, bs, args.train_steps)
    rates = training_rates({"cls": hub_trainer, "cnn": cnn_trainer}, batches)
    results["cls_train_examples_per_s"], results["cnn_train_examples_per_s"] = rates["cls"], rates["cnn"]

    # --- the machine's limit ---
    results["matmul_fp32_gflops"] = matmul_rate("float32")
    results["matmul_bf16_gflops"] = matmul_rate("bfloat16")
    tokens = padded_tokens(examples, model.preprocessor, bs, sorted_batches=True)
    flops = n * model_flops_per_text(model.backbone, tokens / n, model.filters, model.kernel_sizes)
    results["ours_model_gflops"] = flops / ours / 1e9
    results["ours_model_bf16_gflops"] = flops / ours_bf16 / 1e9

    pad128_rate = results["pad128_keras_texts_per_s"]
    ratios = {
        "savedmodel_vs_pad128": results["ours_savedmodel_texts_per_s"] / pad128_rate,
        "savedmodel_bf16_vs_pad128": results["ours_savedmodel_bf16_texts_per_s"] / pad128_rate,
        "savedmodel_native_vs_pad128": results["ours_savedmodel_native_texts_per_s"] / pad128_rate,
        "savedmodel_native_bf16_vs_pad128": results["ours_savedmodel_bf16_native_texts_per_s"] / pad128_rate,
        "savedmodel_xla_vs_pad128": results["ours_savedmodel_xla_texts_per_s"] / pad128_rate,
        "savedmodel_native_xla_vs_pad128": results["ours_savedmodel_xla_native_texts_per_s"] / pad128_rate,
        "savedmodel_native_xla_vs_float32": (
            results["ours_savedmodel_xla_native_texts_per_s"] / results["ours_savedmodel_native_texts_per_s"]
        ),
        "ours_vs_pad128": results["ours_keras_texts_per_s"] / pad128_rate,
        "ours_bf16_vs_pad128": results["ours_keras_bf16_texts_per_s"] / pad128_rate,
        "ours_vs_keras_hub": results["ours_keras_texts_per_s"] / results["keras_hub_texts_per_s"],
        "cnn_training_time_over_cls": results["cls_train_examples_per_s"] / results["cnn_train_examples_per_s"],
        "model_flops_over_fp32_matmul": results["ours_model_gflops"] / results["matmul_fp32_gflops"],
        "model_bf16_flops_over_bf16_matmul": results["ours_model_bf16_gflops"] / results["matmul_bf16_gflops"],
    }
    row = {"results": results, "ratios": ratios, "machine": machine_info(), "time": time.strftime("%Y-%m-%d %H:%M")}
    record_run(SPEED, row)


if __name__ == "__main__":
    main()
