"""The benchmarks' C serving probe: an export served by a process with no Python.

It loads the export with the C++ loader and TF-Text's kernels registered by
`TF_LoadLibrary`, as TF Serving does; its outputs must equal those of the
Python-side C API session on the same texts.
"""

import shutil

import numpy as np
import pytest
from serving_helpers import PAIRS_A
from serving_helpers import exported_once
from serving_helpers import make_run

from benchmarks import native_serving
from bertcnn_tf.serving.c_api import SavedModelSession

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None, reason="no C compiler (cc) on PATH to build the serving probe"
)

TEXTS = [text or "?" for text in PAIRS_A] + ["a much longer request " * 6, "déjà vu , naïve café"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return exported_once(tmp_path_factory, "native-probe", make_run, model="probe", from_run_folder=False)[1]


@pytest.mark.parametrize("batch", [1, 3])
def test_probe_outputs_equal_the_c_api_session(export_dir, batch):
    report = native_serving.run_probe(export_dir, TEXTS, batch=batch, print_outputs=True)
    with SavedModelSession(export_dir) as session:
        expected = session.run("serving_default", {"text": np.array(TEXTS, dtype=object)})
    np.testing.assert_allclose(report["outputs"], expected["probabilities"], atol=1e-5)
    assert report["requests"] == -(-len(TEXTS) // batch)
    assert report["peak_rss_mb"] >= report["rss_loaded_mb"] > report["rss_start_mb"] > 0
    assert report["p99_ms"] >= report["p50_ms"] > 0


def test_probe_refuses_texts_with_line_breaks(export_dir):
    with pytest.raises(ValueError, match="one text per line"):
        native_serving.run_probe(export_dir, ["two\nlines"])


def test_probe_reports_a_missing_tensor(export_dir, monkeypatch):
    monkeypatch.setattr(native_serving, "signature_tensors", lambda _: ("no_such_op:0", "x:0"))
    with pytest.raises(RuntimeError, match="no such operation in the graph: no_such_op"):
        native_serving.run_probe(export_dir, TEXTS)
