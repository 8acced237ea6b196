"""Peak memory (RSS) of training at batch 32 and of serving an export.

Each measurement runs in its own child process, which reports its own peak
resident set size (VmHWM), so one cannot inflate another. The runtime
alone (Python + TensorFlow + TF-Text imported, nothing loaded) is measured
the same way, to show what the model itself adds. Not a test; never run in CI.

    python benchmarks/memory.py --data-dir ../shared/data
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import append_result  # noqa: E402
from benchmarks.common import describe_machine  # noqa: E402
from benchmarks.common import machine_info  # noqa: E402
from benchmarks.common import update_results_section  # noqa: E402
from benchmarks.targets import refresh_targets  # noqa: E402

RESULTS = os.path.join(HERE, "results", "memory.jsonl")


def peak_rss_mb():
    """Peak resident set of this process image (VmHWM), in MB.

    Not getrusage's ru_maxrss: Linux carries that over from the parent across
    fork and exec, so a child started by a large parent reports the parent's size.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # KiB
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")


def child_runtime(_args):
    import tensorflow  # noqa: F401
    import tensorflow_text  # noqa: F401

    return {}


def child_train(args):
    """`bertcnn_tf.training.train` on sst2 dev (872 sentences), batch 32, one epoch."""
    from bertcnn_tf.data import read_examples
    from bertcnn_tf.training import TrainingConfig
    from bertcnn_tf.training import train

    examples = read_examples(os.path.join(args.data_dir, "sst2", "dev.csv"))
    config = TrainingConfig(epochs=1, batch_size=32, sequence_length=128, verbose=0)
    run_dir = tempfile.mkdtemp(prefix="memory-train-")
    try:
        train(examples, run_dir, config)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"examples": len(examples)}


def child_serve(args):
    """An export loaded by the C++ loader, answering sst2 dev in requests of 32 and of 1."""
    import numpy as np

    from bertcnn_tf.c_api import SavedModelSession
    from bertcnn_tf.data import read_examples

    texts = read_examples(os.path.join(args.data_dir, "sst2", "dev.csv")).texts
    with SavedModelSession(args.export) as session:
        for start in range(0, len(texts), 32):
            session.run("serving_default", {"text": np.array(texts[start : start + 32], dtype=object)})
        for text in texts[:100]:
            session.run("serving_default", {"text": np.array([text], dtype=object)})
    return {"texts": len(texts)}


CHILDREN = {"runtime": child_runtime, "train": child_train, "serve": child_serve}


def measure(kind, data_dir, export=None):
    """Runs one child; returns its report (peak RSS in MB and what it did)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", kind, "--data-dir", data_dir]
    if export:
        command += ["--export", export]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_native(data_dir, export_dir):
    """Peak RSS of a C process (no Python) serving sst2 dev in requests of 32."""
    from benchmarks.native_serving import run_probe
    from bertcnn_tf.data import read_examples

    texts = read_examples(os.path.join(data_dir, "sst2", "dev.csv")).texts
    report = run_probe(export_dir, texts, batch=32)
    keys = ("peak_rss_mb", "rss_start_mb", "rss_libraries_mb", "rss_loaded_mb", "rss_end_mb")
    return {key: report[key] for key in keys} | {"texts": len(texts)}


# The exports measured: name -> (precision, jit_compile, label in the tables).
EXPORTS = {
    "float32": ("float32", False, "float32"),
    "bfloat16": ("bfloat16", False, "bfloat16"),
    "xla": ("float32", True, "float32 compiled by XLA"),
}


def export_offline_model(base, name):
    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf.export import export_for_serving
    from bertcnn_tf.runs import Run

    precision, jit_compile, _ = EXPORTS[name]
    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    run = Run(model, ["negative", "positive"], {})
    return export_for_serving(run, os.path.join(base, name), check=False, precision=precision, jit_compile=jit_compile)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, "..", "..", "shared", "data"))
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        report = CHILDREN[args.child](args)
        report["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(report))
        return

    results = {"runtime": measure("runtime", args.data_dir), "train": measure("train", args.data_dir)}
    base = tempfile.mkdtemp(prefix="memory-export-")
    try:
        for name in EXPORTS:
            export_dir = export_offline_model(base, name)
            results[f"serve_{name}"] = measure("serve", args.data_dir, export_dir)
            results[f"serve_native_{name}"] = measure_native(args.data_dir, export_dir)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    row = {"results": results, "machine": machine_info(), "time": time.strftime("%Y-%m-%d %H:%M")}
    append_result(RESULTS, row)
    print(json.dumps(row, indent=2))
    update_results_section("memory", memory_markdown(row))
    refresh_targets()


def memory_markdown(row):
    r = row["results"]
    runtime = r["runtime"]["peak_rss_mb"]
    lines = [
        f"Command: `python benchmarks/memory.py --data-dir ../shared/data` ({row['time']}; "
        f"{describe_machine(row['machine'])}). Peak RSS of one child process each; "
        "all-MiniLM-L6-v2 with the CNN head.",
        "",
        "| process | peak RSS | above the bare runtime |",
        "|---|---|---|",
        f"| runtime only (Python, TensorFlow, TF-Text imported) | {runtime:.0f} MB | |",
    ]
    named = {
        "train": "training, `bertcnn_tf.training.train`, batch 32, sequence length 128 (sst2 dev, 1 epoch)",
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


if __name__ == "__main__":
    main()
