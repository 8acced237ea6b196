"""Explanations: the exact split of a score into spans, offsets on tricky text,
padding invariance, the SavedModel's `explain` signature, the CLI and the HTML."""

import html
import json
import os
import re

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import TEXTS
from conftest import tiny_classifier
from serving_helpers import exported_once
from serving_helpers import make_run
from serving_helpers import save_run
from serving_helpers import strings

import bertcnn_tf
from bertcnn_tf.attribution import attribute
from bertcnn_tf.cli import main
from bertcnn_tf.explanation_report import render_page
from bertcnn_tf.preprocessing import make_packer
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.check import ServingCheckError
from bertcnn_tf.serving.check import check_serving
from bertcnn_tf.serving.contract import KERAS_REFERENCE
from bertcnn_tf.serving.model_card import read_model_card
from bertcnn_tf.token_offsets import tokenize_with_offsets

HEADS = [
    ("cnn", {}),
    ("cnn", {"pooling": "max_mean"}),
    ("cnn", {"pooling": "mean", "with_cls_token": True}),
    ("mean", {}),
    ("max", {"with_cls_token": True}),
    ("seed", {}),
]
MORE_TEXTS = TEXTS + ["the movie was great ! " * 6, "bad bad bad , not fun"]


def _split_total(item):
    return item["bias"] + item.get("cls_token", 0.0) + sum(s["contribution"] for s in item["evidence"]) + item["rest"]


def _logit_score(classifier, texts, class_ids):
    logits = classifier.predict(texts, verbose=0)
    return np.take_along_axis(logits, np.asarray(class_ids)[:, None], 1)[:, 0] - logits.mean(axis=1)


# --- The split adds up -------------------------------------------------------


@pytest.mark.parametrize("head, options", HEADS, ids=[f"{h}-{'-'.join(o) or 'plain'}" for h, o in HEADS])
def test_the_split_adds_up_to_the_score_of_the_models_own_logits(head, options):
    classifier = tiny_classifier(head=head, **options)
    explanations = classifier.explain(MORE_TEXTS, top_k=3)
    expected = _logit_score(classifier, MORE_TEXTS, [int(item["label"]) for item in explanations])
    for item, score in zip(explanations, expected):
        assert item["score"] == pytest.approx(score, abs=1e-4)
        assert _split_total(item) == pytest.approx(item["score"], abs=1e-4)
        assert ("cls_token" in item) == bool(options.get("with_cls_token"))
        contributions = [span["contribution"] for span in item["evidence"]]
        assert contributions == sorted(contributions, reverse=True)


def test_every_window_is_counted_once_before_the_top_k():
    classifier = tiny_classifier()
    inputs = make_packer(classifier.preprocessor, with_offsets=True)(tf.constant(MORE_TEXTS))
    parts = attribute(classifier, inputs)
    total = parts["bias"] + parts["cls_token"] + tf.reduce_sum(parts["windows"], axis=-1)
    np.testing.assert_allclose(total, parts["score"], atol=1e-5)
    # Three kernel sizes: one window per size and position.
    assert parts["windows"].shape[1] == 3 * inputs["token_ids"].shape[1]


def test_the_split_holds_within_rounding_under_mixed_precision():
    classifier = tiny_classifier(dtype="mixed_float16")
    explanations = classifier.explain(MORE_TEXTS, top_k=3)
    expected = _logit_score(classifier, MORE_TEXTS, [int(item["label"]) for item in explanations])
    for item, score in zip(explanations, expected):
        assert item["score"] == pytest.approx(float(score), abs=2e-2)
        assert _split_total(item) == pytest.approx(item["score"], abs=2e-2)


def test_a_run_explains_in_its_labels_and_temperature():
    run = make_run().with_settings(temperature=2.0)
    item = bertcnn_tf.explain(run, ["the movie was great !"], top_k=2)[0]
    untempered = run.model.explain(["the movie was great !"], top_k=2)[0]
    assert item["label"] in run.labels
    assert item["score"] == pytest.approx(untempered["score"] / 2.0, abs=1e-5)
    assert item["probability"] == pytest.approx(
        bertcnn_tf.predict(run, ["the movie was great !"])[0]["probabilities"][item["label"]], abs=1e-5
    )
    assert _split_total(item) == pytest.approx(item["score"], abs=1e-4)


def test_a_label_asked_for_is_explained_instead_of_the_predicted_one():
    run = make_run()
    for label in run.labels:
        item = bertcnn_tf.explain(run, ["late delivery"], label=label)[0]
        assert item["label"] == label and _split_total(item) == pytest.approx(item["score"], abs=1e-4)
    with pytest.raises(ValueError, match="Unknown label"):
        bertcnn_tf.explain(run, ["late delivery"], label="nonsense")


