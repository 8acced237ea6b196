"""Scoring files on many machines: `bertcnn predict --input` as an Apache Beam pipeline.

The same job as `bertcnn_tf.scoring.predict_file`, spread by a Beam runner
(Dataflow, Flink, Spark, or the DirectRunner on one machine):

```
MatchFiles(--input glob) ─► Reshuffle (files spread over workers)
  ─► ReadRows: each file read by `bertcnn_tf.data.files.read_records` (CSV, TSV, JSON Lines,
     gzipped or not; the same line numbers, gzip and bad-byte handling as one machine)
       ├─► rejects (empty text, undecodable bytes): {"line", "id", "reason"} ─► OUTPUT.rejects-*.jsonl
       └─► RunInference(SavedModelHandler | RunModelHandler), a chunk of rows at a time
             ─► {"line", "id", "text", "label", "probabilities", ...} ─► OUTPUT-*.jsonl (or .parquet)
```

The records are those of the one-machine path, field for field; an input
given as a glob adds `"file"` (line numbers alone would be ambiguous).
Shards come out in no particular order: sort by `file` and `line` where the
order matters. A model output beyond the label and probabilities (what a
later export adds) passes through into the record as it is.

Two models can score:
- `SavedModelHandler`: an export of `bertcnn export` (raw text in: the
  tokenizer is in the graph). Workers need only this package's
  dependencies; the export's precision and abstain threshold are fixed.
- `RunModelHandler`: the run folder's Keras model, through
  `bertcnn_tf.predict`, with `precision` and `abstain_below` as there.

A model or input on a remote file system (`gs://`, `s3://`: whatever Beam's
installed extras register) is copied to the worker's local disk first, once
per worker process for a model and once per file for an input.

Example (the DirectRunner, on this machine; docs/beam.md has the flags for
Dataflow, Flink and Spark):
```
python -m bertcnn_tf.serving.beam --saved-model saved_models/feedback/1 \\
    --input 'feedback-*.csv.gz' --output scores/feedback --id-column ticket \\
    -- --runner DirectRunner
```
```python
from bertcnn_tf.serving.beam import score_files

score_files("feedback-*.csv.gz", "scores/feedback", saved_model="saved_models/feedback/1",
            id_column="ticket", pipeline_args=["--runner", "DirectRunner"])
# {"rows": 1200000, "scored": 1199873, "rejected": 127, "outputs": ["scores/feedback-00000-of-00001.jsonl"], ...}
```
"""

import argparse
import contextlib
import functools
import importlib
import json
import os
import shutil
import sys
import tempfile

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from bertcnn_tf.choices import INFERENCE_DTYPES
from bertcnn_tf.choices import PREDICT_CHUNK_ROWS
from bertcnn_tf.data.files import DataError
from bertcnn_tf.data.files import as_text
from bertcnn_tf.scoring import Columns
from bertcnn_tf.scoring import identity
from bertcnn_tf.scoring import iter_rows
from bertcnn_tf.scoring import output_record
from bertcnn_tf.scoring import reject_reason
from bertcnn_tf.scoring import reject_record
from bertcnn_tf.serving.contract import LABELS_ASSET
from bertcnn_tf.serving.contract import MODEL_CARD
from bertcnn_tf.serving.contract import PAIR_INPUT
from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import TEXT_INPUT
from bertcnn_tf.serving.contract import output_specs
from bertcnn_tf.training.runs import LABELS_FILE
from bertcnn_tf.training.runs import SETTINGS_FILE

# Beam metrics (counters) of a scoring pipeline live under this namespace.
NAMESPACE = "bertcnn_tf"
OUTPUT_FORMATS = ("jsonl", "jsonl.gz", "parquet")
# Rows per RunInference batch: sorted by length and scored together, as
# `predict_file` does with a chunk (`bertcnn predict --chunk-rows`).
CHUNK_ROWS = PREDICT_CHUNK_ROWS
# The serving graph's decision outputs; any other output passes through.
DECISION_OUTPUTS = frozenset(output_specs(1, False)) | frozenset(output_specs(1, True))


