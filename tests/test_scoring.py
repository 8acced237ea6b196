"""Scoring files in chunks: input order, ids, rejects with line numbers, gzip, and resuming after a kill."""

import gzip
import json
import os

import pytest
from conftest import write_csv
from serving_helpers import make_run
from serving_helpers import save_run

import bertcnn_tf
import bertcnn_tf.scoring
from bertcnn_tf.cli import main
from bertcnn_tf.data.files import DataError
from bertcnn_tf.scoring import predict_file

WORDS = "the movie was great fun late delivery refund the price awful plot loved it".split()
TEXTS = [" ".join(WORDS[i % 7: i % 7 + 1 + i % 5]) for i in range(23)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_run(make_run(), tmp_path_factory.mktemp("run") / "feedback")


class Killed(Exception):
    """Stands for a kill: the run stops between one chunk's scoring and its write."""


def numbered_rows(texts=TEXTS):
    return [(f"t{i}", text) for i, text in enumerate(texts)]


def read_jsonl(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_rows_come_out_in_input_order_with_ids_and_the_predictions_of_predict(run_dir, tmp_path):
    data = write_csv(tmp_path / "in.csv", numbered_rows(), header=("ticket", "text"))
    summary = predict_file(run_dir, data, str(tmp_path / "out.jsonl"), id_column="ticket", chunk_rows=5)
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (23, 23, 0)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [row["id"] for row in rows] == [f"t{i}" for i in range(23)]
    assert [row["line"] for row in rows] == list(range(2, 25))  # after the header
    expected = bertcnn_tf.predict(run_dir, TEXTS)
    for row, record in zip(rows, expected):
        assert row["text"] and row["label"] == record["label"]
        assert row["probabilities"] == pytest.approx(record["probabilities"], abs=1e-5)
    assert not os.path.exists(tmp_path / "out.jsonl.partial") and not os.path.exists(tmp_path / "out.jsonl.progress.json")


@pytest.mark.parametrize("name", ["in.tsv", "in.jsonl", "in.csv.gz", "in.jsonl.gz"])
def test_tsv_json_lines_and_gzip_read_as_csv_does(run_dir, tmp_path, name):
    path = tmp_path / name
    if ".jsonl" in name:
        content = "".join(json.dumps({"ticket": i, "text": t}) + "\n" for i, t in numbered_rows())
    else:
        separator = "\t" if ".tsv" in name else ","
        content = f"ticket{separator}text\n" + "".join(f"{i}{separator}{t}\n" for i, t in numbered_rows())
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.write(content)
    summary = predict_file(run_dir, str(path), str(tmp_path / "out.jsonl.gz"), id_column="ticket", chunk_rows=7)
    rows = read_jsonl(tmp_path / "out.jsonl.gz")  # one gzip member per chunk, read as one stream
    assert summary["scored"] == 23 and [row["id"] for row in rows] == [f"t{i}" for i in range(23)]


def test_bad_rows_go_to_the_rejects_file_with_their_line_numbers(run_dir, tmp_path):
    data = tmp_path / "in.csv"
    data.write_bytes(b"ticket,text\na,late delivery\nb,\nc,   \nd,caf\xe9 refund\ne,loved it\n")
    summary = predict_file(run_dir, str(data), str(tmp_path / "out.jsonl"), id_column="ticket")
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (5, 2, 3)
    assert [row["id"] for row in read_jsonl(tmp_path / "out.jsonl")] == ["a", "e"]
    rejects = read_jsonl(tmp_path / "out.jsonl.rejects.jsonl")
    assert [(row["line"], row["id"]) for row in rejects] == [(3, "b"), (4, "c"), (5, "d")]
    assert "empty" in rejects[0]["reason"] and "not valid utf-8" in rejects[2]["reason"]


def test_a_killed_run_leaves_no_output_and_resumes_from_its_last_chunk(run_dir, tmp_path, monkeypatch):
    data = write_csv(tmp_path / "in.csv", numbered_rows(), header=("ticket", "text"))
    output = str(tmp_path / "out.jsonl")
    uninterrupted = str(tmp_path / "reference.jsonl")
    predict_file(run_dir, data, uninterrupted, id_column="ticket", chunk_rows=5)

    real_score_chunk = bertcnn_tf.scoring.score_chunk
    calls = []

    def dies_on_the_third_chunk(*args):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return real_score_chunk(*args)

    monkeypatch.setattr(bertcnn_tf.scoring, "score_chunk", dies_on_the_third_chunk)
    with pytest.raises(Killed):
        predict_file(run_dir, data, output, id_column="ticket", chunk_rows=5)
    assert not os.path.exists(output)  # never half-written under its final name
    assert json.loads(open(output + ".progress.json").read())["rows"] == 10
    with open(output + ".partial", "a") as f:
        f.write('{"half": ')  # a chunk cut short by the kill
    monkeypatch.setattr(bertcnn_tf.scoring, "score_chunk", real_score_chunk)
    summary = predict_file(run_dir, data, output, id_column="ticket", chunk_rows=5, resume=True)
    assert summary["resumed_at"] == 10 and summary["rows"] == 23
    assert read_jsonl(output) == read_jsonl(uninterrupted)


def test_resuming_on_a_changed_input_is_refused(run_dir, tmp_path, monkeypatch):
    data = write_csv(tmp_path / "in.csv", numbered_rows(), header=("ticket", "text"))
    output = str(tmp_path / "out.jsonl")
    def killed(*args):
        raise Killed

    monkeypatch.setattr(bertcnn_tf.scoring, "score_chunk", killed)
    with pytest.raises(Killed):  # before its first chunk is written
        predict_file(run_dir, data, output, chunk_rows=5)
    write_csv(tmp_path / "in.csv", numbered_rows(TEXTS[:3]), header=("ticket", "text"))
    with pytest.raises(DataError, match="input changed"):
        predict_file(run_dir, data, output, chunk_rows=5, resume=True)


def test_cli_predict_streams_a_file_and_reports_rejects(run_dir, tmp_path, capsys):
    data = write_csv(tmp_path / "in.csv", [("x1", "late delivery"), ("x2", ""), ("x3", "loved it")], header=("id", "text"))
    output = tmp_path / "out.jsonl"
    code = main(["predict", "--model", run_dir, "--input", data, "--output", str(output), "--id-column", "id",
                 "--chunk-rows", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "wrote 2 predictions of 3 rows" in out and "rejected 1 rows" in out
    assert [row["id"] for row in read_jsonl(output)] == ["x1", "x3"]
    assert main(["predict", "--model", run_dir, "--input", data, "--resume"]) == 2
    assert "--resume goes on with an --output file" in capsys.readouterr().err


def test_precision_and_abstain_below_apply_to_the_whole_file(run_dir, tmp_path):
    data = write_csv(tmp_path / "in.csv", numbered_rows(), header=("ticket", "text"))
    predict_file(run_dir, data, str(tmp_path / "fast.jsonl"), chunk_rows=5, precision="bfloat16", abstain_below=1.01)
    rows = read_jsonl(tmp_path / "fast.jsonl")
    assert len(rows) == 23 and {row["label"] for row in rows} == {"unknown"}
    reference = bertcnn_tf.predict(run_dir, TEXTS)
    for row, record in zip(rows, reference):
        assert row["probabilities"] == pytest.approx(record["probabilities"], abs=3e-2)