def test_multi_label_models_explain_each_predicted_label():
    run = make_run(multi_label=True)
    predicted = bertcnn_tf.predict(run, MORE_TEXTS)
    for item, prediction in zip(bertcnn_tf.explain(run, MORE_TEXTS), predicted):
        assert item["labels"] == prediction["labels"]
        for part in item["explanations"]:
            # A sigmoid's score is the label's own logit: its probability is sigmoid(score).
            assert 1 / (1 + np.exp(-part["score"])) == pytest.approx(part["probability"], abs=1e-5)
            assert _split_total(part) == pytest.approx(part["score"], abs=1e-4)


def test_a_cls_head_is_refused_with_the_fix():
    with pytest.raises(ValueError, match='head="cls".*cannot be explained.*head=\'cnn\''):
        tiny_classifier(head="cls").explain(["the movie"])


# --- Offsets ----------------------------------------------------------------

TRICKY = [
    "Le Café était fermé!",
    "naïve RÉSUMÉ straße İstanbul",
    "東京は 雨 😀👍🏽 ok",
    "  tabs\tand\nnew lines  ",
    "a \u0301 lone accent",
]


def test_offsets_give_the_tokenizers_own_ids_and_land_on_their_source():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "le", "cafe", "etait", "ferme", "!", "naive",
                  "resume", "stras", "##se", "istanbul", "東", "京", "ok", "tabs", "and", "new", "lines", "a",
                  "lone", "accent", "雨"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    ids, begin, end = tokenize_with_offsets(tokenizer, tf.constant(TRICKY))
    assert ids.to_list() == [list(row) for row in tokenizer(tf.constant(TRICKY))]
    sources = [
        [text.encode()[b:e].decode() for b, e in zip(row_begin, row_end)]
        for text, row_begin, row_end in zip(TRICKY, begin.to_list(), end.to_list())
    ]
    assert sources[0] == ["Le", "Café", "était", "fermé", "!"]
    # "straße" folds to "strasse": both pieces point at the whole word.
    assert sources[1] == ["naïve", "RÉSUMÉ", "straße", "straße", "İstanbul"]
    assert sources[2] == ["東", "京", "は", "雨", "😀👍🏽", "ok"]
    assert sources[3] == ["tabs", "and", "new", "lines"]
    # A lone combining accent is a word of its own, [UNK] to both.
    assert sources[4] == ["a", "\u0301", "lone", "accent"]


def test_the_real_tokenizer_gives_the_same_ids_with_offsets():
    _, preprocessor = bertcnn_tf.load_backbone("offline", sequence_length=64, load_weights=False)
    tokenizer = preprocessor.tokenizer
    ids, begin, end = tokenize_with_offsets(tokenizer, tf.constant(TRICKY + TEXTS))
    assert ids.to_list() == [list(row) for row in tokenizer(tf.constant(TRICKY + TEXTS))]
    for text, row_begin, row_end in zip(TRICKY + TEXTS, begin.to_list(), end.to_list()):
        encoded = text.encode()
        assert all(encoded[b:e].decode().strip() for b, e in zip(row_begin, row_end))


def test_spans_are_the_characters_of_the_text_they_name():
    classifier = tiny_classifier(sequence_length=12)
    long_text = "the movie was great ! " * 10  # truncated at 12 tokens
    for item in classifier.explain(TRICKY + [long_text, "Ünïcödé movie 😀 was GREAT"], top_k=4):
        for span in item["evidence"]:
            assert item["text"][span["start"] : span["end"]] == span["text"]
            assert span["text"] and "[CLS]" not in span["text"] and "[SEP]" not in span["text"]
    # Only the kept tokens (10 of them) can be evidence.
    truncated = classifier.explain([long_text], top_k=50)[0]
    assert max(span["end"] for span in truncated["evidence"]) == len("the movie was great ! the movie was great !")


def test_pair_spans_say_which_text_they_are_in():
    run = make_run(text_pair=True)
    texts, pairs = ["the movie was great !", "late"], ["bad plot , awful actors", "refund please , late delivery"]
    for item, text, pair in zip(bertcnn_tf.explain(run, texts, text_pairs=pairs, top_k=10), texts, pairs):
        assert {span["segment"] for span in item["evidence"]} == {"text", "text_pair"}
        for span in item["evidence"]:
            source = text if span["segment"] == "text" else pair
            assert source[span["start"] : span["end"]] == span["text"]


def test_the_same_text_gives_the_same_evidence_at_any_padding():
    classifier = tiny_classifier(sequence_length=64)
    alone = classifier.explain(["the movie was great !"], top_k=4)[0]
    padded = classifier.explain(["the movie was great !", "awful plot , bad actors " * 5], top_k=4, batch_size=2)[0]
    assert [(s["start"], s["end"], s["kernel_size"]) for s in alone["evidence"]] == [
        (s["start"], s["end"], s["kernel_size"]) for s in padded["evidence"]
    ]
    np.testing.assert_allclose(
        [s["contribution"] for s in alone["evidence"]], [s["contribution"] for s in padded["evidence"]], atol=1e-5
    )
    assert alone["score"] == pytest.approx(padded["score"], abs=1e-5)


