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
`bertcnn_tf.serving.check_serving` (TensorFlow's C++ loader, as TF Serving
runs it), and only then renamed to its number. TF Serving polls the base path
and loads any numeric directory it finds, half-written or not
(tensorflow/serving#631, #1086); a rename within one file system is atomic,
and TF Serving ignores names that are not numbers.

The graph tokenizes with keras-hub's tokenizer (tf-text ops that TF Serving
2.12+ links), truncates and packs with core ops only (keras-hub's default
`round_robin` truncation emits `TFText>RoundRobinTrim`, which TF Serving
2.12 to 2.19 lack), and pads each batch only to its longest text.
"""

import dataclasses
import datetime
import json
import os
import secrets
import shutil

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text
from tensorflow_serving.apis import prediction_log_pb2

import bertcnn_tf
from bertcnn_tf.data import fixed_length
from bertcnn_tf.data import trim_to_longest
from bertcnn_tf.precision import compute_dtype
from bertcnn_tf.precision import with_compute_dtype
from bertcnn_tf.runs import REPORT_FILE
from bertcnn_tf.runs import Run
from bertcnn_tf.runs import load_run
from bertcnn_tf.serving import KERAS_REFERENCE
from bertcnn_tf.serving import LABELS_ASSET
from bertcnn_tf.serving import MODEL_CARD
from bertcnn_tf.serving import PAIR_INPUT
from bertcnn_tf.serving import PROBE_PAIRS
from bertcnn_tf.serving import PROBE_TEXTS
from bertcnn_tf.serving import SERVING_SIGNATURE
from bertcnn_tf.serving import TEXT_INPUT
from bertcnn_tf.serving import TOKEN_INPUTS
from bertcnn_tf.serving import TOKENS_SIGNATURE
from bertcnn_tf.serving import WARMUP_FILE
from bertcnn_tf.serving import check_serving
from bertcnn_tf.serving import keras_reference
from bertcnn_tf.serving import min_tf_serving_version
from bertcnn_tf.serving import non_core_ops
from bertcnn_tf.serving import numeric_versions
from bertcnn_tf.serving import output_specs
from bertcnn_tf.serving import predict_request
from bertcnn_tf.serving import saved_model_ops

# Warmup texts: the shortest input and a short one; `write_warmup_requests`
# adds one that fills the model's sequence length, so that the first real
# requests find the widest shape warm too.
WARMUP_TEXTS = ("", "warm up the model")
# A request is split in two, and each part in two again, this many times
# (`length_split_logits`): at most 4 model calls a request. A third level ran
# slower (smaller matmuls outweigh the padding saved).
SPLIT_LEVELS = 2
# Parts are cut to their longest text rounded up to this many tokens.
SERVING_LENGTH_STEP = 8
# What TF Serving needs to run an export whose model call XLA compiles
# (`jit_compile=True`): without it the first request fails.
XLA_SERVING_FLAG = "--xla_cpu_compilation_enabled=true"


class ExportError(RuntimeError):
    """An export that cannot be written or published."""


def export_for_serving(run_or_dir, export_base, version=None, check=True, precision=None, jit_compile=False):
    """Writes, checks and publishes a TF Serving version of a trained model.

    Args:
        run_or_dir: A `bertcnn_tf.runs.Run`, or a run folder written by
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
            shape (widths padded to `SERVING_LENGTH_STEP`). On 2 CPU cores
            it served single texts in about half the time and batches of
            32 about 1.4 times as fast (`benchmarks/RESULTS.md`), but
            each new (rows, length) shape costs about a second of
            compiling on first sight: the warmup requests cover single
            texts of every width. A serving process takes about 250 MB
            more, and XLA ran bfloat16 slower than float32, so leave
            `precision` alone with it. TF Serving must then run with
            `XLA_SERVING_FLAG` (`--xla_cpu_compilation_enabled=true`).

    Returns:
        The path of the published version directory.

    Example:
    ```python
    from bertcnn_tf.export import export_for_serving

    export_for_serving("runs/feedback", "saved_models/feedback")  # .../feedback/1
    export_for_serving("runs/feedback", "saved_models/feedback")  # .../feedback/2
    ```
    """
    run, run_dir = _as_run(run_or_dir)
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
        write_export(run, staging, model_name=name, run_dir=run_dir, jit_compile=jit_compile)
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


def write_export(run, directory, model_name, run_dir=None, jit_compile=False):
    """Writes the SavedModel, labels, model card, warmup requests and Keras reference."""
    archive = build_archive(run, jit_compile=jit_compile)
    archive.write_out(directory, verbose=False)
    os.makedirs(os.path.join(directory, os.path.dirname(LABELS_ASSET)), exist_ok=True)
    os.makedirs(os.path.join(directory, os.path.dirname(MODEL_CARD)), exist_ok=True)
    _write_text(os.path.join(directory, LABELS_ASSET), "".join(f"{label}\n" for label in run.labels))
    card = model_card(run, model_name, saved_model_ops(directory), run_dir, jit_compile)
    _write_json(os.path.join(directory, MODEL_CARD), card)
    write_warmup_requests(os.path.join(directory, WARMUP_FILE), run, model_name, jit_compile)
    pairs = PROBE_PAIRS if card["text_pair"] else None
    _write_json(os.path.join(directory, KERAS_REFERENCE), keras_reference(run, PROBE_TEXTS, pairs))


def build_archive(run, jit_compile=False):
    """A `keras.export.ExportArchive` with the `serving_default` and `predict_tokens` endpoints."""
    model = run.model
    call_model = xla_compiled(model) if jit_compile else model
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ExportError("the model has no preprocessor, so the export could not tokenize text")
    if model.output_shape[-1] != len(run.labels):
        raise ExportError(
            f"the model has {model.output_shape[-1]} outputs but the run has {len(run.labels)} labels"
        )
    length = fixed_length(model)
    pack = make_packer(preprocessor, length)
    decide = make_decider(run.labels, run.multi_label, run.threshold)

    def classify(inputs):
        if length:  # one fixed width: nothing to trim
            return decide(logits_or_empty(call_model, inputs, len(run.labels)))
        if jit_compile:
            # Widths in steps, so that every part's shape is one the warmup compiled.
            inputs = pad_to_step(inputs, preprocessor.sequence_length, preprocessor.tokenizer.pad_token_id)
        return decide(length_split_logits(call_model, inputs, len(run.labels)))

    def serve_text(text):
        return classify(pack(text))

    def serve_pair(text, text_pair):
        return classify(pack(text, text_pair))

    def predict_tokens(token_ids, segment_ids, padding_mask):
        return classify({"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask})

    text_keys = text_input_names(run)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SERVING_SIGNATURE,
        serve_pair if PAIR_INPUT in text_keys else serve_text,
        input_signature=[tf.TensorSpec([None], tf.string, name=key) for key in text_keys],
    )
    archive.add_endpoint(
        TOKENS_SIGNATURE,
        predict_tokens,
        input_signature=[tf.TensorSpec([None, length], tf.int32, name=key) for key in TOKEN_INPUTS],
    )
    return archive


def xla_compiled(model):
    """`model`'s inference call, compiled by XLA for each input shape it meets.

    Only the model is compiled: tokenizing (tf-text ops XLA lacks) and the
    length split (shapes known only at run time) stay in the graph around it.
    """
    compiled = tf.function(lambda inputs: model(inputs, training=False), jit_compile=True)
    return lambda inputs, training=False: compiled(inputs)


def pad_to_step(inputs, sequence_length, pad_token_id, step=SERVING_LENGTH_STEP):
    """Token inputs padded to a multiple of `step` columns, at most `sequence_length` (never cut).

    A request is packed to its longest text, so without this the longest
    part of each request runs at its exact length: one shape per length.
    """
    width = tf.shape(inputs["token_ids"])[1]
    target = tf.maximum(tf.minimum((width + step - 1) // step * step, sequence_length), width)
    pads = {"token_ids": pad_token_id}
    return {
        name: tf.pad(value, [[0, 0], [0, target - width]], constant_values=pads.get(name, 0))
        for name, value in inputs.items()
    }


def text_input_names(run):
    """`["text"]`, or `["text", "text_pair"]` for a sentence-pair model."""
    return [TEXT_INPUT, PAIR_INPUT] if run.text_pair_column else [TEXT_INPUT]


def make_packer(preprocessor, fixed_length=None):
    """A function `(text, text_pair=None) -> {token_ids, segment_ids, padding_mask}`.

    Gives the ids of `preprocessor` (a keras-hub `BertTextClassifierPreprocessor`:
    `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated to its
    `sequence_length` by its `truncate` rule), but trims with core ops only
    and pads each batch only to its longest row, or to `fixed_length` when
    the model takes one length. Invalid UTF-8 is replaced by U+FFFD first,
    since the tokenizer's ops reject it.

    Example:
    ```python
    pack = tf.function(make_packer(classifier.preprocessor))
    pack(tf.constant(["a short text", ""]))["token_ids"].shape  # (2, 5)
    ```
    """
    tokenizer = preprocessor.tokenizer
    keep_lengths = TRIMMERS[preprocessor.truncate]
    sequence_length = preprocessor.sequence_length

    def pack(text, text_pair=None):
        texts = [text] if text_pair is None else [text, text_pair]
        if text_pair is not None:
            tf.debugging.assert_equal(
                tf.shape(text)[0],
                tf.shape(text_pair)[0],
                message="text and text_pair must have the same number of rows",
            )
        segments = [tokenizer(_valid_utf8(t)) for t in texts]
        budget = sequence_length - len(segments) - 1  # [CLS] and one [SEP] per segment
        keeps = keep_lengths([segment.row_lengths() for segment in segments], budget)
        segments = [_keep_prefix(segment, keep) for segment, keep in zip(segments, keeps)]
        return _combine(segments, tokenizer, fixed_length)

    return pack


def waterfall_lengths(lengths, budget):
    """Per-row kept lengths: each segment takes what it needs of what is left.

    keras-hub's `truncate="waterfall"` (`tf_text.WaterfallTrimmer`).
    """
    kept = []
    remaining = tf.constant(budget, dtype=lengths[0].dtype)
    for length in lengths:
        keep = tf.minimum(length, remaining)
        kept.append(keep)
        remaining -= keep
    return kept


def round_robin_lengths(lengths, budget):
    """Per-row kept lengths: tokens are handed out one per segment in turn.

    keras-hub's default `truncate="round_robin"` (`tf_text.RoundRobinTrimmer`,
    whose `TFText>RoundRobinTrim` op TF Serving 2.12 to 2.19 lack), for one
    or two segments: the first segment gets the odd token of an odd budget,
    and a segment shorter than its half leaves the rest to the other.
    """
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    first, second = lengths
    keep_first = tf.minimum(first, tf.maximum(budget - second, (budget + 1) // 2))
    return [keep_first, tf.minimum(second, budget - keep_first)]


TRIMMERS = {"waterfall": waterfall_lengths, "round_robin": round_robin_lengths}


def _valid_utf8(text):
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")


def _keep_prefix(ragged, keep):
    """The first `keep[i]` items of each row i of a ragged [batch, None] tensor."""
    starts = ragged.row_starts()
    return tf.gather(ragged.values, tf.ragged.range(starts, starts + tf.cast(keep, starts.dtype)))


def _combine(segments, tokenizer, fixed_length):
    """`[CLS] a [SEP] (b [SEP])` with segment ids and mask, padded to dense tensors."""
    rows = segments[0].nrows()
    dtype = segments[0].dtype

    def column(value):
        return tf.RaggedTensor.from_tensor(tf.fill(tf.stack([rows, 1]), tf.cast(value, dtype)))

    start, end = column(tokenizer.start_token_id), column(tokenizer.end_token_id)
    pieces, segment_ids = [start], [tf.zeros_like(start)]
    for index, segment in enumerate(segments):
        pieces += [segment, end]
        segment_ids += [tf.ones_like(segment) * index, tf.ones_like(end) * index]
    tokens = tf.concat(pieces, axis=1)
    shape = [None, fixed_length]
    return {
        "token_ids": tf.cast(tokens.to_tensor(tokenizer.pad_token_id, shape=shape), tf.int32),
        "segment_ids": tf.cast(tf.concat(segment_ids, axis=1).to_tensor(0, shape=shape), tf.int32),
        "padding_mask": tf.cast(tf.ones_like(tokens).to_tensor(0, shape=shape), tf.int32),
    }


def logits_or_empty(model, inputs, num_classes):
    """float32 logits; an empty batch skips the model (a 0-width batch breaks its convolutions)."""
    return tf.cond(
        tf.shape(inputs["token_ids"])[0] > 0,
        lambda: tf.cast(model(inputs, training=False), tf.float32),
        lambda: tf.zeros([0, num_classes], tf.float32),
    )


def length_split_logits(model, inputs, num_classes, levels=SPLIT_LEVELS):
    """float32 logits of a request, run in length-sorted parts cut where padding is least.

    A request arrives in the client's order and is padded to its longest
    text. Its rows are sorted by length and split in two at the row that
    leaves the fewest padded token positions (lengths rounded up to
    `SERVING_LENGTH_STEP`), each part again, `levels` times; each part is
    cut to its own longest, rounded up to the step but never past the
    request's own width (`pad_to_step` first makes that a step too). A
    split that saves nothing is not made. On sst2 sentences in requests of
    32 this computes 41% fewer token positions than one padded
    call, in about 4 calls a request; it replaced fixed 8-row chunks run in
    a `tf.while_loop` (35% fewer positions, and slower: benchmarks/RESULTS.md).
    The heads give the same logits at any padding, and the rows go back to
    request order, so only the cost changes.
    """
    rows = tf.shape(inputs["token_ids"])[0]
    lengths = tf.reduce_sum(tf.cast(inputs["padding_mask"], tf.int32), axis=1)
    order = tf.argsort(lengths, stable=True)
    ordered = {name: tf.gather(value, order) for name, value in inputs.items()}
    step = SERVING_LENGTH_STEP
    padded = (tf.gather(lengths, order) + step - 1) // step * step

    def empty():
        return tf.zeros([0, num_classes], tf.float32)

    def run(part, padded, levels):
        """Logits of a non-empty, length-sorted part."""
        if levels == 0:
            return tf.cast(model(trim_to_longest(part, step), training=False), tf.float32)
        count = tf.shape(padded)[0]
        # Padded positions if the first part is rows [0, k), for k = 1..count;
        # the last minimum wins, so k = count (no split) wins every tie.
        k = tf.range(1, count + 1)
        positions = k * tf.gather(padded, k - 1) + (count - k) * padded[-1]
        cut = count - tf.cast(tf.argmin(tf.reverse(positions, [0])), tf.int32)
        first = run({n: v[:cut] for n, v in part.items()}, padded[:cut], levels - 1)
        rest = tf.cond(
            cut < count,
            lambda: run({n: v[cut:] for n, v in part.items()}, padded[cut:], levels - 1),
            empty,
        )
        return tf.concat([first, rest], axis=0)

    # An empty request skips the model (a 0-row batch breaks its convolutions).
    sorted_logits = tf.cond(rows > 0, lambda: run(ordered, padded, levels), empty)
    return tf.scatter_nd(order[:, None], sorted_logits, tf.stack([rows, num_classes]))


def make_decider(labels, multi_label, threshold):
    """A function `logits -> {probabilities, label_id, label}` (or `label_ids`, `labels`).

    Multi-label rows list the labels whose probability is >= `threshold`,
    first, in class order, padded with -1 and "" to `[batch, classes]`: TF
    Serving's row format needs every output batch-first and dense.
    """
    names = tf.constant(list(labels))

    def decide_one(logits):
        probabilities = tf.nn.softmax(logits)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "label_id": label_id, "label": tf.gather(names, label_id)}

    def decide_many(logits):
        probabilities = tf.sigmoid(logits)
        chosen = probabilities >= threshold
        class_ids = tf.range(len(labels), dtype=tf.int32)
        # Chosen classes sort before the others; each group stays in class order.
        order = tf.argsort(tf.where(chosen, class_ids, class_ids + len(labels)), axis=-1)
        chosen_first = tf.gather(chosen, order, batch_dims=1)
        return {
            "probabilities": probabilities,
            "label_ids": tf.where(chosen_first, order, -1),
            "labels": tf.where(chosen_first, tf.gather(names, order), ""),
        }

    return decide_many if multi_label else decide_one


def write_warmup_requests(path, run, model_name, jit_compile=False):
    """TF Serving's warmup file: PredictionLog records it replays before serving.

    One request per signature, each with the shortest text, a short one and
    one that fills the sequence length. With `jit_compile`, also one single
    text of each length the serving graph pads to, so that XLA has compiled
    every single-text shape before the first real request.
    """
    preprocessor = run.model.preprocessor
    long_text = " ".join(["warm"] * preprocessor.sequence_length)
    texts = [*WARMUP_TEXTS, long_text]
    text_keys = text_input_names(run)
    columns = {key: texts for key in text_keys}
    # The long text fills the sequence length, so the preprocessor's full-length
    # padding is also what the serving graph gives this batch.
    segments = tuple(columns.values()) if len(columns) > 1 else texts
    tokens = {k: np.asarray(v, np.int32) for k, v in preprocessor(x=segments).items()}
    requests = [
        predict_request(columns, model_name, SERVING_SIGNATURE),
        predict_request(tokens, model_name, TOKENS_SIGNATURE),
    ]
    if jit_compile and not fixed_length(run.model):
        for text in single_text_lengths(preprocessor.sequence_length, len(text_keys)):
            requests.append(predict_request({key: [text] for key in text_keys}, model_name, SERVING_SIGNATURE))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def single_text_lengths(sequence_length, segments=1, step=SERVING_LENGTH_STEP):
    """Texts that pack to each width the serving graph pads to, one per width.

    "warm" is one token in any BERT vocabulary; each text of `segments`
    copies adds `segments + 1` special tokens.
    """
    widths = range(step, sequence_length + step, step)
    specials = segments + 1
    return [" ".join(["warm"] * max(0, (min(width, sequence_length) - specials) // segments)) for width in widths]


def model_card(run, model_name, ops, run_dir=None, jit_compile=False):
    """The model card: what the model is, how it was trained, what serves it."""
    model = run.model
    preprocessor = model.preprocessor
    non_core = non_core_ops(ops)
    outputs = sorted(output_specs(len(run.labels), run.multi_label))
    return {
        "name": model_name,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backbone": _backbone_summary(model, run.settings),
        "head": run.settings.get("head", getattr(model, "head", None)),
        "compute_dtype": compute_dtype(model),
        "sequence_length": preprocessor.sequence_length,
        "fixed_sequence_length": fixed_length(model),
        "truncate": preprocessor.truncate,
        "text_pair": bool(run.text_pair_column),
        "labels": list(run.labels),
        "multi_label": run.multi_label,
        "threshold": run.threshold,
        "metrics": read_metrics(run_dir),
        "signatures": {
            SERVING_SIGNATURE: {"inputs": text_input_names(run), "outputs": outputs},
            TOKENS_SIGNATURE: {"inputs": list(TOKEN_INPUTS), "outputs": outputs},
        },
        "non_core_ops": non_core,
        "min_tf_serving_version": min_tf_serving_version(non_core),
        "jit_compile": bool(jit_compile),
        "tf_serving_flags": [XLA_SERVING_FLAG] if jit_compile else [],
        "versions": {
            "tensorflow": tf.__version__,
            "tensorflow_text": tensorflow_text.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
            "bertcnn_tf": bertcnn_tf.__version__,
        },
        "source_run": run_dir,
    }


def read_metrics(run_dir):
    """The scalar metrics of each split in the run's report.json, or None."""
    path = run_dir and os.path.join(run_dir, REPORT_FILE)
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    splits = report.get("splits") or {}
    return {
        split: {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
        for split, metrics in splits.items()
    } or report.get("metrics")


def _backbone_summary(model, settings):
    summary = {"source": settings.get("backbone")}
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        summary.update(
            {
                "class": type(backbone).__name__,
                "num_layers": backbone.num_layers,
                "hidden_dim": backbone.hidden_dim,
                "vocabulary_size": backbone.vocabulary_size,
                "dtype": backbone.dtype_policy.name,
            }
        )
    return summary


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
