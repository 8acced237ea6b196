"""keras-hub tokenizes in pure Python when called eagerly and with tf-text ops
when traced (tf.data, tf.function, exports). Both must give the same ids."""

import numpy as np
import pytest
import tensorflow as tf

from bertcnn_tf.backbones import load_tokenizer
from bertcnn_tf.backbones import offline_backbone_dir
from bertcnn_tf.preprocessing import make_preprocessor

TRICKY_TEXTS = [
    "Café naïve résumé Ünïcödé",
    "ÀÉÎÕÜ çedilla Straße",
    "東京は日本の首都です 你好世界",
    "emoji 😀👍🏽 and 🇫🇷 flags",
    "",
    "   \t \n ",
    "mixed-case URLs https://Example.com/Path?q=1&x=2",
    "numbers 3.14159 and $49.99, 1,000,000",
    "zero\u200bwidth and non\u00a0breaking spaces",
    "apostrophes don't won’t “quotes”",
    " ".join(["word"] * 2500 + ["Ünïcödé", "東京"] * 1250),  # 5,000 words
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(offline_backbone_dir())


def test_eager_and_traced_token_ids_agree(tokenizer):
    eager = [np.asarray(tokenizer(text)).tolist() for text in TRICKY_TEXTS]
    traced = tf.function(tokenizer)(tf.constant(TRICKY_TEXTS)).to_list()
    assert tokenizer.__class__.__name__ == "BertTokenizer"
    for text, a, b in zip(TRICKY_TEXTS, eager, traced):
        assert a == b, text[:60]
    assert len(eager[-1]) >= 5000


def test_eager_and_traced_preprocessing_agree(tokenizer):
    preprocessor = make_preprocessor(tokenizer, sequence_length=64)
    eager = preprocessor(TRICKY_TEXTS)
    traced = tf.data.Dataset.from_tensor_slices(TRICKY_TEXTS).batch(4).map(preprocessor)
    traced_ids = np.concatenate([batch["token_ids"].numpy() for batch in traced])
    np.testing.assert_array_equal(np.asarray(eager["token_ids"]), traced_ids)


def test_accents_are_stripped_like_hugging_face_uncased_bert(tokenizer):
    """keras-hub alone maps "café" to [UNK] for an uncased Hugging Face model."""
    ids = np.asarray(tokenizer("café naïve")).tolist()
    assert ids == np.asarray(tokenizer("cafe naive")).tolist()
    assert tokenizer.token_to_id("[UNK]") not in ids


def test_empty_and_whitespace_texts_become_cls_sep(tokenizer):
    preprocessor = make_preprocessor(tokenizer, sequence_length=8)
    out = preprocessor(["", "   "])
    np.testing.assert_array_equal(np.asarray(out["padding_mask"]).sum(-1), [2, 2])
