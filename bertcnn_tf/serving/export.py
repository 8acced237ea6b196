"""SavedModels for TF Serving: raw text in, labels out, published atomically.

```
saved_models/NAME/                 the model's base path (what TF Serving polls)
  1/                               one version: a complete, checked SavedModel
    saved_model.pb  variables/
    assets/labels.txt              line i is the label of class id i
    assets.extra/model_card.json   backbone, head, labels, metrics, versions, ops
    assets.extra/tf_serving_warmup_requests
    assets.extra/keras_reference.json
  .NAME-tmp-k3j9x/                 a version being written and checked
```

A version is written into a hidden staging directory, checked with
`bertcnn_tf.check_serving` (TensorFlow's C++ loader, as TF Serving runs it),
and only then renamed to its number. TF Serving polls the base path and
loads any numeric directory it finds, half-written or not
(tensorflow/serving#631, #1086); a rename within one file system is atomic,
and TF Serving ignores names that are not numbers. The graph itself is
`bertcnn_tf.serving.graph`.
"""

import dataclasses
import json
import os
import secrets
import shutil

import numpy as np

from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.serving.check import check_serving
from bertcnn_tf.serving.contract import KERAS_REFERENCE
from bertcnn_tf.serving.contract import LABELS_ASSET
from bertcnn_tf.serving.contract import MODEL_CARD
from bertcnn_tf.serving.contract import WARMUP_FILE
from bertcnn_tf.serving.graph import ExportError
from bertcnn_tf.serving.graph import build_archive
from bertcnn_tf.serving.graph import explainable
from bertcnn_tf.serving.model_card import model_card
from bertcnn_tf.serving.ops import saved_model_ops
from bertcnn_tf.serving.reference import PROBE_PAIRS
from bertcnn_tf.serving.reference import PROBE_TEXTS
from bertcnn_tf.serving.reference import keras_reference
from bertcnn_tf.serving.versions import numeric_versions
from bertcnn_tf.serving.warmup import write_warmup_requests
from bertcnn_tf.training.runs import Run
from bertcnn_tf.training.runs import load_run

def export_for_serving(
    run_or_dir, export_base, version=None, check=True, precision=None, jit_compile=False, abstain_below=None,
    explain_top_k=EXPLAIN_TOP_K,
):
    """Writes, checks and publishes a TF Serving version of a trained model.

    Args:
        run_or_dir: A `bertcnn_tf.Run`, or a run folder written by
            `bertcnn train`.
        export_base: The model's base path, e.g. `"saved_models/feedback"`
            (created if missing).
        version: int. The version number; `None` takes the highest existing
            one + 1 (1 for the first). An existing version is never
            overwritten.
        check: Run `check_serving` on the staged export (with the run's Keras
            model as the reference) before publishing it. Leave it on.
        precision: Serve in another dtype than the model was trained in:
            `"bfloat16"` is about 1.3x faster on CPUs with AVX512-BF16 and
            moves probabilities by about 1e-2 (`bertcnn_tf.precision`).
            `None` keeps the model's own.
        jit_compile: Compile the model's call with XLA, once per input
            shape (widths padded to `LENGTH_STEP`). On 2 CPU cores
            it served single texts in about half the time and batches of
            32 about 1.4 times as fast (`benchmarks/RESULTS.md`), but
            each new (rows, length) shape costs about a second of
            compiling on first sight: the warmup requests cover single
            texts of every width. A serving process takes about 250 MB
            more, and XLA ran bfloat16 slower than float32, so leave
            `precision` alone with it. TF Serving must then run with
            `XLA_SERVING_FLAG` (`--xla_cpu_compilation_enabled=true`).
        abstain_below: Answer `label_id` -1 and the run's `unknown_label`
            where the top probability is below this (single-label), instead
            of the run's own tuned value (`bertcnn train --abstain`).
        explain_top_k: Evidence spans per text of the `explain` signature
            (every head but `"cls"` has one: `bertcnn_tf.explain` in the
            graph).

    Returns:
        The path of the published version directory.

    Example:
    ```python
    from bertcnn_tf import export_for_serving

    export_for_serving("runs/feedback", "saved_models/feedback")  # .../feedback/1
    export_for_serving("runs/feedback", "saved_models/feedback")  # .../feedback/2
    ```
    """
    run, run_dir = _as_run(run_or_dir)
    if abstain_below is not None:
        run = run.with_settings(abstain_below=abstain_below)
    if precision is not None:
        run = dataclasses.replace(run, model=with_compute_dtype(run.model, precision))
    export_base = os.path.abspath(os.fspath(export_base))
    name = os.path.basename(export_base)
    if version is not None:
        _refuse_taken_version(export_base, version)
    os.makedirs(export_base, exist_ok=True)
    # Not tempfile.mkdtemp: its mode 0700 would follow the version into
    # publication, unreadable to a server running as another user.
    staging = os.path.join(export_base, f".{name}-tmp-{secrets.token_hex(4)}")
    os.mkdir(staging)
    try:
        write_export(
            run, staging, model_name=name, run_dir=run_dir, jit_compile=jit_compile, explain_top_k=explain_top_k
        )
        if check:
            check_serving(staging, run=run)
        return publish(staging, export_base, version)
    finally:
        # After a successful publish the staging directory no longer exists;
        # after any failure it goes, so that no half-checked model remains.
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging, export_base, version=None):
    """Renames a checked staging directory to its version number; returns its path."""
    if version is None:
        existing = numeric_versions(export_base)
        version = existing[-1] + 1 if existing else 1
    _refuse_taken_version(export_base, version)
    target = os.path.join(export_base, str(version))
    # rename(2) onto a non-empty directory fails (ENOTEMPTY), so even an
    # exporter racing this one cannot make it replace a published version.
    os.rename(staging, target)
    _fsync_directory(export_base)
    return target


