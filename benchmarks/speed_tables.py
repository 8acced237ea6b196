"""RESULTS.md's speed sections: inference and training rates (`speed.py`), the CNN head's
training cost (`head_cost.py`) and texts/s against length and batch size (`scaling.py`).

Built from their results files by `python -m benchmarks.report`:

    from benchmarks.results import SPEED, read_results
    from benchmarks.speed_tables import speed_section
    print(speed_section(read_results(SPEED)[-1]))
"""

from benchmarks.machine import describe_machine

HEAD_LABELS = {"cls": "keras-hub `BertTextClassifier` (CLS)", "mean": "masked mean head"}


def speed_section(row):
    """The speed section from one `speed.py` run (the newest)."""
    r, q = row["results"], row["ratios"]
    # Rows written before the flag existed used 128, the default then.
    filters = r.get("filters", 128)
    flag = f" --filters {filters}" if "filters" in r else ""
    return f"""Command: `python -m benchmarks.speed --data-dir ../shared/data{flag}` ({row['time']};
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


def head_cost_section(rows):
    """The section for RESULTS.md: one table per run, newest first, each with its command."""
    runs = []
    for row in reversed(rows):
        widths = ",".join(name.split("_")[1] for name in row["head_flop_share"])
        lines = [
            f"`python -m benchmarks.head_cost --data-dir ../shared/data --filters {widths}` "
            f"({row['time']}; {describe_machine(row['machine'])}): {row['texts']} sst2 dev "
            f"sentences in batches of {row['batch_size']}; each batch trained by every model in turn, its median time over {row['rounds']} passes.",
            "",
            "| model | examples/s | training time over CLS | head's share of forward FLOPs |",
            "|---|---|---|---|",
        ]
        for name, rate in row["examples_per_s"].items():
            share = row["head_flop_share"].get(name)
            label = HEAD_LABELS.get(name) or f"CNN head, {name.split('_')[1]} filters per width"
            shown = "–" if share is None else f"{100 * share:.1f}%"
            lines.append(f"| {label} | {rate:.1f} | {row['time_over_cls'][name]:.3f} | {shown} |")
        runs.append("\n".join(lines))
    return "\n\n".join(runs) + "\n"


def scaling_section(row):
    """The scaling section from the `scaling.py` run (its document)."""
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
    return f"""Command: `python -m benchmarks.scaling --data-dir ../shared/data` ({row['time']}).
Texts/s through the Keras model; {row['texts']} texts per point. Plot: `plots/speed_scaling.png`.

Against length (texts of exactly that many tokens, batch 32):

{header}
{by_length}

Against batch size (sst2 dev sentences, raw text in):

{header}
{by_batch}
"""
