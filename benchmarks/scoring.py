"""Scoring files on one machine and with Beam: rows/s and peak memory against the row count, and resuming.

`bertcnn predict --input FILE --output FILE` runs in a child process per measurement, on sst2 dev
sentences repeated to each row count, with all-MiniLM-L6-v2 and a CNN head (its weights do not
change the cost). Per engine (`--engines local,beam`):

- local: the run folder's Keras model, in chunks (`bertcnn_tf.scoring`). Then a run over the
  smallest file is killed (SIGKILL) once half of its rows are written, and started again with
  `--resume`: the row records how long that took against an uninterrupted run, and that the output
  is the same.
- beam: `--engine beam --saved-model EXPORT -- --runner DirectRunner --direct_num_workers 1`, the
  run exported first (`bertcnn_tf.serving.beam`). Beam has no resume to time: a runner retries a
  failed bundle, and a killed DirectRunner job starts over (docs/beam.md).

Peak memory is the child's own peak RSS (VmHWM) and the peak of its whole process tree, sampled
twice a second (a runner may start worker processes). Not a test; never run in CI.

    python -m benchmarks.scoring --data-dir ../shared/data --rows 10000,200000 --engines local,beam

Records a row per engine in `results/scoring.jsonl`; `python -m benchmarks.report` rebuilds the table.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_sst2_dev
from benchmarks.machine import machine_info
from benchmarks.results import SCORING
from benchmarks.results import record_run

CHILD = """
import json, sys, time
from bertcnn_tf.cli import main
from benchmarks.memory import peak_rss_mb
started = time.time()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.time() - started, "peak_rss_mb": peak_rss_mb()}))
"""


def write_input(path, sentences, rows):
    """A CSV of `rows` rows: an id and the sentences, repeated in order."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        for i in range(rows):
            writer.writerow([i, sentences[i % len(sentences)]])


def predict_args(run_dir, input_path, output_path, *extra):
    return ["predict", "--model", run_dir, "--input", input_path, "--output", output_path, "--id-column", "id", *extra]


