"""TF Serving's warmup file, `assets.extra/tf_serving_warmup_requests`: written at export, replayed by the check."""

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from bertcnn_tf.preprocessing import LENGTH_STEP
from bertcnn_tf.preprocessing import fixed_length
from bertcnn_tf.serving.contract import EXPLAIN_SIGNATURE
from bertcnn_tf.serving.contract import SERVING_SIGNATURE
from bertcnn_tf.serving.contract import TOKENS_SIGNATURE
from bertcnn_tf.serving.contract import text_input_names
from bertcnn_tf.serving.graph import explainable
from bertcnn_tf.serving.grpc_requests import predict_request

# Warmup texts: the shortest input and a short one; `write_warmup_requests`
# adds one that fills the model's sequence length, so that the first real
# requests find the widest shape warm too.
WARMUP_TEXTS = ("", "warm up the model")


def write_warmup_requests(path, run, model_name, jit_compile=False):
    """TF Serving's warmup file: PredictionLog records it replays before serving.

    One request per signature (`explain` too, where the export has it), each
    with the shortest text, a short one and one that fills the sequence length. With `jit_compile`, also one single
    text of each length the serving graph pads to, so that XLA has compiled
    every single-text shape before the first real request.
    """
    preprocessor = run.model.preprocessor
    # The longest input: a window, or for documents in windows, the most tokens a document keeps.
    longest = getattr(preprocessor, "max_document_length", None) or preprocessor.sequence_length
    long_text = " ".join(["warm"] * longest)
    texts = [*WARMUP_TEXTS, long_text]
    text_keys = text_input_names(bool(run.text_pair_column))
    columns = {key: texts for key in text_keys}
    # The long text fills the sequence length, so the preprocessor's full-length
    # padding is also what the serving graph gives this batch.
    segments = tuple(columns.values()) if len(columns) > 1 else texts
    tokens = {k: np.asarray(v, np.int32) for k, v in preprocessor(x=segments).items()}
    requests = [
        predict_request(columns, model_name, SERVING_SIGNATURE),
        predict_request(tokens, model_name, TOKENS_SIGNATURE),
    ]
    if explainable(run.model):
        requests.append(predict_request(columns, model_name, EXPLAIN_SIGNATURE))
    if jit_compile and not fixed_length(run.model):
        for text in single_text_lengths(preprocessor.sequence_length, len(text_keys)):
            requests.append(predict_request({key: [text] for key in text_keys}, model_name, SERVING_SIGNATURE))
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def single_text_lengths(sequence_length, segments=1, step=LENGTH_STEP):
    """Texts that pack to each width the serving graph pads to, one per width.

    "warm" is one token in any BERT vocabulary; each text of `segments`
    copies adds `segments + 1` special tokens.
    """
    widths = range(step, sequence_length + step, step)
    specials = segments + 1
    return [" ".join(["warm"] * max(0, (min(width, sequence_length) - specials) // segments)) for width in widths]


def read_warmup_requests(path):
    """[(signature name, {input: numpy array})] from a TF Serving warmup file."""
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"a warmup record holds a {log.WhichOneof('log_type')}, not a predict_log")
        request = log.predict_log.request
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or SERVING_SIGNATURE, inputs))
    return requests
