"""The results files under benchmarks/results/: where each benchmark records, and how they are read.

Measurement scripts append to these files and nothing else; `python -m benchmarks.report`
reads them back and rebuilds RESULTS.md, the plots and the README's results table. Every
function takes the folder, so the report can be rebuilt from another one (the tests use a
temporary folder):

    from benchmarks.results import SPEED, read_results
    newest = read_results(SPEED)[-1]

A benchmark whose every run adds a row keeps JSON lines (`append_result`, `read_results`);
one that keeps a single document rewrites it whole (`write_document`, `read_document`).
"""

import json
import os

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# JSON lines, a row per run.
ACCURACY = "accuracy.jsonl"
SPEED = "speed.jsonl"
HEAD_COST = "head_cost.jsonl"
MEMORY = "memory.jsonl"
UNCERTAINTY = "uncertainty.jsonl"  # open-intent detection and calibration runs
SCORING = "scoring.jsonl"  # files scored by `bertcnn predict --input`
FAITHFULNESS = "faithfulness.jsonl"  # explain's spans against baselines (ERASER), explain against predict
LONG_DOCUMENTS = "long_documents.jsonl"  # imdb: truncation, head+tail and windows; the windows' speed targets
# One JSON document each: the newest scaling run; the linear probe per dataset.
SCALING = "scaling.json"
LINEAR_PROBE = "linear_probe.json"


def results_path(name, results_dir=RESULTS_DIR):
    return os.path.join(results_dir, name)


def append_result(name, row, results_dir=RESULTS_DIR):
    """Appends one JSON line to the results file `name`; returns its path.

    Synced line by line: a run killed later loses at most its own line.
    """
    path = results_path(name, results_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def record_run(name, row, results_dir=RESULTS_DIR):
    """Appends `row` to the results file `name` (`append_result`), then prints it and where it went."""
    path = append_result(name, row, results_dir)
    print(json.dumps(row, indent=2))
    print(recorded(path))


def read_results(name, results_dir=RESULTS_DIR):
    """The rows of the JSON-lines file `name`, oldest first; [] where none was recorded."""
    path = results_path(name, results_dir)
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return rows


def read_document(name, results_dir=RESULTS_DIR):
    """The JSON document `name`, or None where none was recorded."""
    path = results_path(name, results_dir)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_document(name, document, results_dir=RESULTS_DIR, indent=2):
    """Replaces the JSON document `name` whole; returns its path."""
    path = results_path(name, results_dir)
    write_whole(path, (json.dumps(document, indent=indent) + "\n").encode("utf-8"))
    return path


def write_whole(path, data):
    """Writes `data` (bytes) beside `path`, then renames it over `path`: a reader, or a run cut
    short, never sees half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def recorded(path):
    """The line a measurement script ends with: where it recorded, and what rebuilds the reports."""
    return f"recorded in {os.path.relpath(path)}; run `python -m benchmarks.report` to rebuild RESULTS.md, the plots and the README's results"
