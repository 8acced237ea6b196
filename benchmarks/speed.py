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

    python benchmarks/speed.py --data-dir ../shared/data [--texts 872]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import append_result  # noqa: E402
from benchmarks.common import describe_machine  # noqa: E402
from benchmarks.common import machine_info  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.readme import refresh_readme  # noqa: E402

RESULTS = os.path.join(HERE, "results", "speed.jsonl")


def read_sst2_dev(data_dir, limit):
    from bertcnn_tf.data import read_examples

    examples = read_examples(os.path.join(data_dir, "sst2", "dev.csv"))
    return examples.subset(range(min(limit, len(examples))))


def timed(function, repeats=2):
    """Best wall time of `repeats` calls (after one warm-up call)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(dtype, size=2048, repeats=10):
    """Measured GFLOP/s of a square matmul: this machine's practical limit."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    seconds = timed(lambda: [matmul(a).numpy() for _ in range(repeats)]) / repeats
    return 2 * size**3 / seconds / 1e9


def model_flops_per_text(backbone, tokens, head_filters=128, kernel_sizes=(3, 4, 5)):
    """Forward FLOPs of BERT + TextCNN for one text of `tokens` tokens."""
    h, i, layers = backbone.hidden_dim, backbone.intermediate_dim, backbone.num_layers
    dense = 2 * tokens * (4 * h * h + 2 * h * i)  # QKV + output projections, feed-forward
    attention = 2 * 2 * tokens * tokens * h  # scores and weighted sum
    cnn = sum(2 * tokens * k * h * head_filters for k in kernel_sizes)
    return layers * (dense + attention) + cnn


def padded_tokens(examples, preprocessor, batch_size, sorted_batches):
    """Token positions actually computed: batches padded to their longest (rounded)."""
    import numpy as np

    from bertcnn_tf.inference import batch_width
    from bertcnn_tf.inference import tokenize_all

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
    from bertcnn_tf.c_api import SavedModelSession
    from bertcnn_tf.export import export_for_serving
    from bertcnn_tf.runs import Run

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


def training_batches(preprocessor, train_examples, targets, batch_size, steps):
    """`steps` batches taken once from the training pipeline (length-bucketed, trimmed)."""
    from bertcnn_tf.data import make_dataset

    data = make_dataset(train_examples, preprocessor, targets, batch_size, training=True)
    return list(data.take(steps))


def training_rates(tasks, batches, rounds=3):
    """examples/s of `train_on_batch` for each of `tasks` ({name: task}).

    Every task trains on the same `batches` (from `training_batches`), so all
    see the same shapes and tokens. One untimed pass per task traces the train step for each of
    those shapes. The timed passes then go batch by batch, every task training
    on the batch in turn (who goes first rotates from pass to pass), so that a
    slow spell of the shared machine lands on all of them within a second of
    each other; a task's time for a batch is its median over the `rounds`
    passes, which drops the steps a spike hit.
    """
    import contextlib
    import statistics

    import keras

    from bertcnn_tf.data import detached_preprocessor

    names = list(tasks)
    seconds = {name: [[] for _ in batches] for name in names}
    with contextlib.ExitStack() as stack:
        for task in tasks.values():
            task.compile(
                optimizer=keras.optimizers.AdamW(1e-5),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                metrics=[],
            )
            stack.enter_context(detached_preprocessor(task))
            for features, labels in batches:
                task.train_on_batch(features, labels)
        for round_index in range(rounds):
            shift = round_index % len(names)
            order = names[shift:] + names[:shift]
            for batch_index, (features, labels) in enumerate(batches):
                for name in order:
                    start = time.perf_counter()
                    tasks[name].train_on_batch(features, labels)
                    seconds[name][batch_index].append(time.perf_counter() - start)
    examples = sum(int(labels.shape[0]) for _, labels in batches)
    return {name: examples / sum(map(statistics.median, seconds[name])) for name in names}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    parser.add_argument("--texts", type=int, default=872)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=27, help="timed training steps (27 x 32 = sst2 dev)")
    parser.add_argument("--filters", type=int, default=None, help="the CNN head's filters per width (default: the classifier's)")
    args = parser.parse_args(argv)

    import keras_hub

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf import make_preprocessor
    from bertcnn_tf.backbones import offline_backbone_dir
    from bertcnn_tf.data import Examples
    from bertcnn_tf.data import LabelVocabulary
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
    padded = make_preprocessor(model.preprocessor.tokenizer, 128)
    fixed_model = BertCNNClassifier(model.backbone, 2, preprocessor=padded)
    fixed_model.set_weights(model.get_weights())
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
    labels = [["positive"] if i % 2 else ["negative"] for i in range(n)]
    train_examples = Examples(texts=examples.texts, labels=labels)
    targets = LabelVocabulary(["negative", "positive"]).encode(train_examples)
    hub_trainer = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone.from_preset(offline_backbone_dir()),
        num_classes=2,
        preprocessor=make_preprocessor(model.preprocessor.tokenizer, 128),
    )
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
    append_result(RESULTS, row)
    print(json.dumps(row, indent=2))
    update_results_section("speed", speed_markdown(row))
    refresh_readme()


