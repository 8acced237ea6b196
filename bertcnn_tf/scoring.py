"""Scoring a file of any size on one machine: chunks in, JSON Lines out, resumable.

`predict_file` streams the input (CSV, TSV or JSON Lines, gzipped or not)
`chunk_rows` rows at a time through `bertcnn_tf.predict`, so memory stays the
same whatever the row count, and appends each chunk's predictions, in input
order, to `OUTPUT.partial`. After every chunk it records how far it got in
`OUTPUT.progress.json`; a killed run started again with `resume=True`
(`bertcnn predict ... --resume`) cuts the partial file back to the last
completed chunk and goes on from there. Only a finished run renames
`OUTPUT.partial` to `OUTPUT`, so the output is never half-written under its
final name.

Rows that cannot be scored (empty or whitespace-only text, bytes that are
not valid in the file's encoding) are never dropped silently: each is
written to the rejects file (`OUTPUT.rejects.jsonl` by default) with its
line number and the reason, and counted in the summary.
"""

import dataclasses
import gzip
import json
import os
import sys
import time

from bertcnn_tf.choices import PREDICT_CHUNK_ROWS
from bertcnn_tf.data.files import DataError
from bertcnn_tf.data.files import Examples
from bertcnn_tf.data.files import as_text
from bertcnn_tf.data.files import check_columns
from bertcnn_tf.data.files import read_records
from bertcnn_tf.data.files import undecodable_bytes
from bertcnn_tf.inference import predict
from bertcnn_tf.io_utils import atomic_write_text
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.training.runs import as_run

def predict_file(
    run,
    input_path,
    output_path,
    text_column="text",
    text_pair_column=None,
    id_column=None,
    encoding="utf-8",
    chunk_rows=PREDICT_CHUNK_ROWS,
    batch_size=32,
    resume=False,
    rejects_path=None,
    precision=None,
    abstain_below=None,
    progress=True,
    explain_top_k=None,
):
    """Scores every row of `input_path` into JSON Lines at `output_path`, a chunk at a time.

    Each output line holds the row's id (when `id_column` is named), its
    `line` in the input, `text` and what `bertcnn_tf.predict` gives:
    `label` (or `labels`) and `probabilities`. An output path ending in
    `.gz` is written gzipped, a gzip member per chunk.

    Args:
        run: A `Run` or a run folder.
        input_path, output_path: The file to score, and the JSON Lines file to
            write (None: print the lines, and each rejected row on stderr).
        text_column, text_pair_column, id_column: The input's columns.
        encoding: The input's text encoding.
        chunk_rows: Rows read, scored and written at a time.
        batch_size: Rows per model call.
        resume: Go on from the last completed chunk of an interrupted run
            with the same input and output.
        rejects_path: Where unscorable rows go (default `OUTPUT.rejects.jsonl`).
        precision, abstain_below, explain_top_k: As for `bertcnn_tf.predict`
            (`explain_top_k`: also the spans behind each label).
        progress: Print rows/s and an ETA to stderr while it runs.

    Returns:
        `{"rows", "scored", "rejected", "output", "rejects", "resumed_at"}`.

    Example:
    ```python
    import bertcnn_tf
    from bertcnn_tf.scoring import predict_file

    predict_file("runs/demo", "feedback-2026.csv.gz", "scores.jsonl", id_column="ticket")
    # {"rows": 1200000, "scored": 1199873, "rejected": 127, ...}
    ```
    """
    run = as_run(run)
    # Once for the whole file, not per chunk: a dtype change copies the model.
    if precision is not None:
        run = dataclasses.replace(run, model=with_compute_dtype(run.model, precision))
    if abstain_below is not None:
        run = run.with_settings(abstain_below=abstain_below)
    columns = Columns(text_column, text_pair_column, id_column)
    if output_path is None:
        return print_predictions(run, input_path, columns, encoding, chunk_rows, batch_size, explain_top_k)
    rejects_path = rejects_path or f"{output_path}.rejects.jsonl"
    files = [f"{output_path}.partial", f"{rejects_path}.partial"]
    state_path = f"{output_path}.progress.json"
    fingerprint = input_fingerprint(input_path)
    state = read_state(state_path, fingerprint) if resume else None
    if state is None:
        for path in files:
            open(path, "wb").close()
        state = {"input": fingerprint, "rows": 0, "scored": 0, "rejected": 0, "bytes": [0, 0]}
        atomic_write_text(state_path, json.dumps(state) + "\n")
    else:
        for path, size in zip(files, state["bytes"]):
            with open(path, "r+b") as f:
                f.truncate(size)  # drop what a killed run wrote after its last completed chunk
    resumed_at, start_line = state["rows"], 0
    rows = iter_rows(input_path, encoding, columns)
    for number, _ in zip(range(resumed_at), rows):  # the rows a killed run completed
        start_line = number
    meter = ProgressMeter(input_path, resumed_at, start_line, enabled=progress)
    while chunk := [row for _, row in zip(range(chunk_rows), rows)]:
        scored, rejected = score_chunk(run, chunk, columns, encoding, batch_size, explain_top_k)
        state["bytes"] = [append_lines(path, lines) for path, lines in zip(files, (scored, rejected))]
        state["rows"] += len(chunk)
        state["scored"] += len(scored)
        state["rejected"] += len(rejected)
        atomic_write_text(state_path, json.dumps(state) + "\n")
        meter.update(state["rows"], chunk[-1][0])
    meter.finish(state["rows"])
    os.replace(files[0], output_path)
    os.replace(files[1], rejects_path)
    os.remove(state_path)
    return {
        "rows": state["rows"], "scored": state["scored"], "rejected": state["rejected"],
        "output": output_path, "rejects": rejects_path, "resumed_at": resumed_at,
    }