class SavedModelHandler(ModelHandler):
    """A Beam `ModelHandler` over an export's `serving_default` signature (raw text in).

    Each RunInference batch of rows (`chunk_rows` of them) is sorted by
    length and sent `batch_size` texts at a time, as `bertcnn_tf.predict`
    batches; the answers become the records `bertcnn_tf.predict` gives
    (`bertcnn_tf.postprocessing.records`).

    Args:
        saved_model: A version directory written by `bertcnn export`
            (`saved_models/NAME/1`), local or on a remote file system.
        batch_size: Texts per signature call.
        chunk_rows: Rows per RunInference batch.

    Example:
    ```python
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    with beam.Pipeline() as pipeline:
        (pipeline | beam.Create([({"line": 1}, "charged twice", None)])
         | RunInference(SavedModelHandler("saved_models/feedback/1")) | beam.Map(print))
    ```
    """

    def __init__(self, saved_model, batch_size=32, chunk_rows=CHUNK_ROWS):
        super().__init__(min_batch_size=chunk_rows, max_batch_size=chunk_rows)
        self.saved_model = saved_model
        self.batch_size = batch_size

    def load_model(self):
        return SavedModelScorer(local_path(self.saved_model))

    def run_inference(self, batch, model, inference_args=None):
        return [PredictionResult(row, record) for row, record in zip(batch, model(batch, self.batch_size))]

    def get_num_bytes(self, batch):
        return sum(len(text) + len(pair or "") for _, text, pair in batch)

    def get_metrics_namespace(self):
        return NAMESPACE


class SavedModelScorer:
    """A loaded export: rows in, `bertcnn_tf.predict`'s records out."""

    def __init__(self, directory):
        import tensorflow as tf

        importlib.import_module("tensorflow_text")  # registers the tf-text ops of the graph's tokenizer

        self.tf = tf
        self.loaded = tf.saved_model.load(directory)  # the signature needs it alive
        self.signature = self.loaded.signatures[SERVING_SIGNATURE]
        self.labels = read_lines(directory, LABELS_ASSET)
        self.pairs = PAIR_INPUT in self.signature.structured_input_signature[1]

    def __call__(self, rows, batch_size):
        from bertcnn_tf import postprocessing

        order = sorted(range(len(rows)), key=lambda i: len(rows[i][1]) + len(rows[i][2] or ""))
        records = [None] * len(rows)
        for start in range(0, len(order), batch_size):
            part = order[start : start + batch_size]
            inputs = {TEXT_INPUT: self.tf.constant([rows[i][1] for i in part])}
            if self.pairs:
                inputs[PAIR_INPUT] = self.tf.constant([rows[i][2] or "" for i in part])
            outputs = self.signature(**inputs)
            multi_label = "labels" in outputs
            decisions = {name: outputs[name] for name in ("probabilities", "labels" if multi_label else "label")}
            extras = {name: value.numpy() for name, value in outputs.items() if name not in DECISION_OUTPUTS}
            for j, (i, record) in enumerate(zip(part, postprocessing.records(decisions, self.labels, multi_label))):
                for name, values in extras.items():
                    record.setdefault(name, jsonable(values[j]))
                records[i] = record
        return records


class RunModelHandler(ModelHandler):
    """A Beam `ModelHandler` over a run folder's Keras model, through `bertcnn_tf.predict`.

    Args:
        run_dir: A run folder written by `bertcnn train`, local or remote.
        batch_size, precision, abstain_below: As for `bertcnn_tf.predict`.
        chunk_rows: Rows per RunInference batch (one `predict` call).

    Example:
    ```python
    RunInference(RunModelHandler("runs/feedback", precision="bfloat16"))
    ```
    """

    def __init__(self, run_dir, batch_size=32, precision=None, abstain_below=None, chunk_rows=CHUNK_ROWS):
        super().__init__(min_batch_size=chunk_rows, max_batch_size=chunk_rows)
        self.run_dir = run_dir
        self.batch_size = batch_size
        self.precision = precision
        self.abstain_below = abstain_below

    def load_model(self):
        import dataclasses

        from bertcnn_tf.precision import with_compute_dtype
        from bertcnn_tf.training.runs import load_run

        run = load_run(local_path(self.run_dir))
        if self.precision is not None:  # once, not per batch: a dtype change copies the model
            run = dataclasses.replace(run, model=with_compute_dtype(run.model, self.precision))
        if self.abstain_below is not None:
            run = run.with_settings(abstain_below=self.abstain_below)
        return run

    def run_inference(self, batch, model, inference_args=None):
        from bertcnn_tf.inference import predict

        texts = [text for _, text, _ in batch]
        pairs = [pair for _, _, pair in batch] if model.text_pair_column else None
        records = predict(model, texts, text_pairs=pairs, batch_size=self.batch_size)
        return [PredictionResult(row, record) for row, record in zip(batch, records)]

    def get_num_bytes(self, batch):
        return sum(len(text) + len(pair or "") for _, text, pair in batch)

    def get_metrics_namespace(self):
        return NAMESPACE