def run_child(args):
    """Runs `bertcnn` with `args` in a child; returns its exit code, seconds and peak RSS (its own and its tree's)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=out, stderr=err, cwd=os.getcwd())
        tree_peak = 0.0
        while child.poll() is None:
            tree_peak = max(tree_peak, tree_rss_mb(child.pid))
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"bertcnn {' '.join(args)} failed:\n{err.read()[-2000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result["tree_peak_rss_mb"] = max(tree_peak, result["peak_rss_mb"])
    return result


def tree_rss_mb(pid):
    """The resident memory of process `pid` and all its descendants now, in MB (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def kill_at_half(args, output_path, rows):
    """Starts `bertcnn` with `args`, SIGKILLs it once half the rows are done; returns the rows done then."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = f"{output_path}.progress.json"
    try:
        while child.poll() is None:
            if os.path.exists(progress):
                with open(progress, encoding="utf-8") as f:
                    done = json.load(f)["rows"]
                if done >= rows // 2:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    return done
            time.sleep(0.2)
    finally:
        if child.poll() is None:
            child.kill()
    raise RuntimeError("the run finished before it could be killed half way; give it more rows")


def save_untrained_run(run_dir):
    """A run folder of the offline backbone with a fresh two-label CNN head."""
    import bertcnn_tf

    classifier = bertcnn_tf.BertCNNClassifier.from_preset("offline", num_classes=2)
    bertcnn_tf.Run(classifier, ["negative", "positive"], {"head": "cnn", "backbone": "offline"}).save(run_dir)


def export_run(run_dir, export_base):
    """The run's SavedModel (what the Beam engine scores with); returns its version directory."""
    from bertcnn_tf.serving.export import export_for_serving

    return export_for_serving(run_dir, export_base, check=False)


def beam_args(export_dir):
    """The Beam engine's flags: the export, and the DirectRunner in this process."""
    return ["--engine", "beam", "--saved-model", export_dir, "--", "--runner", "DirectRunner", "--direct_num_workers", "1"]


def measure_beam(run_dir, scratch, sentences, sizes, chunk_rows):
    """Beam's results: rows/s and peak RSS at each row count."""
    export_dir = export_run(run_dir, os.path.join(scratch, "export"))
    results = {}
    for rows in sizes:
        input_path, prefix = os.path.join(scratch, f"in-{rows}.csv"), os.path.join(scratch, f"beam-{rows}", "scores")
        if not os.path.exists(input_path):
            write_input(input_path, sentences, rows)
        child = run_child(predict_args(run_dir, input_path, prefix, "--chunk-rows", str(chunk_rows), *beam_args(export_dir)))
        results[str(rows)] = {**child, "rows_per_s": rows / child["seconds"], "written": count_lines(prefix + "-*")}
        print(f"beam, {rows:,} rows: {results[str(rows)]}")
    return results


def count_lines(pattern):
    import glob

    total = 0
    for path in glob.glob(pattern):
        with open(path, "rb") as f:
            total += sum(1 for _ in f)
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--rows", default="10000,200000", help="the row counts to score")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--engines", default="local", help="comma-separated: local, beam")
    args = parser.parse_args(argv)
    sizes = [int(rows) for rows in args.rows.split(",")]
    engines = args.engines.split(",")
    unknown = set(engines) - {"local", "beam"}
    if unknown:
        parser.error(f"unknown engines {', '.join(sorted(unknown))}: choose from local, beam")
    sentences = read_sst2_dev(args.data_dir).texts
    command = "python -m benchmarks.scoring " + " ".join(argv if argv is not None else sys.argv[1:])
    scratch = tempfile.mkdtemp(prefix="scoring-")
    try:
        run_dir = os.path.join(scratch, "run")
        save_untrained_run(run_dir)
        if "local" in engines:
            record_run(SCORING, {
                "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "engine": "local",
                "chunk_rows": args.chunk_rows, "command": command,
                "results": measure_local(run_dir, scratch, sentences, sizes, args.chunk_rows),
            })
        if "beam" in engines:
            import apache_beam

            record_run(SCORING, {
                "time": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(), "engine": "beam",
                "runner": "DirectRunner (--direct_num_workers 1), SavedModel", "beam": apache_beam.__version__,
                "chunk_rows": args.chunk_rows, "command": command,
                "results": measure_beam(run_dir, scratch, sentences, sizes, args.chunk_rows),
            })
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_local(run_dir, scratch, sentences, sizes, chunk_rows):
    """The local engine's results: rows/s and peak RSS at each row count, and a resume after a kill."""
    results = {}
    for rows in sizes:
        input_path, output_path = os.path.join(scratch, f"in-{rows}.csv"), os.path.join(scratch, f"out-{rows}.jsonl")
        write_input(input_path, sentences, rows)
        child = run_child(predict_args(run_dir, input_path, output_path, "--chunk-rows", str(chunk_rows)))
        results[str(rows)] = {**child, "rows_per_s": rows / child["seconds"]}
        print(f"{rows:,} rows: {results[str(rows)]}")
    rows = sizes[0]
    input_path = os.path.join(scratch, f"in-{rows}.csv")
    reference, resumed = os.path.join(scratch, f"out-{rows}.jsonl"), os.path.join(scratch, "resumed.jsonl")
    killed_after = kill_at_half(predict_args(run_dir, input_path, resumed, "--chunk-rows", "1000"), resumed, rows)
    child = run_child(predict_args(run_dir, input_path, resumed, "--chunk-rows", "1000", "--resume"))
    with open(reference, encoding="utf-8") as a, open(resumed, encoding="utf-8") as b:
        same = [json.loads(line)["id"] for line in a] == [json.loads(line)["id"] for line in b]
    results["resume"] = {
        "rows": rows, "killed_after_rows": killed_after, "chunk_rows": 1000, "seconds": child["seconds"],
        "uninterrupted_seconds": results[str(rows)]["seconds"], "same_rows_in_order": same,
    }
    print(f"resume: {results['resume']}")
    return results


if __name__ == "__main__":
    main()
