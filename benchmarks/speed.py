"""Speed on real text, side by side in one process, reported as ratios.

Raw sst2 dev sentences in; the offline all-MiniLM-L6-v2 backbone. Compares
(all at batch 32 unless said otherwise):

- this package's inference (sorted by length, each batch trimmed to its longest
  text) through the Keras model, against padding every batch to 128 (the seed
  article's setting) and keras-hub's `BertTextClassifier.predict`;
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
from benchmarks.common import machine_info  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    parser.add_argument("--texts", type=int, default=872)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args(argv)

    import keras
    import keras_hub
    import numpy as np

    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf import make_preprocessor
    from bertcnn_tf.backbones import offline_backbone_dir
    from bertcnn_tf.data import Examples
    from bertcnn_tf.data import LabelVocabulary
    from bertcnn_tf.data import detached_preprocessor
    from bertcnn_tf.data import make_dataset
    from bertcnn_tf.c_api import SavedModelSession
    from bertcnn_tf.export import export_for_serving
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.runs import Run

    examples = read_sst2_dev(args.data_dir, args.texts)
    n, bs = len(examples), args.batch_size
    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    results = {"texts": n, "batch_size": bs}

    # --- inference, texts/s ---
    ours = timed(lambda: predict_probabilities(model, examples, batch_size=bs))
    results["ours_keras_texts_per_s"] = n / ours

    # The exported SavedModel, run by TensorFlow's C++ loader as TF Serving runs it.
    export_base = tempfile.mkdtemp(prefix="speed-export-")
    version_dir = export_for_serving(Run(model, ["negative", "positive"], {}), os.path.join(export_base, "sst2"), check=False)
    session = SavedModelSession(version_dir)
    batches = [np.array(examples.texts[i : i + bs], dtype=object) for i in range(0, n, bs)]
    serving = timed(lambda: [session.run("serving_default", {"text": b}) for b in batches])
    results["ours_savedmodel_texts_per_s"] = n / serving
    latencies = []
    for text in examples.texts[: args.latency_texts]:
        start = time.perf_counter()
        session.run("serving_default", {"text": np.array([text], dtype=object)})
        latencies.append(time.perf_counter() - start)
    results["ours_savedmodel_latency_p50_ms"] = 1000 * float(np.percentile(latencies[5:], 50))
    results["ours_savedmodel_latency_p99_ms"] = 1000 * float(np.percentile(latencies[5:], 99))
    session.close()
    shutil.rmtree(export_base, ignore_errors=True)

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
    latencies = []
    for text in examples.texts[: args.latency_texts]:
        single = Examples(texts=[text], labels=[[]])
        start = time.perf_counter()
        predict_probabilities(model, single, batch_size=1)
        latencies.append(time.perf_counter() - start)
    results["ours_keras_latency_p50_ms"] = 1000 * float(np.percentile(latencies[5:], 50))
    results["ours_keras_latency_p99_ms"] = 1000 * float(np.percentile(latencies[5:], 99))

    # --- training examples/s: CNN head vs keras-hub's CLS classifier ---
    labels = [["positive"] if i % 2 else ["negative"] for i in range(n)]
    train_examples = Examples(texts=examples.texts, labels=labels)
    targets = LabelVocabulary(["negative", "positive"]).encode(train_examples)

    def training_rate(task):
        task.compile(
            optimizer=keras.optimizers.AdamW(1e-5),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
            metrics=[],
        )
        data = make_dataset(train_examples, task.preprocessor, targets, bs, training=True)
        with detached_preprocessor(task):
            task.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # trace
            seconds = timed(lambda: task.fit(data, steps_per_epoch=args.train_steps, epochs=1, verbose=0), repeats=1)
        return args.train_steps * bs / seconds

    hub_trainer = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone.from_preset(offline_backbone_dir()),
        num_classes=2,
        preprocessor=make_preprocessor(model.preprocessor.tokenizer, 128),
    )
    cnn_trainer = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    results["cls_train_examples_per_s"] = training_rate(hub_trainer)
    results["cnn_train_examples_per_s"] = training_rate(cnn_trainer)

    # --- the machine's limit ---
    results["matmul_fp32_gflops"] = matmul_rate("float32")
    results["matmul_bf16_gflops"] = matmul_rate("bfloat16")
    tokens = padded_tokens(examples, model.preprocessor, bs, sorted_batches=True)
    mean_length = tokens / n
    flops = n * model_flops_per_text(model.backbone, mean_length)
    results["ours_model_gflops"] = flops / ours / 1e9

    ratios = {
        "savedmodel_vs_pad128": results["ours_savedmodel_texts_per_s"] / results["pad128_keras_texts_per_s"],
        "ours_vs_pad128": results["ours_keras_texts_per_s"] / results["pad128_keras_texts_per_s"],
        "ours_vs_keras_hub": results["ours_keras_texts_per_s"] / results["keras_hub_texts_per_s"],
        "cnn_training_time_over_cls": results["cls_train_examples_per_s"] / results["cnn_train_examples_per_s"],
        "model_flops_over_fp32_matmul": results["ours_model_gflops"] / results["matmul_fp32_gflops"],
    }
    row = {"results": results, "ratios": ratios, "machine": machine_info(), "time": time.strftime("%Y-%m-%d %H:%M")}
    append_result(RESULTS, row)
    print(json.dumps(row, indent=2))
    update_results_section("speed", speed_markdown(row))


def speed_markdown(row):
    r, q = row["results"], row["ratios"]
    m = row["machine"]
    return f"""Command: `python benchmarks/speed.py --data-dir ../shared/data` ({row['time']};
{m['cores']} cores, {m['cpu']}, flags {', '.join(m['flags'])}; TF {m['tensorflow']}, Keras {m['keras']},
keras-hub {m['keras_hub']}). sst2 dev, {r['texts']} raw sentences, batch {r['batch_size']}, all-MiniLM-L6-v2.

