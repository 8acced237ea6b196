"""RESULTS.md's memory section: peak resident memory of training and of serving each export.

Built from `results/memory.jsonl` (written by `memory.py`) by `python -m benchmarks.report`:

    from benchmarks.memory_tables import memory_section
    from benchmarks.results import MEMORY, read_results
    print(memory_section(read_results(MEMORY)[-1]))
"""

from benchmarks.machine import describe_machine

# The exports `memory.py` measures: name -> (precision, jit_compile, label in the tables).
EXPORTS = {
    "float32": ("float32", False, "float32"),
    "bfloat16": ("bfloat16", False, "bfloat16"),
    "xla": ("float32", True, "float32 compiled by XLA"),
}


def memory_section(row):
    """The memory section from one `memory.py` run (the newest)."""
    r = row["results"]
    runtime = r["runtime"]["peak_rss_mb"]
    lines = [
        f"Command: `python -m benchmarks.memory --data-dir ../shared/data` ({row['time']}; "
        f"{describe_machine(row['machine'])}). Peak RSS of one child process each; "
        "all-MiniLM-L6-v2 with the CNN head.",
        "",
        "| process | peak RSS | above the bare runtime |",
        "|---|---|---|",
        f"| runtime only (Python, TensorFlow, TF-Text imported) | {runtime:.0f} MB | |",
    ]
    named = {
        "train": "training, `bertcnn_tf.train`, batch 32, sequence length 128 (sst2 dev, 1 epoch)",
        "serve_float32": "serving a float32 export through the C++ loader (requests of 32 and of 1)",
        "serve_bfloat16": "serving a bfloat16 export (`--precision bfloat16`)",
        "serve_xla": "serving a float32 export compiled by XLA (`--jit-compile`)",
    }
    for key, label in named.items():
        if key not in r:  # runs before the XLA export was measured
            continue
        peak = r[key]["peak_rss_mb"]
        lines.append(f"| {label} | {peak:.0f} MB | {peak - runtime:.0f} MB |")
    lines += [
        "",
        "A serving process without Python, as TF Serving is: `native/serve_probe.c` links the "
        "tensorflow wheel's C API, registers TF-Text's kernels and loads the export with the C++ "
        "loader (requests of 32 over sst2 dev). Resident memory in MB at each stage:",
        "",
        "| export | TF linked | + TF-Text kernels | export loaded | after serving | peak |",
        "|---|---|---|---|---|---|",
    ]
    for name, (_, _, label) in EXPORTS.items():
        n = r.get(f"serve_native_{name}")
        if n:
            lines.append(
                f"| {label} | {n['rss_start_mb']:.0f} | {n['rss_libraries_mb']:.0f} | "
                f"{n['rss_loaded_mb']:.0f} | {n['rss_end_mb']:.0f} | {n['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"