# --- The SavedModel's explain signature --------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run_dir, path = exported_once(tmp_path_factory, "explain-export", make_run, explain_top_k=3)
    return bertcnn_tf.load_run(run_dir), path


def test_the_explain_signature_gives_what_python_gives(exported):
    run, path = exported
    texts = ["the movie was great !", "Café naïve 😀 bad plot", "", "late delivery " * 40]
    expected = bertcnn_tf.explain(run, texts, top_k=3)
    with SavedModelSession(path) as session:
        served = session.run("explain", {"text": strings(texts)})
    assert served["evidence_begin"].shape == (4, 3)
    for row, (text, item) in enumerate(zip(texts, expected)):
        assert served["label"][row].decode() == item["label"]
        assert served["score"][row] == pytest.approx(item["score"], abs=1e-4)
        total = served["bias"][row] + served["cls_token"][row] + served["rest"][row]
        assert total + served["evidence_contribution"][row].sum() == pytest.approx(served["score"][row], abs=1e-4)
        encoded = text.encode()
        spans = [
            (encoded[:b].decode(), t.decode(), c)
            for b, t, c in zip(served["evidence_begin"][row], served["evidence_text"][row],
                               served["evidence_contribution"][row]) if b >= 0
        ]
        assert [(len(prefix), span) for prefix, span, _ in spans] == [(s["start"], s["text"]) for s in item["evidence"]]
    card = read_model_card(path)
    assert card["explain_top_k"] == 3 and "explain" in card["signatures"]


def test_check_serving_compares_the_explain_signature_and_catches_a_difference(exported, tmp_path):
    _, path = exported
    report = check_serving(path)
    assert "explain" in report["passed"] and report["explain_max_abs_diff"] < 1e-4
    assert report["bad_inputs"]["explain: 10,000 words"] == "ok"
    assert report["bad_inputs"]["explain: invalid UTF-8"] == "ok"
    assert report["bad_inputs"]["explain: empty batch"] == "ok"
    # The same export with a recorded Python explanation moved by one byte fails the check.
    import shutil

    copy = tmp_path / "1"
    shutil.copytree(path, copy)
    reference_path = os.path.join(copy, KERAS_REFERENCE)
    with open(reference_path, encoding="utf-8") as f:
        reference = json.load(f)
    reference["explain"][0]["spans"][0][0] += 1
    with open(reference_path, "w", encoding="utf-8") as f:
        json.dump(reference, f)
    with pytest.raises(ServingCheckError, match="explain: text 0: spans"):
        check_serving(str(copy))


def test_a_cls_export_has_no_explain_signature(tmp_path):
    path = bertcnn_tf.export_for_serving(make_run(head="cls"), tmp_path / "cls")
    card = read_model_card(path)
    assert card["explain_top_k"] is None and "explain" not in card["signatures"]


# --- HTML and the command line ----------------------------------------------


def test_the_page_escapes_the_text_it_shows():
    classifier = tiny_classifier()
    explanations = classifier.explain(["<script>alert(1)</script> the movie was great & fun"], top_k=3)
    page = render_page(explanations)
    assert "<script>alert(1)</script>" not in page
    shown = re.sub(r"<mark[^>]*>|</mark>", "", page)
    assert html.escape("<script>alert(1)</script> the movie was great & fun") in shown
    assert "<mark" in page and "most confident first" in page
    assert explanations._repr_html_().startswith("<style>")


def test_cli_explain_writes_a_page_and_json_lines(tmp_path, capsys):
    run_dir = save_run(make_run(), tmp_path / "run")
    data = tmp_path / "in.csv"
    data.write_text('text\nthe movie was great !\n"<b>awful</b> plot"\n', encoding="utf-8")
    page = tmp_path / "why.html"
    assert main(["explain", "--model", run_dir, "--input", str(data), "--output", str(page), "--top-k", "2"]) == 0
    assert "&lt;/b&gt; plot" in re.sub(r"<mark[^>]*>|</mark>", "", page.read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["explain", "--model", run_dir, "late delivery", "--top-k", "1"]) == 0
    item = json.loads(capsys.readouterr().out)
    assert len(item["evidence"]) == 1 and _split_total(item) == pytest.approx(item["score"], abs=1e-4)


def test_cli_predict_explain_adds_the_spans_to_each_line(tmp_path, capsys):
    run_dir = save_run(make_run(), tmp_path / "run")
    assert main(["predict", "--model", run_dir, "the movie was great !", "--explain", "--top-k", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["label"] in line["probabilities"] and len(line["explanation"]["evidence"]) == 2
    assert _split_total(line["explanation"]) == pytest.approx(line["explanation"]["score"], abs=1e-4)
    data = tmp_path / "in.csv"
    data.write_text("id,text\n7,late delivery\n8,\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", run_dir, "--input", str(data), "--output", str(out), "--id-column", "id",
                 "--explain"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["7"] and rows[0]["explanation"]["evidence"][0]["text"] in "late delivery"
