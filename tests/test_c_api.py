"""SavedModels exported by Keras load and run in TensorFlow's C API loader.

That loader (TF_LoadSessionFromSavedModel) is the one TF Serving uses, so
these tests check the exports the way TF Serving will, without its binary.
"""

import os
import shutil

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402  (registers CaseFoldUTF8 & co. for the C API too)
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

from bertcnn_tf.serving.c_api import SavedModelLoadError  # noqa: E402
from bertcnn_tf.serving.c_api import SavedModelRunError  # noqa: E402
from bertcnn_tf.serving.c_api import SavedModelSession  # noqa: E402


def export_endpoint(export_dir, fn, input_signature, model=None):
    """Write `fn` as the serving_default signature of a SavedModel."""
    archive = keras.export.ExportArchive()
    if model is not None:
        archive.track(model)
    archive.add_endpoint("serving_default", fn, input_signature=input_signature)
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)


@pytest.fixture(scope="module")
def dense_export(tmp_path_factory):
    """A one-Dense-layer Keras model and its SavedModel directory."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))
    export_dir = export_endpoint(
        tmp_path_factory.mktemp("dense") / "1",
        lambda x: {"y": model(x)},
        [tf.TensorSpec([None, 4], tf.float32, name="x")],
        model=model,
    )
    return model, export_dir


@pytest.fixture(scope="module")
def string_export(tmp_path_factory):
    def fn(text):
        return {"length": tf.strings.length(text), "upper": tf.strings.upper(text)}

    return export_endpoint(
        tmp_path_factory.mktemp("strings") / "1",
        fn,
        [tf.TensorSpec([None], tf.string, name="text")],
    )


def test_dense_model_matches_keras(dense_export):
    model, export_dir = dense_export
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with SavedModelSession(export_dir) as session:
        signature = session.signatures["serving_default"]
        assert signature["inputs"]["x"][1:] == ("DT_FLOAT", [None, 4])
        assert signature["outputs"]["y"][1:] == ("DT_FLOAT", [None, 3])
        outputs = session.run("serving_default", {"x": x})
    assert set(outputs) == {"y"}
    assert outputs["y"].dtype == np.float32
    np.testing.assert_allclose(outputs["y"], model.predict(x, verbose=0), atol=1e-6)


def test_string_round_trip(string_export):
    texts = [
        "héllo wörld ✓".encode(),
        b"",
        "日本語".encode(),
        b"short",
        b"x" * 100_000,
        b"embedded\x00nul",
    ]
    with SavedModelSession(string_export) as session:
        assert session.signatures["serving_default"]["inputs"]["text"][1:] == (
            "DT_STRING",
            [None],
        )
        outputs = session.run("serving_default", {"text": np.array(texts, dtype=object)})
        assert outputs["length"].dtype == np.int32
        assert outputs["length"].tolist() == [len(t) for t in texts]
        assert outputs["upper"].dtype == object
        # StringUpper without an encoding only upper-cases ASCII bytes.
        assert outputs["upper"].tolist() == [t.upper() for t in texts]

        empty = session.run("serving_default", {"text": np.array([], dtype=object)})
        assert empty["length"].shape == (0,)
        assert empty["upper"].shape == (0,)

        # str items are fed as their UTF-8 bytes.
        assert session.run("serving_default", {"text": np.array(["ß"])})["upper"][0] == (
            "ß".encode()
        )


def test_invalid_argument_keeps_session_usable(dense_export):
    model, export_dir = dense_export
    with SavedModelSession(export_dir) as session:
        with pytest.raises(SavedModelRunError) as excinfo:
            session.run("serving_default", {"x": np.zeros((2, 2, 4), np.float32)})
        assert excinfo.value.code == "INVALID_ARGUMENT"
        assert str(excinfo.value).startswith("INVALID_ARGUMENT: ")
        x = np.ones((2, 4), np.float32)
        outputs = session.run("serving_default", {"x": x})
    np.testing.assert_allclose(outputs["y"], model.predict(x, verbose=0), atol=1e-6)


def test_not_a_saved_model_fails_to_load(tmp_path):
    (tmp_path / "README").write_text("not a SavedModel")
    with pytest.raises(SavedModelLoadError) as excinfo:
        SavedModelSession(tmp_path)
    assert str(tmp_path) in str(excinfo.value)
    assert excinfo.value.code == "NOT_FOUND"


def test_unregistered_op_fails_to_load(string_export, tmp_path):
    export_dir = str(tmp_path / "1")
    shutil.copytree(string_export, export_dir)
    pb_path = os.path.join(export_dir, "saved_model.pb")
    with open(pb_path, "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    for function in saved_model.meta_graphs[0].graph_def.library.function:
        for node in function.node_def:
            if node.op == "StringUpper":
                node.op = "NoSuchOpForTest"
    with open(pb_path, "wb") as f:
        f.write(saved_model.SerializeToString())
    with pytest.raises(SavedModelLoadError, match="Op type not registered 'NoSuchOpForTest'"):
        SavedModelSession(export_dir)


def test_missing_variables_fail_at_run_time(dense_export, tmp_path):
    # Like TF Serving, the loader accepts an export without variables (it
    # takes it for a model that has none); the first read of one fails.
    export_dir = str(tmp_path / "1")
    shutil.copytree(dense_export[1], export_dir)
    shutil.rmtree(os.path.join(export_dir, "variables"))
    with SavedModelSession(export_dir) as session:
        with pytest.raises(SavedModelRunError, match="Could not find variable") as excinfo:
            session.run("serving_default", {"x": np.ones((1, 4), np.float32)})
    assert excinfo.value.code == "FAILED_PRECONDITION"


def test_ops_lists_graph_and_function_ops(dense_export, string_export):
    with SavedModelSession(dense_export[1]) as session:
        dense_ops = session.ops()
    with SavedModelSession(string_export) as session:
        string_ops = session.ops()
    assert "MatMul" in dense_ops
    assert "Placeholder" in dense_ops  # from the graph itself, not a function
    assert "StringUpper" in string_ops
    assert dense_ops == sorted(dense_ops)


def test_tensorflow_text_op_runs(tmp_path):
    export_dir = export_endpoint(
        tmp_path / "1",
        lambda text: {"folded": tensorflow_text.case_fold_utf8(text)},
        [tf.TensorSpec([None], tf.string, name="text")],
    )
    with SavedModelSession(export_dir) as session:
        assert "CaseFoldUTF8" in session.ops()
        outputs = session.run(
            "serving_default", {"text": np.array(["ÀB Straße".encode()], dtype=object)}
        )
    assert outputs["folded"].tolist() == ["àb strasse".encode()]
