"""Peak memory (RSS) of training at batch 32 and of serving an export.

Each measurement runs in its own child process, which reports its own peak
resident set size (VmHWM), so one cannot inflate another. The runtime
alone (Python + TensorFlow + TF-Text imported, nothing loaded) is measured
the same way, to show what the model itself adds. Not a test; never run in CI.

    python -m benchmarks.memory --data-dir ../shared/data

Records a row in `results/memory.jsonl`; `python -m benchmarks.report` rebuilds the tables.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_sst2_dev
from benchmarks.machine import machine_info
from benchmarks.memory_tables import EXPORTS
from benchmarks.results import MEMORY
from benchmarks.results import record_run


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
    """`bertcnn_tf.train` on sst2 dev (872 sentences), batch 32, one epoch."""
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import train

    examples = read_sst2_dev(args.data_dir)
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

    from bertcnn_tf.serving.c_api import SavedModelSession

    texts = read_sst2_dev(args.data_dir).texts
    with SavedModelSession(args.export) as session:
        for start in range(0, len(texts), 32):
            session.run("serving_default", {"text": np.array(texts[start : start + 32], dtype=object)})
        for text in texts[:100]:
            session.run("serving_default", {"text": np.array([text], dtype=object)})
    return {"texts": len(texts)}


CHILDREN = {"runtime": child_runtime, "train": child_train, "serve": child_serve}


def measure(kind, data_dir, export=None):
    """Runs one child; returns its report (peak RSS in MB and what it did)."""
    command = [sys.executable, "-m", "benchmarks.memory", "--child", kind, "--data-dir", os.path.abspath(data_dir)]
    if export:
        command += ["--export", os.path.abspath(export)]
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `-m benchmarks.memory` resolves
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=repository)
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_native(data_dir, export_dir):
    """Peak RSS of a C process (no Python) serving sst2 dev in requests of 32."""
    from benchmarks.native_serving import run_probe

    texts = read_sst2_dev(data_dir).texts
    report = run_probe(export_dir, texts, batch=32)
    keys = ("peak_rss_mb", "rss_start_mb", "rss_libraries_mb", "rss_loaded_mb", "rss_end_mb")
    return {key: report[key] for key in keys} | {"texts": len(texts)}


def export_offline_model(base, name):
    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf.serving.export import export_for_serving
    from bertcnn_tf.training.runs import Run

    precision, jit_compile, _ = EXPORTS[name]
    model = BertCNNClassifier.from_preset("offline", num_classes=2, sequence_length=128)
    run = Run(model, ["negative", "positive"], {})
    return export_for_serving(run, os.path.join(base, name), check=False, precision=precision, jit_compile=jit_compile)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
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
    record_run(MEMORY, row)


if __name__ == "__main__":
    main()