class ReadRows(beam.DoFn):
    """A matched file → `(fields, text, pair)` rows to score, and reject records (tagged `rejects`)."""

    REJECTS = "rejects"

    def __init__(self, columns, encoding="utf-8", with_file=False):
        self.columns = columns
        self.encoding = encoding
        self.with_file = with_file
        self.rows = Metrics.counter(NAMESPACE, "rows")
        self.rejected = Metrics.counter(NAMESPACE, "rejected")
        self.empty_files = Metrics.counter(NAMESPACE, "empty_files")

    def process(self, metadata):
        path = metadata.path
        file_fields = {"file": path} if self.with_file else {}
        columns, encoding = self.columns, self.encoding
        with local_file(path) as local:
            count = 0
            try:
                for number, record in iter_rows(local, encoding, columns, allow_empty=True):
                    count += 1
                    fields = {**file_fields, **identity(record, columns.id, number)}
                    reason = reject_reason(record, columns, encoding)
                    if reason:
                        self.rejected.inc()
                        yield beam.pvalue.TaggedOutput(self.REJECTS, reject_record(fields, reason))
                    else:
                        pair = as_text(record.get(columns.text_pair)) if columns.text_pair else None
                        yield fields, as_text(record.get(columns.text)), pair
            except DataError as error:  # name the input, not a worker's local copy of it
                raise DataError(str(error).replace(local, path)) from None
            self.rows.inc(count)
            if not count:
                self.empty_files.inc()


def to_record(result):
    """A RunInference result → the output record (`bertcnn_tf.scoring.output_record`)."""
    fields, text, _ = result.example
    return output_record(fields, text, result.inference)


def build_pipeline(
    pipeline,
    input_pattern,
    output_prefix,
    handler,
    text_column="text",
    text_pair_column=None,
    id_column=None,
    encoding="utf-8",
    output_format="jsonl",
    num_shards=0,
    rejects_prefix=None,
    reshuffle_rows=False,
    labels=None,
    multi_label=False,
):
    """Adds the scoring transforms to `pipeline`; returns `{"outputs", "rejects"}`, the written shards' names.

    Args:
        pipeline: A `beam.Pipeline`.
        input_pattern: A file or glob (`data/part-*.csv.gz`, `gs://bucket/in/*.jsonl`).
        output_prefix: Shards are written as `PREFIX-00000-of-00004.jsonl`.
        handler: A `SavedModelHandler` or `RunModelHandler`.
        text_column, text_pair_column, id_column, encoding: As for `predict_file`.
        output_format: "jsonl", "jsonl.gz" or "parquet".
        num_shards: Output shards; 0 lets the runner choose (one per bundle).
            A fixed number groups every record by shard first, which the
            DirectRunner holds in memory.
        rejects_prefix: Where rejected rows go (default `OUTPUT.rejects`),
            always as JSON Lines.
        reshuffle_rows: Spread the rows of each file over all workers before
            scoring. A file is read by one worker; without this its rows are
            scored there too (runners fuse the steps), so turn it on when the
            input is one or a few large files on a cluster. It shuffles every
            row, which the DirectRunner holds in memory.
        labels, multi_label: The model's labels, for the Parquet schema.

    Example:
    ```python
    with beam.Pipeline(argv=["--runner", "DirectRunner"]) as pipeline:
        build_pipeline(pipeline, "in-*.csv", "out/scores", SavedModelHandler("saved_models/feedback/1"))
    ```
    """
    if output_format not in OUTPUT_FORMATS:
        raise DataError(f"unknown output format {output_format!r}: choose one of {', '.join(OUTPUT_FORMATS)}.")
    if output_format == "parquet" and labels is None:
        raise DataError("a Parquet output needs the model's labels for its schema: pass labels=[...].")
    columns = Columns(text_column, text_pair_column, id_column)
    rows = (
        pipeline
        | "Match" >> fileio.MatchFiles(input_pattern)
        # One element per file: without the shuffle the whole read would be fused
        # into the single task that matched the glob.
        | "SpreadFiles" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadRows(columns, encoding, with_file=is_glob(input_pattern))).with_outputs(
            ReadRows.REJECTS, main="rows"
        )
    )
    scorable = rows.rows | "SpreadRows" >> beam.Reshuffle() if reshuffle_rows else rows.rows
    scored = Metrics.counter(NAMESPACE, "scored")

    def counted(record):
        scored.inc()
        return record

    records = scorable | "Score" >> RunInference(handler) | "Record" >> beam.Map(to_record) | "Count" >> beam.Map(counted)
    if output_format == "parquet":
        schema = parquet_schema(labels, multi_label, with_file=is_glob(input_pattern), with_id=bool(id_column))
        outputs = (
            records
            | "ParquetRow" >> beam.Map(parquet_row, [field.name for field in schema])
            | "Write" >> beam.io.WriteToParquet(
                output_prefix, schema, file_name_suffix=".parquet", num_shards=num_shards
            )
        )
    else:
        outputs = records | "Json" >> beam.Map(json_line) | "Write" >> beam.io.WriteToText(
            output_prefix, file_name_suffix=f".{output_format}", num_shards=num_shards
        )
    rejects = rows[ReadRows.REJECTS] | "RejectJson" >> beam.Map(json_line) | "WriteRejects" >> beam.io.WriteToText(
        rejects_prefix or f"{output_prefix}.rejects", file_name_suffix=".jsonl"
    )
    return {"outputs": outputs, "rejects": rejects}


