"""The Beam pipeline on the local runner: the same records as the one-machine path, from both models."""

import glob
import gzip
import json
import os
import shutil

import pytest
from serving_helpers import exported_once
from serving_helpers import make_run
from serving_helpers import save_run

from bertcnn_tf.cli import main
from bertcnn_tf.data.files import DataError
from bertcnn_tf.scoring import predict_file
from bertcnn_tf.serving.export import export_for_serving

beam = pytest.importorskip("apache_beam")  # the `beam` extra; `make setup` installs it

from apache_beam.ml.inference.base import PredictionResult  # noqa: E402

from bertcnn_tf.serving import beam as scoring_beam  # noqa: E402

# The FnApiRunner is what the DirectRunner runs a batch pipeline on; named
# here so that the DirectRunner's first try, Prism, does not fetch its binary.
LOCAL_RUNNER = ["--runner", "FnApiRunner"]
WORDS = "the movie was great fun late delivery refund the price awful plot loved it not very boring".split()
BAD_ROWS = {7: "", 31: "   ", 150: b"caf\xe9 refund"}


def texts(count, seed=0):
    return [" ".join(WORDS[(i * 7 + seed) % 11 : (i * 7 + seed) % 11 + 1 + (i + seed) % 6]) for i in range(count)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny run folder and its export, whose threshold makes some rows abstain ("unknown")."""
    return exported_once(tmp_path_factory, "beam-models", lambda: make_run().with_settings(abstain_below=0.5), check=False)


def write_csv(path, rows, gzipped=False):
    """A CSV of `(id, text)` rows; a bytes text is written as it is (bad bytes)."""
    data = b"ticket,text\n" + b"".join(
        f"{key},".encode() + (text if isinstance(text, bytes) else text.encode()) + b"\n" for key, text in rows
    )
    with (gzip.open if gzipped else open)(path, "wb") as f:
        f.write(data)
    return str(path)


def rows_with_bad(count, seed=0):
    rows = [(f"t{seed}-{i}", text) for i, text in enumerate(texts(count, seed))]
    for i, text in BAD_ROWS.items():
        if i < count:
            rows[i] = (rows[i][0], text)
    return rows


def read_shards(pattern):
    paths = sorted(glob.glob(pattern))
    assert paths, pattern
    records = []
    for path in paths:
        with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return sorted(records, key=lambda record: (record.get("file", ""), record["line"]))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def assert_same_records(got, expected):
    """Same rows, keys and labels; probabilities to 1e-5 (another batching moves the 7th digit)."""
    assert [record["line"] for record in got] == [record["line"] for record in expected]
    for a, b in zip(got, expected):
        assert list(a) == list(b)
        assert {k: v for k, v in a.items() if k != "probabilities"} == {k: v for k, v in b.items() if k != "probabilities"}
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def test_the_export_in_beam_gives_the_records_and_rejects_of_predict_file(models, tmp_path):
    run_dir, export = models
    data = write_csv(tmp_path / "in.csv", rows_with_bad(300))
    expected_summary = predict_file(run_dir, data, str(tmp_path / "local.jsonl"), id_column="ticket", progress=False)
    summary = scoring_beam.score_files(
        data, str(tmp_path / "beam" / "scores"), saved_model=export, id_column="ticket", chunk_rows=64,
        pipeline_args=LOCAL_RUNNER,
    )
    assert {k: summary[k] for k in ("rows", "scored", "rejected")} == {
        k: expected_summary[k] for k in ("rows", "scored", "rejected")
    } == {"rows": 300, "scored": 297, "rejected": 3}
    expected = read_jsonl(tmp_path / "local.jsonl")
    assert_same_records(read_shards(str(tmp_path / "beam" / "scores-*-of-*.jsonl")), expected)
    assert {record["label"] for record in expected} >= {"unknown"}  # the abstaining rows pass through too
    rejects = read_shards(str(tmp_path / "beam" / "scores.rejects-*-of-*.jsonl"))
    assert rejects == read_jsonl(tmp_path / "local.jsonl.rejects.jsonl")
    assert [(row["line"], row["id"]) for row in rejects] == [(9, "t0-7"), (33, "t0-31"), (152, "t0-150")]


def test_the_run_folder_in_beam_reads_a_sharded_glob_of_csv_gzip_and_json_lines(models, tmp_path):
    run_dir, _ = models
    folder = tmp_path / "in"
    folder.mkdir()
    write_csv(folder / "part-0.csv", rows_with_bad(120, seed=0))
    write_csv(folder / "part-1.csv.gz", rows_with_bad(60, seed=1), gzipped=True)
    with open(folder / "part-2.jsonl", "w", encoding="utf-8") as f:
        for key, text in [(f"j{i}", text) for i, text in enumerate(texts(40, seed=2))]:
            f.write(json.dumps({"ticket": key, "text": text}) + "\n")
    summary = scoring_beam.score_files(
        str(folder / "part-*"), str(tmp_path / "out" / "scores"), run_dir=run_dir, id_column="ticket",
        chunk_rows=50, output_format="jsonl.gz", pipeline_args=LOCAL_RUNNER,
    )
    assert (summary["rows"], summary["rejected"]) == (220, 4)
    got = read_shards(str(tmp_path / "out" / "scores-*-of-*.jsonl.gz"))
    expected = []
    for name in ("part-0.csv", "part-1.csv.gz", "part-2.jsonl"):
        path = str(folder / name)
        predict_file(run_dir, path, str(tmp_path / f"{name}.out.jsonl"), id_column="ticket", progress=False)
        expected += [{"file": path, **record} for record in read_jsonl(tmp_path / f"{name}.out.jsonl")]
    assert_same_records(got, sorted(expected, key=lambda record: (record["file"], record["line"])))
    rejects = read_shards(str(tmp_path / "out" / "scores.rejects-*-of-*.jsonl"))
    assert [(os.path.basename(row["file"]), row["line"]) for row in rejects] == [
        ("part-0.csv", 9), ("part-0.csv", 33), ("part-1.csv.gz", 9), ("part-1.csv.gz", 33),
    ]


def test_parquet_output_holds_the_same_labels_with_a_column_per_label(models, tmp_path):
    import pyarrow.parquet

    run_dir, export = models
    data = write_csv(tmp_path / "in.csv", rows_with_bad(40))
    predict_file(run_dir, data, str(tmp_path / "local.jsonl"), id_column="ticket", progress=False)
    scoring_beam.score_files(
        data, str(tmp_path / "scores"), saved_model=export, id_column="ticket", output_format="parquet",
        pipeline_args=LOCAL_RUNNER,
    )
    table = pyarrow.concat_tables([pyarrow.parquet.read_table(p) for p in glob.glob(str(tmp_path / "scores-*.parquet"))])
    rows = sorted(table.to_pylist(), key=lambda row: row["line"])
    expected = read_jsonl(tmp_path / "local.jsonl")
    assert table.column_names == ["line", "id", "text", "label", "probabilities", "extra"]
    assert [(row["line"], row["label"]) for row in rows] == [(row["line"], row["label"]) for row in expected]
    assert rows[0]["probabilities"] == pytest.approx(expected[0]["probabilities"], abs=1e-5)


def test_cli_engine_beam_scores_with_the_export_and_refuses_what_beam_cannot_do(models, tmp_path, capsys):
    run_dir, export = models
    data = write_csv(tmp_path / "in.csv", rows_with_bad(40))
    prefix = str(tmp_path / "scores")
    code = main(["predict", "--model", run_dir, "--input", data, "--output", prefix, "--id-column", "ticket",
                 "--engine", "beam", "--saved-model", export, "--", *LOCAL_RUNNER])
    out = capsys.readouterr().out
    assert code == 0 and "wrote 38 predictions of 40 rows" in out and "rejected 2 rows" in out
    assert len(read_shards(prefix + "-*-of-*.jsonl")) == 38
    refusals = {
        "--resume": ["--resume"],
        "Beam pipeline options": ["--", "late delivery"],
        "precision and abstain threshold are fixed": ["--saved-model", export, "--precision", "bfloat16"],
    }
    for message, extra in refusals.items():
        args = ["predict", "--model", run_dir, "--input", data, "--output", prefix, "--engine", "beam", *extra]
        assert main(args) == 2
        assert message in capsys.readouterr().err
    assert main(["predict", "--model", run_dir, "--input", data, "--saved-model", export]) == 2
    assert "--saved-model and --output-format are for --engine beam" in capsys.readouterr().err


def test_bad_input_fails_before_the_pipeline_starts_with_the_fix(models, tmp_path):
    _, export = models
    with pytest.raises(DataError, match="No file matches"):
        scoring_beam.score_files(str(tmp_path / "none-*.csv"), str(tmp_path / "out"), saved_model=export)
    data = write_csv(tmp_path / "in.csv", rows_with_bad(5))
    with pytest.raises(DataError, match="no column 'body'"):
        scoring_beam.score_files(data, str(tmp_path / "out"), saved_model=export, text_column="body")
    with pytest.raises(DataError, match="is 'nowhere' an export's version directory"):
        scoring_beam.score_files(data, str(tmp_path / "out"), saved_model="nowhere")


def test_a_model_folder_is_copied_whole_from_another_file_system(models, tmp_path):
    run_dir, _ = models
    copy = scoring_beam.copy_tree(run_dir, str(tmp_path / "copy"))
    names = sorted(os.path.relpath(os.path.join(d, f), run_dir) for d, _, fs in os.walk(run_dir) for f in fs)
    assert sorted(os.path.relpath(os.path.join(d, f), copy) for d, _, fs in os.walk(copy) for f in fs) == names
    shutil.rmtree(copy)


def test_a_multi_label_sentence_pair_export_gives_the_records_of_predict_file(tmp_path):
    run_dir = save_run(make_run(multi_label=True, text_pair=True), tmp_path / "run")
    export = export_for_serving(run_dir, tmp_path / "export", check=False)
    data = tmp_path / "pairs.csv"
    with open(data, "w", encoding="utf-8") as f:
        f.write("ticket,text,text_b\n")
        for i, (text, pair) in enumerate(zip(texts(30), texts(30, seed=3))):
            f.write(f"p{i},{text},{pair}\n")
    predict_file(run_dir, str(data), str(tmp_path / "local.jsonl"), id_column="ticket", text_pair_column="text_b",
                 progress=False)
    scoring_beam.score_files(
        str(data), str(tmp_path / "scores"), run_dir=run_dir, saved_model=export, id_column="ticket",
        pipeline_args=LOCAL_RUNNER,
    )  # the run folder names the pair column; the export scores
    expected = read_jsonl(tmp_path / "local.jsonl")
    assert "labels" in expected[0] and any(record["labels"] for record in expected)
    assert_same_records(read_shards(str(tmp_path / "scores-*-of-*.jsonl")), expected)
    with pytest.raises(DataError, match="reads sentence pairs: name the second text's column"):
        scoring_beam.score_files(str(data), str(tmp_path / "again"), saved_model=export)


def test_model_outputs_beyond_the_decisions_pass_into_the_records():
    import tensorflow as tf

    def signature(text):
        rows = int(tf.shape(text)[0])
        return {
            "probabilities": tf.constant([[0.25, 0.75]] * rows), "label_id": tf.constant([1] * rows),
            "label": tf.constant([b"b"] * rows), "evidence": tf.constant([[b"late", b""]] * rows),
            "score": tf.constant([0.5] * rows),
        }

    scorer = object.__new__(scoring_beam.SavedModelScorer)
    scorer.tf, scorer.signature, scorer.labels, scorer.pairs = tf, signature, ["a", "b"], False
    records = scorer([({"line": 2}, "a longer text", None), ({"line": 3}, "short", None)], batch_size=1)
    assert records == [
        {"label": "b", "probabilities": {"a": 0.25, "b": 0.75}, "evidence": ["late", ""], "score": 0.5},
    ] * 2
    result = PredictionResult(({"line": 2}, "a longer text", None), records[0])
    record = scoring_beam.to_record(result)
    assert list(record) == ["line", "text", "label", "probabilities", "evidence", "score"]