@dataclasses.dataclass
class Columns:
    """The input's columns: the text, the optional second text, the optional id."""

    text: str
    text_pair: str = None
    id: str = None


def print_predictions(run, input_path, columns, encoding, chunk_rows, batch_size, explain_top_k=None):
    """`predict_file` to stdout: the output lines there, a line on stderr per rejected row."""
    counts = {"rows": 0, "scored": 0, "rejected": 0, "output": None, "rejects": None, "resumed_at": 0}
    rows = iter_rows(input_path, encoding, columns)
    while chunk := [row for _, row in zip(range(chunk_rows), rows)]:
        scored, rejected = score_chunk(run, chunk, columns, encoding, batch_size, explain_top_k)
        for line in scored:
            print(line)
        for line in rejected:
            print(f"rejected: {line}", file=sys.stderr)
        counts.update(rows=counts["rows"] + len(chunk), scored=counts["scored"] + len(scored),
                      rejected=counts["rejected"] + len(rejected))
    return counts


def iter_rows(path, encoding, columns, allow_empty=False):
    """`(line number, record)` of every data row, the columns checked on the first.

    A file without data rows raises `DataError`, unless `allow_empty` (one
    shard of many may be empty: `bertcnn_tf.serving.beam`).
    """
    checked = False
    for number, record in read_records(path, encoding):
        if not checked:
            check_columns(path, record, [columns.text, columns.text_pair, columns.id])
            checked = True
        yield number, record
    if not checked and not allow_empty:
        raise DataError(f"{path}: the file has no data rows.")


def score_chunk(run, chunk, columns, encoding, batch_size, explain_top_k=None):
    """(output lines, reject lines) of one chunk of `(line number, record)`, in input order."""
    keep, rejected = [], []
    for number, record in chunk:
        reason = reject_reason(record, columns, encoding)
        if reason:
            rejected.append(json.dumps(reject_record(identity(record, columns.id, number), reason), ensure_ascii=False))
        else:
            keep.append((number, record))
    if not keep:
        return [], rejected
    texts = [as_text(record.get(columns.text)) for _, record in keep]
    pairs = [as_text(record.get(columns.text_pair)) for _, record in keep] if columns.text_pair else None
    predictions = predict(run, Examples.unlabelled(texts, pairs), batch_size=batch_size, explain_top_k=explain_top_k)
    lines = [
        json.dumps(output_record(identity(record, columns.id, number), text, prediction), ensure_ascii=False)
        for (number, record), text, prediction in zip(keep, texts, predictions)
    ]
    return lines, rejected