def score_files(
    input_pattern,
    output_prefix,
    run_dir=None,
    saved_model=None,
    text_column=None,
    text_pair_column=None,
    id_column=None,
    encoding="utf-8",
    batch_size=32,
    chunk_rows=CHUNK_ROWS,
    precision=None,
    abstain_below=None,
    output_format="jsonl",
    num_shards=0,
    rejects_prefix=None,
    reshuffle_rows=False,
    pipeline_args=None,
):
    """Builds and runs the scoring pipeline; waits for it and returns what it counted.

    Scores with the export at `saved_model` when given, else with the Keras
    model of `run_dir`. Columns not given come from the run's settings
    (`run_dir`), else `text_column="text"`.

    Args:
        input_pattern, output_prefix: A file or glob to read; the prefix of the output shards.
        run_dir, saved_model: The model: a run folder, and/or an export's version directory.
        text_column, text_pair_column, id_column, encoding: As for `predict_file`.
        batch_size: Texts per model call.
        chunk_rows: Rows per RunInference batch, sorted by length together.
        precision, abstain_below: For the run's Keras model only (an export
            has them fixed: `bertcnn export --precision / --abstain-below`).
        output_format, num_shards, rejects_prefix, reshuffle_rows: As for `build_pipeline`.
        pipeline_args: Beam pipeline options, e.g. `["--runner", "DataflowRunner", ...]`.

    Returns:
        `{"rows", "scored", "rejected", "empty_files", "outputs", "rejects"}`:
        counts (None where the runner reports no metrics) and the written
        shards' names.

    Example:
    ```python
    score_files("in-*.csv", "out/scores", run_dir="runs/feedback", id_column="ticket")
    ```
    """
    if not (run_dir or saved_model):
        raise DataError("Name the model: a run folder (--model RUN) or an export (--saved-model DIR).")
    if saved_model and (precision is not None or abstain_below is not None):
        raise DataError(
            "An export's precision and abstain threshold are fixed when it is written: export with "
            "`bertcnn export --precision ... --abstain-below ...`, or score with the run's Keras model "
            "(leave out --saved-model)."
        )
    described = describe_model(run_dir, saved_model)
    text_column = text_column or described["text_column"] or "text"
    text_pair_column = text_pair_column or described["text_pair_column"]
    if described["text_pair"] and not text_pair_column:
        raise DataError("This model reads sentence pairs: name the second text's column with --text-pair-column.")
    check_input(input_pattern, Columns(text_column, text_pair_column, id_column), encoding)
    if saved_model:
        handler = SavedModelHandler(saved_model, batch_size=batch_size, chunk_rows=chunk_rows)
    else:
        handler = RunModelHandler(
            run_dir, batch_size=batch_size, precision=precision, abstain_below=abstain_below, chunk_rows=chunk_rows
        )
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args or [])))
    build_pipeline(
        pipeline, input_pattern, output_prefix, handler, text_column=text_column,
        text_pair_column=text_pair_column, id_column=id_column, encoding=encoding, output_format=output_format,
        num_shards=num_shards, rejects_prefix=rejects_prefix, reshuffle_rows=reshuffle_rows,
        labels=described["labels"], multi_label=described["multi_label"],
    )
    result = pipeline.run()
    result.wait_until_finish()
    summary = counters(result)
    rejects_prefix = rejects_prefix or f"{output_prefix}.rejects"
    suffix = ".parquet" if output_format == "parquet" else f".{output_format}"
    summary["outputs"] = matched(f"{output_prefix}-*-of-*{suffix}")
    summary["rejects"] = matched(f"{rejects_prefix}-*-of-*.jsonl")
    return summary