def write_export(run, directory, model_name, run_dir=None, jit_compile=False, explain_top_k=EXPLAIN_TOP_K):
    """Writes the SavedModel, labels, model card, warmup requests and Keras reference."""
    if explain_top_k < 1:
        raise ExportError(f"explain_top_k must be at least 1, not {explain_top_k}")
    archive = build_archive(run, jit_compile=jit_compile, explain_top_k=explain_top_k)
    explain_top_k = explain_top_k if explainable(run.model) else None
    archive.write_out(directory, verbose=False)
    os.makedirs(os.path.join(directory, os.path.dirname(LABELS_ASSET)), exist_ok=True)
    os.makedirs(os.path.join(directory, os.path.dirname(MODEL_CARD)), exist_ok=True)
    _write_text(os.path.join(directory, LABELS_ASSET), "".join(f"{label}\n" for label in run.labels))
    card = model_card(run, model_name, saved_model_ops(directory), run_dir, jit_compile, explain_top_k)
    _write_json(os.path.join(directory, MODEL_CARD), card)
    write_warmup_requests(os.path.join(directory, WARMUP_FILE), run, model_name, jit_compile)
    pairs = PROBE_PAIRS if card["text_pair"] else None
    _write_json(os.path.join(directory, KERAS_REFERENCE), keras_reference(run, PROBE_TEXTS, pairs, explain_top_k))


def _as_run(run_or_dir):
    if isinstance(run_or_dir, Run):
        return run_or_dir, None
    run_dir = os.path.abspath(os.fspath(run_or_dir))
    return load_run(run_dir), run_dir


def _refuse_taken_version(export_base, version):
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ExportError(f"a version is a non-negative integer, not {version!r}")
    if os.path.lexists(os.path.join(export_base, str(version))):
        existing = numeric_versions(export_base)
        raise ExportError(
            f"version {version} already exists in {export_base}; versions are never "
            f"overwritten. Omit the version to publish as {existing[-1] + 1 if existing else version + 1}."
        )


def _write_json(path, value):
    _write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _write_text(path, text):
    # A plain write: the whole staging directory is published atomically.
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _fsync_directory(path):
    """Makes a rename in `path` durable before the caller reports it done."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