def speed_markdown(row):
    r, q = row["results"], row["ratios"]
    # Rows written before the flag existed used 128, the default then.
    filters = r.get("filters", 128)
    flag = f" --filters {filters}" if "filters" in r else ""
    return f"""Command: `python benchmarks/speed.py --data-dir ../shared/data{flag}` ({row['time']};
{describe_machine(row['machine'])}). sst2 dev, {r['texts']} raw sentences, batch {r['batch_size']}, all-MiniLM-L6-v2,
one process, side by side. "bfloat16" is the float32 model served with `--precision bfloat16`.

| measure | value | against | ratio |
|---|---|---|---|
| inference, exported SavedModel via the C++ loader, float32 (requests in data order) | {r['ours_savedmodel_texts_per_s']:.0f} texts/s | pad every batch to 128 (Keras): {r['pad128_keras_texts_per_s']:.0f} texts/s | {q['savedmodel_vs_pad128']:.2f}x |
| inference, exported SavedModel, bfloat16 | {r['ours_savedmodel_bf16_texts_per_s']:.0f} texts/s | pad every batch to 128 | {q['savedmodel_bf16_vs_pad128']:.2f}x |
| the same export served by a C process with no Python (`native/serve_probe.c`, as TF Serving runs it), float32 | {r['ours_savedmodel_native_texts_per_s']:.0f} texts/s | pad every batch to 128 | {q['savedmodel_native_vs_pad128']:.2f}x |
| the same, bfloat16 | {r['ours_savedmodel_bf16_native_texts_per_s']:.0f} texts/s | pad every batch to 128 | {q['savedmodel_native_bf16_vs_pad128']:.2f}x |
| single-text latency, C process, float32 / bfloat16 | p50 {r['ours_savedmodel_native_latency_p50_ms']:.1f} / {r['ours_savedmodel_bf16_native_latency_p50_ms']:.1f} ms, p99 {r['ours_savedmodel_native_latency_p99_ms']:.1f} / {r['ours_savedmodel_bf16_native_latency_p99_ms']:.1f} ms | | |
| single-text latency, exported SavedModel, float32 | p50 {r['ours_savedmodel_latency_p50_ms']:.1f} ms, p99 {r['ours_savedmodel_latency_p99_ms']:.1f} ms | | |
| single-text latency, exported SavedModel, bfloat16 | p50 {r['ours_savedmodel_bf16_latency_p50_ms']:.1f} ms, p99 {r['ours_savedmodel_bf16_latency_p99_ms']:.1f} ms | | |
{xla_rows(r, q)}| inference, Keras model (sorted, trimmed), float32 | {r['ours_keras_texts_per_s']:.0f} texts/s | pad every batch to 128: {r['pad128_keras_texts_per_s']:.0f} texts/s | {q['ours_vs_pad128']:.2f}x |
| inference, Keras model, bfloat16 | {r['ours_keras_bf16_texts_per_s']:.0f} texts/s | pad every batch to 128 | {q['ours_bf16_vs_pad128']:.2f}x |
| inference, Keras model, float32 | {r['ours_keras_texts_per_s']:.0f} texts/s | keras-hub BertTextClassifier.predict (length {r['keras_hub_sequence_length']}): {r['keras_hub_texts_per_s']:.0f} texts/s | {q['ours_vs_keras_hub']:.2f}x |
| single-text latency, Keras model (`predict_probabilities`) | p50 {r['ours_keras_latency_p50_ms']:.1f} ms, p99 {r['ours_keras_latency_p99_ms']:.1f} ms | | |
| training, CNN head ({filters} filters per width) | {r['cnn_train_examples_per_s']:.1f} examples/s | keras-hub CLS classifier: {r['cls_train_examples_per_s']:.1f} examples/s | CNN time / CLS time {q['cnn_training_time_over_cls']:.3f} |
| model FLOP rate, float32 | {r['ours_model_gflops']:.0f} GFLOP/s | fp32 matmul {r['matmul_fp32_gflops']:.0f} GFLOP/s | {q['model_flops_over_fp32_matmul']:.2f} |
| model FLOP rate, bfloat16 | {r['ours_model_bf16_gflops']:.0f} GFLOP/s | bf16 matmul {r['matmul_bf16_gflops']:.0f} GFLOP/s | {q['model_bf16_flops_over_bf16_matmul']:.2f} |
"""


def xla_rows(r, q):
    """The rows of the XLA-compiled export (`--jit-compile`), for runs that measured it."""
    if "ours_savedmodel_xla_texts_per_s" not in r:
        return ""
    return f"""| inference, exported SavedModel compiled by XLA (`--jit-compile`), float32, C process | {r['ours_savedmodel_xla_native_texts_per_s']:.0f} texts/s | the float32 export, C process | {q['savedmodel_native_xla_vs_float32']:.2f}x |
| the same from Python | {r['ours_savedmodel_xla_texts_per_s']:.0f} texts/s | pad every batch to 128 | {q['savedmodel_xla_vs_pad128']:.2f}x |
| single-text latency, XLA export, C process / Python | p50 {r['ours_savedmodel_xla_native_latency_p50_ms']:.1f} / {r['ours_savedmodel_xla_latency_p50_ms']:.1f} ms, p99 {r['ours_savedmodel_xla_native_latency_p99_ms']:.1f} / {r['ours_savedmodel_xla_latency_p99_ms']:.1f} ms | | |
| first pass of a fresh C process (every shape new: XLA compiles it), XLA / float32 export | {r['ours_savedmodel_xla_native_cold_texts_per_s']:.0f} / {r['ours_savedmodel_native_cold_texts_per_s']:.0f} texts/s | | |
"""


if __name__ == "__main__":
    main()