def counters(result):
    """`{"rows", "scored", "rejected", "empty_files"}` from a finished pipeline's metrics (None: not reported)."""
    values = dict.fromkeys(("rows", "scored", "rejected", "empty_files"))
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except (NotImplementedError, AttributeError):  # a runner without metrics
        return values
    for counter in found:
        name = counter.key.metric.name
        if name in values:
            value = counter.committed if counter.committed is not None else counter.attempted
            values[name] = (values[name] or 0) + value
    if values["rows"] is not None:
        values = {name: value or 0 for name, value in values.items()}
    return values


def describe_model(run_dir=None, saved_model=None):
    """What the launcher needs to know of the model, read without loading it.

    `{"labels", "multi_label", "text_pair", "text_column", "text_pair_column"}`:
    from the export's labels and model card when `saved_model` is given,
    else from the run folder's labels and settings; the columns come from
    the run's settings when a run folder is given.
    """
    settings = {}
    run_folder = "a run folder (bertcnn train --output)"
    export = "an export's version directory (saved_models/NAME/1)"
    if run_dir:
        settings = json.loads(read_bytes(run_dir, SETTINGS_FILE, run_folder).decode("utf-8"))
    if saved_model:
        card = json.loads(read_bytes(saved_model, MODEL_CARD, export).decode("utf-8"))
        labels = read_lines(saved_model, LABELS_ASSET, export)
        multi_label, text_pair = bool(card.get("multi_label")), bool(card.get("text_pair"))
    else:
        labels = read_lines(run_dir, LABELS_FILE, run_folder)
        multi_label, text_pair = bool(settings.get("multi_label")), bool(settings.get("text_pair_column"))
    return {
        "labels": labels, "multi_label": multi_label, "text_pair": text_pair,
        "text_column": settings.get("text_column"), "text_pair_column": settings.get("text_pair_column"),
    }


def check_input(input_pattern, columns, encoding):
    """Fails early, with the fix, where no file matches or a local file's first row lacks a column."""
    paths = matched(input_pattern)
    if not paths:
        raise DataError(f"No file matches {input_pattern!r}. Check the path (quote a glob so that the shell leaves it).")
    if is_local(paths[0]):
        for _ in zip(range(1), iter_rows(paths[0], encoding, columns, allow_empty=True)):
            pass  # the first row's columns are checked by iter_rows