def reject_reason(record, columns, encoding):
    """Why a row cannot be scored, or None."""
    found = undecodable_bytes(record, encoding)
    if found:
        return f"bytes {found!r} are not valid {encoding}"
    for column in filter(None, (columns.text, columns.text_pair)):
        if not as_text(record.get(column)).strip():
            return f"empty or whitespace-only {column!r}"
    return None


def identity(record, id_column, number):
    """The fields that say which input row a line is about."""
    fields = {"line": number}
    if id_column:
        fields["id"] = as_text(record.get(id_column)).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return fields


def output_record(fields, text, prediction):
    """An output line's fields: the row's `identity`, its text, and every field of its prediction.

    The prediction's fields pass through as the model gives them (`label` or
    `labels`, `probabilities`, and any others), so that a new model output
    reaches the file without a change here.
    """
    return {**fields, "text": text, **prediction}


def reject_record(fields, reason):
    """A rejects-file line's fields: the row's `identity` and why it was not scored."""
    return {**fields, "reason": reason}


def append_lines(path, lines):
    """Appends lines (as one gzip member for a `.gz` output) durably; returns the file's new size."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if path.endswith(".gz.partial") and data:
        data = gzip.compress(data)
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def input_fingerprint(path):
    """What identifies the input across runs: its path, size and modification time."""
    status = os.stat(path)
    return {"path": os.path.abspath(path), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


def read_state(state_path, fingerprint):
    """The recorded progress of an interrupted run on the same input, or None to start over."""
    if not os.path.exists(state_path):
        return None
    with open(state_path, encoding="utf-8") as f:
        state = json.load(f)
    if state["input"] != fingerprint:
        raise DataError(
            f"{state_path} records a run on another version of the input ({state['input']['path']}, "
            f"{state['input']['size']} bytes); the input changed since. Start again without --resume."
        )
    return state


class ProgressMeter:
    """Rows scored, rows/s and an ETA on one stderr line.

    The ETA reads the share of the input's lines done: a row's line number
    against the file's line count, counted once at the start (a fast pass
    over the bytes, gunzipped where the input is).
    """

    def __init__(self, path, start_rows, start_line, enabled=True, every_seconds=1.0):
        self.enabled = enabled
        self.lines = count_lines(path) if enabled else 0
        self.start_rows, self.start_line = start_rows, start_line
        self.started = self.shown = time.time()
        self.every_seconds = every_seconds

    def update(self, rows, line):
        now = time.time()
        if not self.enabled or now - self.shown < self.every_seconds:
            return
        self.shown = now
        elapsed = now - self.started
        text = f"{rows:,} rows, {(rows - self.start_rows) / max(elapsed, 1e-9):,.0f} rows/s"
        if self.lines:
            text += f", {min(1.0, line / self.lines):.0%}"
            if line > self.start_line:
                left = max(0, self.lines - line) / (line - self.start_line)
                text += f", ETA {format_seconds(elapsed * left)}"
        print(f"\r{text}   ", end="", file=sys.stderr, flush=True)

    def finish(self, rows):
        if self.enabled:
            print(f"\r{rows:,} rows in {format_seconds(time.time() - self.started)}   ", file=sys.stderr, flush=True)


def count_lines(path):
    """The number of lines of a file (gunzipped if it ends in `.gz`), read a megabyte at a time."""
    opener = gzip.open if path.endswith(".gz") else open
    lines = 0
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            lines += block.count(b"\n")
    return lines


def format_seconds(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
