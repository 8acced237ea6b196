import json

import numpy as np
import pytest
from conftest import tiny_tokenizer

from bertcnn_tf import make_preprocessor
from bertcnn_tf.data.files import DataError
from bertcnn_tf.data.files import Examples
from bertcnn_tf.data.files import LabelVocabulary
from bertcnn_tf.data.files import read_examples
from bertcnn_tf.data.files import stratified_folds
from bertcnn_tf.data.files import stratified_split
from bertcnn_tf.data.pipeline import make_dataset


def write(tmp_path, name, content, mode="w", **kwargs):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=kwargs.get("encoding", "utf-8"), newline="")
    return str(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="No such file: .*nope.csv"):
        read_examples(str(tmp_path / "nope.csv"))


def test_missing_column_names_it_and_the_available_ones(tmp_path):
    path = write(tmp_path, "d.csv", "review,label\ngood,pos\n")
    with pytest.raises(DataError, match=r"no column 'text'.*'review', 'label'.*--text-column"):
        read_examples(path)


def test_empty_texts_and_labels_are_dropped_and_counted(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\ngood,pos\n"",neg\n"   ",neg\nbad,\nok,neg\n')
    examples = read_examples(path)
    assert examples.texts == ["good", "ok"]
    assert examples.dropped == {"empty or whitespace-only texts": 2, "empty labels": 1}
    assert "2 empty or whitespace-only texts" in examples.dropped_summary()


def test_undecodable_bytes_name_the_line_and_the_encoding_option(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\ngood,pos\ncaf\xe9 ok,neg\n".encode("latin-1"), mode="wb")
    with pytest.raises(DataError, match=r"line 3.*--encoding"):
        read_examples(path)
    assert read_examples(path, encoding="latin-1").texts[1] == "café ok"


def test_embedded_newlines_quotes_and_crlf(tmp_path):
    content = 'text,label\r\n"line one\r\nline two",a\r\n"she said ""hi"", then left",b\r\nplain,a\r\n'
    examples = read_examples(write(tmp_path, "d.csv", content))
    assert examples.texts == ["line one\r\nline two", 'she said "hi", then left', "plain"]
    assert examples.labels == [["a"], ["b"], ["a"]]


def test_utf8_byte_order_mark_is_not_part_of_the_header(tmp_path):
    examples = read_examples(write(tmp_path, "d.csv", "\ufefftext,label\nhi,a\n"))
    assert examples.texts == ["hi"]


def test_tsv_jsonl_pairs_and_multi_label(tmp_path):
    tsv = write(tmp_path, "d.tsv", "q\tp\ty\nis it?\tyes it is\tx|y\nno\tmaybe\ty\n")
    examples = read_examples(tsv, "q", "y", text_pair_column="p", label_separator="|")
    assert examples.pairs == ["yes it is", "maybe"]
    assert examples.labels == [["x", "y"], ["y"]]
    jsonl = write(tmp_path, "d.jsonl", json.dumps({"text": "a", "label": ["x", "y"]}) + "\n\n" + json.dumps({"text": "b", "label": "y"}) + "\n")
    examples = read_examples(jsonl, label_separator="|")
    vocabulary = LabelVocabulary.from_examples(examples, multi_label=True)
    np.testing.assert_array_equal(vocabulary.encode(examples), [[1, 1], [0, 1]])


def test_bad_json_line_is_named(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": "x"}\n{oops\n')
    with pytest.raises(DataError, match="line 2"):
        read_examples(path)


def test_label_unseen_in_training_is_a_clear_error(tmp_path):
    train = read_examples(write(tmp_path, "t.csv", "text,label\na,x\nb,y\n"))
    test = read_examples(write(tmp_path, "v.csv", "text,label\nc,z\n"))
    vocabulary = LabelVocabulary.from_examples(train)
    with pytest.raises(DataError, match=r"labels \['z'\] never occur in the training data"):
        vocabulary.encode(test)


def test_one_class_only_is_a_clear_error(tmp_path):
    train = read_examples(write(tmp_path, "t.csv", "text,label\na,x\nb,x\n"))
    with pytest.raises(DataError, match="at least two classes"):
        LabelVocabulary.from_examples(train)


def test_several_labels_without_multi_label_is_a_clear_error(tmp_path):
    train = read_examples(write(tmp_path, "t.csv", "text,label\na,x|y\nb,x\n"), label_separator="|")
    with pytest.raises(DataError, match="--multi-label"):
        LabelVocabulary.from_examples(train)


def test_label_order_is_stable():
    examples = Examples(texts=["a", "b", "c"], labels=[["zeta"], ["alpha"], ["mu"]])
    assert LabelVocabulary.from_examples(examples).labels == ["alpha", "mu", "zeta"]


def test_stratified_split_keeps_every_class():
    labels = [["a"]] * 50 + [["b"]] * 20 + [["c"]] * 5
    examples = Examples(texts=[str(i) for i in range(75)], labels=labels)
    train, validation = stratified_split(examples, fraction=0.2, seed=1)
    assert len(train) + len(validation) == 75
    assert not set(train.texts) & set(validation.texts)
    counts = {label: sum(row == [label] for row in validation.labels) for label in "abc"}
    assert counts == {"a": 10, "b": 4, "c": 1}


def test_stratified_folds_test_every_row_once_and_keep_class_shares():
    labels = [["a"]] * 50 + [["b"]] * 20 + [["c"]] * 7
    examples = Examples(texts=[str(i) for i in range(77)], labels=labels)
    pairs = stratified_folds(examples, folds=5, seed=1)
    tested = [t for _, test in pairs for t in test.texts]
    assert sorted(tested) == sorted(examples.texts)  # each row in exactly one test fold
    for train, test in pairs:
        assert not set(train.texts) & set(test.texts)
        assert len(train) + len(test) == 77
        assert len(test) in (15, 16)
        assert sum(row == ["a"] for row in test.labels) == 10
        assert sum(row == ["b"] for row in test.labels) == 4
    assert [t.texts for _, t in pairs] == [t.texts for _, t in stratified_folds(examples, 5, seed=1)]
    assert [t.texts for _, t in pairs] != [t.texts for _, t in stratified_folds(examples, 5, seed=2)]


def test_stratified_folds_reject_impossible_fold_counts():
    examples = Examples(texts=["x", "y", "z"], labels=[["a"]] * 3)
    with pytest.raises(ValueError, match="folds must be between 2 and the number of rows"):
        stratified_folds(examples, folds=4)


def test_batches_are_padded_only_to_their_longest_text():
    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=128)
    texts = ["good"] * 8 + [" ".join(["movie"] * 40)] * 8
    examples = Examples(texts=texts, labels=[["a"]] * 16)
    widths = [batch["token_ids"].shape[1] for batch in make_dataset(examples, preprocessor, batch_size=8)]
    assert widths == [8, 48]  # 3 and 42 tokens, rounded up to multiples of 8


def test_training_batches_group_similar_lengths():
    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=128)
    texts = ["good"] * 32 + [" ".join(["movie"] * 60)] * 32
    examples = Examples(texts=texts, labels=[["a"]] * 64)
    targets = np.zeros((64, 2), "float32")
    dataset = make_dataset(examples, preprocessor, targets, batch_size=8, training=True)
    widths = [x["token_ids"].shape[1] for x, _ in dataset.take(8)]
    assert sorted(set(widths)) == [8, 64]  # never a short text padded to 64


def test_seed_head_batches_keep_the_fixed_length():
    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=32)
    examples = Examples(texts=["good"] * 4, labels=[["a"]] * 4)
    batch = next(iter(make_dataset(examples, preprocessor, batch_size=4, fixed_length=32)))
    assert batch["token_ids"].shape == (4, 32)


def test_sentence_pairs_reach_the_model_as_two_segments():
    preprocessor = make_preprocessor(tiny_tokenizer(), sequence_length=32)
    examples = Examples(texts=["good movie", "bad"], labels=[["a"], ["b"]], pairs=["loved it", "late"])
    batch = next(iter(make_dataset(examples, preprocessor, batch_size=2)))
    expected = preprocessor(x=(examples.texts, examples.pairs))
    width = batch["token_ids"].shape[1]
    np.testing.assert_array_equal(batch["segment_ids"], np.asarray(expected["segment_ids"])[:, :width])
    assert batch["segment_ids"].numpy().max() == 1