def matched(pattern):
    """The paths `pattern` matches, sorted; none when nothing matches."""
    try:
        return sorted(metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # Beam raises BeamIOError where a pattern matches nothing
        return []


def is_glob(pattern):
    return any(character in pattern for character in "*?[")


def is_local(path):
    return FileSystems.get_scheme(path) in (None, "file")


@contextlib.contextmanager
def local_file(path):
    """A local path holding the file at `path`: itself, or a temporary copy of a remote file.

    The copy keeps the file's name (its extension says its format and
    compression) and its bytes as they are (a `.gz` stays gzipped).
    """
    if is_local(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="bertcnn-beam-")
    try:
        local = os.path.join(folder, path.rstrip("/").rsplit("/", 1)[-1])
        copy_file(path, local)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def local_path(path):
    """A local directory holding the model folder at `path`: itself, or a copy made once per process."""
    if is_local(path):
        return path
    return copy_tree(path, tempfile.mkdtemp(prefix="bertcnn-model-"))


def copy_tree(source, target):
    """Copies every file under `source` (any file system Beam knows) into the local folder `target`."""
    prefix = source.rstrip("/") + "/"
    found = FileSystems.match([prefix + "**"])[0].metadata_list
    if not found:
        raise DataError(f"{source} holds no files: name a run folder or an export's version directory.")
    for metadata in found:
        relative = metadata.path[len(prefix):]
        if relative and not relative.endswith("/"):
            copy_file(metadata.path, os.path.join(target, *relative.split("/")))
    return target


def copy_file(source, target):
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as reader, open(target, "wb") as f:
        shutil.copyfileobj(reader, f, 1 << 20)


def read_bytes(folder, name, what):
    """The bytes of the file `name` in the model folder `folder` (any file system Beam knows)."""
    path = os.path.join(folder, name)
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except Exception as error:  # Beam raises its own errors for a missing file
        raise DataError(f"{path} could not be read ({type(error).__name__}): is {folder!r} {what}?") from None


def read_lines(folder, name, what="a model folder"):
    return [line for line in read_bytes(folder, name, what).decode("utf-8").split("\n") if line]


def json_line(record):
    return json.dumps(record, ensure_ascii=False)


def jsonable(value):
    """A model output's value for one row, as JSON: numbers and lists as they are, bytes as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def parquet_schema(labels, multi_label, with_file=False, with_id=False):
    """The Parquet columns of a record; fields beyond them go, as JSON, into `extra`."""
    import pyarrow

    fields = [("file", pyarrow.string())] if with_file else []
    fields.append(("line", pyarrow.int64()))
    if with_id:
        fields.append(("id", pyarrow.string()))
    fields.append(("text", pyarrow.string()))
    fields.append(("labels", pyarrow.list_(pyarrow.string())) if multi_label else ("label", pyarrow.string()))
    fields.append(("probabilities", pyarrow.struct([(label, pyarrow.float64()) for label in labels])))
    fields.append(("extra", pyarrow.string()))
    return pyarrow.schema(fields)


def parquet_row(record, names):
    row = {name: record.get(name) for name in names if name != "extra"}
    extra = {name: value for name, value in record.items() if name not in row}
    row["extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    return row


def build_parser(prog="python -m bertcnn_tf.serving.beam"):
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n")[0],
        epilog="Beam pipeline options (--runner, --project, ...) follow, after `--`: see docs/beam.md.",
    )
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--saved-model", help="an export's version directory (bertcnn export), local or gs://")
    model.add_argument("--model", help="a run folder (bertcnn train): its Keras model scores")
    parser.add_argument("--input", required=True, help="a file or a quoted glob: .csv, .tsv, .jsonl, gzipped or not")
    parser.add_argument("--output", required=True, help="prefix of the output shards (PREFIX-00000-of-00004.jsonl)")
    parser.add_argument("--text-column")
    parser.add_argument("--text-pair-column")
    parser.add_argument("--id-column", help="an input column to copy into each record as `id`")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per model call")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per RunInference batch")
    parser.add_argument("--precision", choices=INFERENCE_DTYPES, help="with --model: compute in this dtype")
    parser.add_argument("--abstain-below", type=float, help="with --model: the unknown label below this top probability")
    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="jsonl")
    parser.add_argument("--num-shards", type=int, default=0, help="output shards (0: the runner chooses)")
    parser.add_argument("--rejects", help="prefix of the rejects shards (default OUTPUT.rejects)")
    parser.add_argument("--reshuffle-rows", action="store_true", help="spread each file's rows over all workers")
    return parser


def main(argv=None):
    """`python -m bertcnn_tf.serving.beam ... -- [Beam pipeline options]`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    try:
        summary = score_files(
            args.input, args.output, run_dir=args.model, saved_model=args.saved_model,
            text_column=args.text_column, text_pair_column=args.text_pair_column, id_column=args.id_column,
            encoding=args.encoding, batch_size=args.batch_size, chunk_rows=args.chunk_rows,
            precision=args.precision, abstain_below=args.abstain_below, output_format=args.output_format,
            num_shards=args.num_shards, rejects_prefix=args.rejects, reshuffle_rows=args.reshuffle_rows,
            pipeline_args=argv[split + 1:],
        )
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary_text(summary))
    return 0


def summary_text(summary):
    """What a finished run says: counts, and where the output and the rejects went."""
    outputs = ", ".join(summary["outputs"]) or "(none)"
    if summary["rows"] is None:
        return f"wrote {outputs} (this runner reports no counts)"
    text = f"wrote {summary['scored']:,} predictions of {summary['rows']:,} rows to {outputs}"
    if summary["rejected"]:
        text += f"\nrejected {summary['rejected']:,} rows (empty text or bad bytes), with their lines: {', '.join(summary['rejects'])}"
    if summary["empty_files"]:
        text += f"\n{summary['empty_files']:,} input files had no data rows"
    return text


if __name__ == "__main__":
    sys.exit(main())
