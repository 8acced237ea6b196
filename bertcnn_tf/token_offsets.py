"""Where each WordPiece token came from: its byte offsets in the original text.

keras-hub's `WordPieceTokenizer` normalizes a whole text (CJK characters
spaced out, accents stripped, case folded) before splitting it into words,
so its tokens carry no offsets into what the user wrote
(keras-team/keras-hub#927). `tokenize_with_offsets` gives the same token ids
with offsets by splitting the *original* text into words first (the same
split patterns, `tf_text.regex_split_with_offsets`), then normalizing each
word on its own and running WordPiece on it with offsets. The split classes
(whitespace, punctuation, CJK) are the same before and after normalizing, so
the words are the same; `tests/test_token_offsets.py` checks the ids against
the tokenizer's own on accented, CJK, emoji and mixed-case text.

A piece of a word that normalizing changed beyond ASCII case (an accent
stripped, "ß" folded to "ss") is located at its whole word: "Café" gives
"caf" and "##e", both at the bytes of "Café". Every other piece is located
exactly.

The ops are tf-text ops that TF Serving 2.12+ links, so this runs in the
SavedModel's `explain` signature too.
"""

import weakref

import tensorflow as tf
import tensorflow_text as tf_text

# The word-split patterns of keras-hub's tokenizer, which it does not export
# (keras-team/keras-hub#927: no offsets from keras-hub tokenizers). This is
# the package's only use of this private module.
from keras_hub.src.tokenizers.word_piece_tokenizer import PUNCTUATION_AND_CJK_REGEX
from keras_hub.src.tokenizers.word_piece_tokenizer import PUNCTUATION_REGEX
from keras_hub.src.tokenizers.word_piece_tokenizer import WHITESPACE_AND_PUNCTUATION_REGEX
from keras_hub.src.tokenizers.word_piece_tokenizer import WHITESPACE_PUNCTUATION_AND_CJK_REGEX

# One tf-text WordPiece per keras-hub tokenizer: building it costs a second
# for a 30,000-word vocabulary.
_WORDPIECES = weakref.WeakKeyDictionary()


def check_supported(tokenizer):
    """Raises a ValueError naming the setting when offsets cannot be found for `tokenizer`."""
    if not hasattr(tokenizer, "suffix_indicator") or not getattr(tokenizer, "split", False):
        raise ValueError(
            "Offsets need a keras-hub WordPiece tokenizer that splits words itself "
            f"(`split=True`), such as BertTokenizer; got {type(tokenizer).__name__} "
            f"with split={getattr(tokenizer, 'split', None)!r}."
        )
    if getattr(tokenizer, "special_tokens_in_strings", False):
        raise ValueError(
            "Offsets are not found for a tokenizer with `special_tokens_in_strings=True`: "
            "rebuild it with the default `special_tokens_in_strings=False`."
        )


def _wordpiece(tokenizer):
    if tokenizer not in _WORDPIECES:
        # Built eagerly even when first asked for inside a traced function, so
        # that its model buffer is a constant every later graph can capture.
        with tf.init_scope():
            _WORDPIECES[tokenizer] = _new_wordpiece(tokenizer)
    return _WORDPIECES[tokenizer]


def _new_wordpiece(tokenizer):
    return tf_text.FastWordpieceTokenizer(
        vocab=tokenizer.get_vocabulary(),
        token_out_type=tf.int32,
        suffix_indicator=tokenizer.suffix_indicator,
        unknown_token=tokenizer.oov_token,
        no_pretokenization=True,
    )


def tokenize_with_offsets(tokenizer, text):
    """Token ids and byte offsets of a batch of texts, as keras-hub's tokenizer cuts them.

    Args:
        tokenizer: A keras-hub `BertTokenizer` (any `WordPieceTokenizer`
            with `split=True`).
        text: A 1-D string tensor of valid UTF-8.

    Returns:
        `(token_ids, begin, end)`: ragged `[batch, tokens]` tensors, int32 ids
        and int64 byte offsets, so that `text[begin:end]` (in bytes) is the
        token's source.

    Example:
    ```python
    ids, begin, end = tokenize_with_offsets(tokenizer, tf.constant(["Le Café!"]))
    # begin [[0, 3, 3, 7]], end [[2, 8, 8, 8]]: "le", "caf", "##e", "!"
    ```
    """
    check_supported(tokenizer)
    if tokenizer.split_on_cjk:
        delimiters, kept = WHITESPACE_PUNCTUATION_AND_CJK_REGEX, PUNCTUATION_AND_CJK_REGEX
    else:
        delimiters, kept = WHITESPACE_AND_PUNCTUATION_REGEX, PUNCTUATION_REGEX
    words, word_begin, word_end = tf_text.regex_split_with_offsets(text, delimiters, kept)
    normalized = words
    if tokenizer.strip_accents:
        normalized = tf.strings.regex_replace(tf_text.normalize_utf8(normalized, "NFD"), r"\p{Mn}", "")
    if tokenizer.lowercase:
        normalized = tf_text.case_fold_utf8(normalized)
    # A word of combining marks only (after a space, say) normalizes to
    # nothing, as it does inside keras-hub's whole-text normalizing.
    keep = tf.strings.length(normalized) > 0
    normalized = tf.ragged.boolean_mask(normalized, keep)
    word_begin = tf.ragged.boolean_mask(word_begin, keep)
    word_end = tf.ragged.boolean_mask(word_end, keep)
    # Byte i of the normalized word is byte i of the original where they
    # differ by ASCII case at most; "straße" → "strasse" keeps its length, not its bytes.
    unchanged = tf.equal(normalized, tf.strings.lower(tf.ragged.boolean_mask(words, keep)))

    ids, piece_begin, piece_end = _wordpiece(tokenizer).tokenize_with_offsets(normalized)
    # Each piece's word, as an index into the words of the whole batch.
    piece_word = ids.values.value_rowids()

    def per_piece(values):
        return tf.gather(values.flat_values, piece_word)

    exact = per_piece(unchanged)
    start = per_piece(word_begin)
    stop = per_piece(word_end)
    begin = tf.where(exact, start + piece_begin.flat_values, start)
    end = tf.where(exact, start + piece_end.flat_values, stop)
    pieces = ids.merge_dims(-2, -1)
    return pieces, pieces.with_flat_values(begin), pieces.with_flat_values(end)
