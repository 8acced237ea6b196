"""The values each setting accepts, and the defaults several modules share, importing nothing.

The CLI builds its `--help` from these without importing TensorFlow; the
modules that act on a setting check it against the same tuple.
"""

# Tokens a text keeps (the preprocessor's `sequence_length`) unless told otherwise.
DEFAULT_SEQUENCE_LENGTH = 128
# A freshly initialised head at the backbone's 5e-5 is still far from fitted
# after a few epochs: banking77, 3 epochs, 91.3 at 1x and 93.1 at 20x
# (benchmarks/RESULTS.md). The default for `train` and `compile("auto")`.
HEAD_LEARNING_RATE_MULTIPLIER = 20.0

# Rows `bertcnn predict --input` reads, scores and writes at a time (`bertcnn_tf.scoring`).
PREDICT_CHUNK_ROWS = 10_000

# BertCNNClassifier(head=...): see `bertcnn_tf.models.heads`.
HEADS = ("cnn", "cls", "mean", "max", "seed")
# TextCNN(pooling=...): masked max, masked mean, or both concatenated.
POOLING_MODES = ("max", "mean", "max_mean")
# TrainingConfig.precision: Keras dtype policies to train in.
TRAINING_PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# with_compute_dtype(model, dtype): the dtypes a trained model can predict and serve in.
INFERENCE_DTYPES = ("float32", "bfloat16", "mixed_bfloat16", "float16", "mixed_float16")
# TrainingConfig.strategy: see `bertcnn_tf.training.distribution.make_strategy`.
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker", "tpu")
# Evidence spans per explained label (`bertcnn_tf.explain`, the `explain` signature).
EXPLAIN_TOP_K = 5
# The heads whose scores split exactly into spans of text (`bertcnn_tf.attribution`).
EXPLAINED_HEADS = ("cnn", "mean", "max", "seed")