| measure | value | against | ratio |
|---|---|---|---|
| inference, exported SavedModel via the C++ loader (each batch padded to its longest) | {r['ours_savedmodel_texts_per_s']:.0f} texts/s | pad every batch to 128 (Keras): {r['pad128_keras_texts_per_s']:.0f} texts/s | {q['savedmodel_vs_pad128']:.2f}x |
| single-text latency, exported SavedModel | p50 {r['ours_savedmodel_latency_p50_ms']:.1f} ms, p99 {r['ours_savedmodel_latency_p99_ms']:.1f} ms | | |
| inference, Keras model (sorted, trimmed) | {r['ours_keras_texts_per_s']:.0f} texts/s | pad every batch to 128: {r['pad128_keras_texts_per_s']:.0f} texts/s | {q['ours_vs_pad128']:.2f}x |
| inference, Keras model | {r['ours_keras_texts_per_s']:.0f} texts/s | keras-hub BertTextClassifier.predict (length {r['keras_hub_sequence_length']}): {r['keras_hub_texts_per_s']:.0f} texts/s | {q['ours_vs_keras_hub']:.2f}x |
| single-text latency, Keras model | p50 {r['ours_keras_latency_p50_ms']:.1f} ms, p99 {r['ours_keras_latency_p99_ms']:.1f} ms | | |
| training, CNN head | {r['cnn_train_examples_per_s']:.1f} examples/s | keras-hub CLS classifier: {r['cls_train_examples_per_s']:.1f} examples/s | CNN time / CLS time {q['cnn_training_time_over_cls']:.3f} |
| model FLOP rate (inference) | {r['ours_model_gflops']:.0f} GFLOP/s | fp32 matmul {r['matmul_fp32_gflops']:.0f}, bf16 matmul {r['matmul_bf16_gflops']:.0f} GFLOP/s | {q['model_flops_over_fp32_matmul']:.2f} of fp32 |
"""


if __name__ == "__main__":
    main()
