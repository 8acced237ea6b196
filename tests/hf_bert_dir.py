"""Writes a keras-hub `BertBackbone` as a Hugging Face BERT directory.

Test-only: it runs keras-hub's own Hugging Face weight mapping in reverse,
recording which Hugging Face key each Keras variable is read from, so that
`from_preset` on the written directory must rebuild the same backbone.
"""

import json
import os

import numpy as np
from keras_hub.src.utils.transformers import convert_bert
from safetensors.numpy import save_file


class _RecordingLoader:
    """Stands in for keras-hub's `SafetensorLoader` and records the mapping."""

    def __init__(self, hidden_dim):
        self.hidden_dim = hidden_dim
        self.tensors = {}

    def get_tensor(self, key):
        raise KeyError(key)  # makes keras-hub pick "weight"/"bias" LayerNorm names

    def port_weight(self, keras_variable, hf_weight_key, hook_fn=None):
        value = np.asarray(keras_variable.numpy(), dtype="float32")
        if hook_fn is not None:
            if hf_weight_key.endswith("bias"):
                value = value.reshape(-1)
            else:  # Hugging Face stores linear kernels as [out, in].
                rows = value.shape[0] if value.ndim == 2 else self.hidden_dim
                value = value.reshape(rows, -1).T
        self.tensors[hf_weight_key] = np.ascontiguousarray(value)


def write_hf_bert_dir(backbone, vocabulary, path, lowercase=True):
    os.makedirs(path, exist_ok=True)
    loader = _RecordingLoader(backbone.hidden_dim)
    convert_bert.convert_weights(backbone, loader, {})
    save_file(loader.tensors, os.path.join(path, "model.safetensors"))
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "hidden_size": backbone.hidden_dim,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lowercase, "tokenizer_class": "BertTokenizer"}, f)
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    return path
