"""Build and run `native/serve_probe.c`: an export served by a C process with no Python.

TF Serving is a C++ process, so its memory and latency are not those of a
Python process that loads the same export through the C API (the Python and
TensorFlow Python runtime alone take about 0.9 GB here). The probe links the
tensorflow wheel's C API, registers TF-Text's kernels with `TF_LoadLibrary`,
loads the export with the C++ SavedModel loader and answers requests of raw
text, reporting load time, resident memory and per-request latency. Needs a C
compiler (`cc`); not a test.

    from benchmarks.native_serving import run_probe
    report = run_probe("saved_models/bertcnn/1", ["a fine film", "dull"], batch=1)
    print(report["p50_ms"], report["peak_rss_mb"])
"""

import atexit
import functools
import glob
import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "native", "serve_probe.c")


def _tensorflow_dir():
    import tensorflow as tf

    return os.path.dirname(tf.__file__)


def op_libraries():
    """TF-Text's kernel libraries: what `import tensorflow_text` registers in Python."""
    import tensorflow_text

    found = sorted(glob.glob(os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops", "*.so")))
    if not found:
        raise RuntimeError("no TF-Text kernel libraries found; reinstall tensorflow-text")
    return found


def build(directory):
    """Compiles the probe into `directory`; returns the executable's path."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise RuntimeError("no C compiler on PATH: install gcc (or set CC) to build the serving probe")
    tf_dir = _tensorflow_dir()
    executable = os.path.join(directory, "serve_probe")
    command = [
        compiler, "-O2", "-Wall", "-I", os.path.join(tf_dir, "include"), SOURCE, "-o", executable,
        "-L", tf_dir, "-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2",
        f"-Wl,-rpath,{tf_dir}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the serving probe failed:\n{done.stderr[-3000:]}")
    return executable


@functools.lru_cache(maxsize=None)
def default_executable():
    """The probe built once per process, in a folder removed at exit."""
    directory = tempfile.mkdtemp(prefix="serve-probe-build-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return build(directory)


def signature_tensors(export_dir, signature="serving_default", output="probabilities"):
    """(input tensor name, output tensor name) of a one-input text signature."""
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as file:
        saved_model = saved_model_pb2.SavedModel.FromString(file.read())
    meta_graph = next(m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags)
    definition = meta_graph.signature_def[signature]
    if len(definition.inputs) != 1:
        raise ValueError(f"the probe feeds one text input; {signature!r} takes {sorted(definition.inputs)}")
    (input_info,) = definition.inputs.values()
    return input_info.name, definition.outputs[output].name


def run_probe(export_dir, texts, batch=32, repeats=1, warmup=1, threads=(0, 0),
              print_outputs=False, executable=None):
    """Serves `texts` in requests of `batch`, `repeats` timed passes after `warmup`.

    Returns the probe's JSON report (texts_per_second, p50_ms, p99_ms,
    load_seconds, rss_*_mb, peak_rss_mb; `outputs` when print_outputs).
    `threads` is (intra-op, inter-op); 0 lets TensorFlow choose, as TF
    Serving does by default.
    """
    if any("\n" in text or "\r" in text for text in texts):
        raise ValueError("the probe reads one text per line: replace line breaks in texts first")
    work = tempfile.mkdtemp(prefix="serve-probe-")
    try:
        executable = executable or default_executable()
        texts_path = os.path.join(work, "texts.txt")
        with open(texts_path, "w", encoding="utf-8") as file:
            file.write("\n".join(texts) + "\n")
        feed, fetch = signature_tensors(export_dir)
        command = [executable, "--export", os.fspath(export_dir), "--input", feed, "--output", fetch,
                   "--texts", texts_path, "--batch", str(batch), "--repeats", str(repeats),
                   "--warmup", str(warmup), "--intra-threads", str(threads[0]),
                   "--inter-threads", str(threads[1])]
        for library in op_libraries():
            command += ["--op-library", library]
        if print_outputs:
            command.append("--print-outputs")
        # Nothing of Python's environment is needed by the child; TF's logs would fill stderr.
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"the serving probe failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
