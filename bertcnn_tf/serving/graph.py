"""The SavedModel's graph: raw text in, tokens, the model, decisions out.

`serving_default` tokenizes with `bertcnn_tf.preprocessing.make_packer`
and decides with `bertcnn_tf.postprocessing`, the same code Python
prediction runs; `predict_tokens` takes token ids for clients that
tokenize themselves; `explain` gives the spans behind each label
(`bertcnn_tf.attribution`, as `bertcnn_tf.explain` does). Each request is run in length-sorted parts, each cut
to its own longest text (`length_split_logits`).
"""

import keras
import tensorflow as tf

from bertcnn_tf import attribution
from bertcnn_tf import postprocessing
from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.preprocessing import LENGTH_STEP
from bertcnn_tf.preprocessing import TOKEN_FEATURES
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.preprocessing import packer_for
from bertcnn_tf.preprocessing import pad_to_step
from bertcnn_tf.preprocessing import trim_to_longest
from bertcnn_tf.preprocessing import valid_utf8
from bertcnn_tf.serving.contract import EXPLAIN_SIGNATURE
from bertcnn_tf.serving.contract import PAIR_INPUT
from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import TOKENS_SIGNATURE
from bertcnn_tf.serving.contract import explain_output_specs
from bertcnn_tf.serving.contract import text_input_names

# A request is split in two, and each part in two again, this many times
# (`length_split_logits`): at most 4 model calls a request. A third level ran
# slower (smaller matmuls outweigh the padding saved).
SPLIT_LEVELS = 2


class ExportError(RuntimeError):
    """An export that cannot be written or published."""


def explainable(model):
    """Whether the export gets an `explain` signature: every head but `"cls"`."""
    return getattr(model, "head", None) in attribution.EXPLAINED_HEADS


def build_archive(run, jit_compile=False, explain_top_k=EXPLAIN_TOP_K):
    """A `keras.export.ExportArchive` with the `serving_default`, `predict_tokens` and `explain` endpoints.

    `explain` is left out for a `"cls"` head, which does not split into spans.
    """
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
    pack = packer_for(preprocessor, length)
    windowed = getattr(model, "window_stride", None) is not None
    from_logits = not postprocessing.outputs_are_probabilities(model, run.multi_label)

    def decide(outputs):
        return postprocessing.postprocess(
            outputs, run.labels, run.multi_label, from_logits=from_logits, **run.decision_settings
        )

    def classify(inputs):
        if length:  # one fixed width: nothing to trim
            return decide(logits_or_empty(call_model, inputs, len(run.labels)))
        if windowed:  # documents in windows: cut to the request's most windows and longest window
            return decide(logits_or_empty(call_model, trim_to_longest(inputs), len(run.labels)))
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

    text_keys = text_input_names(bool(run.text_pair_column))
    explain = make_explainer(run, explain_top_k)
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
        input_signature=[tf.TensorSpec(token_shape(model), tf.int32, name=key) for key in TOKEN_FEATURES],
    )
    if explainable(model):
        archive.add_endpoint(
            EXPLAIN_SIGNATURE,
            explain if PAIR_INPUT in text_keys else (lambda text: explain(text)),
            input_signature=[tf.TensorSpec([None], tf.string, name=key) for key in text_keys],
        )
    return archive


def token_shape(model):
    """The `predict_tokens` inputs' shape: `[batch, length]`, or `[batch, windows, length]` for documents."""
    return list(model.input["token_ids"].shape)


def make_explainer(run, top_k):
    """The `explain` signature's function: texts in, the spans behind the most probable label out.

    The same ops as `bertcnn_tf.explain`: tokens with offsets
    (`make_packer(..., with_offsets=True)`), one forward pass
    (`attribution.forward`), the split of the score and its top spans.
    """
    model = run.model
    length = fixed_length(model)
    pack = packer_for(model.preprocessor, length, with_offsets=True)
    from_logits = not postprocessing.outputs_are_probabilities(model, run.multi_label)
    specs = explain_output_specs(top_k)

    def empty():
        dtypes = {"DT_STRING": tf.string, "DT_INT32": tf.int32, "DT_FLOAT": tf.float32}
        return {
            name: tf.zeros([0] + shape[1:], dtypes[dtype]) if dtype != "DT_STRING" else tf.fill([0] + shape[1:], "")
            for name, (dtype, shape) in specs.items()
        }

    def explain_rows(inputs, texts):
        passed = attribution.forward(model, inputs)
        probabilities = postprocessing.probabilities(
            passed["outputs"], run.multi_label, from_logits, run.temperature
        )
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        parts = attribution.split_score(
            model, passed, class_ids, run.multi_label, run.temperature, from_logits
        )
        found = attribution.top_evidence(parts, inputs, top_k)
        source = tf.where(tf.equal(found["segment"], 1), texts[-1][:, None], texts[0][:, None])
        has_span = found["begin"] >= 0
        spans = tf.strings.substr(
            source, tf.maximum(found["begin"], 0), tf.maximum(found["end"] - found["begin"], 0), unit="BYTE"
        )
        return {
            "label": tf.gather(tf.constant(list(run.labels)), class_ids),
            "label_id": class_ids,
            "probability": tf.gather(probabilities, class_ids, batch_dims=1),
            "score": parts["score"],
            "bias": parts["bias"],
            "cls_token": parts["cls_token"],
            "rest": found["rest"],
            "evidence_begin": found["begin"],
            "evidence_end": found["end"],
            "evidence_text": tf.where(has_span, spans, ""),
            "evidence_contribution": found["contribution"],
            "evidence_kernel_size": found["kernel_size"],
            "evidence_segment": found["segment"],
        }

    def explain(text, text_pair=None):
        texts = [valid_utf8(text)] + ([] if text_pair is None else [valid_utf8(text_pair)])
        inputs = pack(*texts)
        if not length:
            inputs = trim_to_longest(inputs)
        # An empty request skips the model (a 0-row batch breaks its convolutions).
        outputs = tf.cond(tf.shape(text)[0] > 0, lambda: explain_rows(inputs, texts), empty)
        return {name: tf.ensure_shape(value, specs[name][1]) for name, value in outputs.items()}

    return explain


def xla_compiled(model):
    """`model`'s inference call, compiled by XLA for each input shape it meets.

    Only the model is compiled: tokenizing (tf-text ops XLA lacks) and the
    length split (shapes known only at run time) stay in the graph around it.
    """
    compiled = tf.function(lambda inputs: model(inputs, training=False), jit_compile=True)
    return lambda inputs, training=False: compiled(inputs)


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
    `LENGTH_STEP`), each part again, `levels` times; each part is
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
    step = LENGTH_STEP
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
