"""The values each setting accepts, in a module that imports nothing.

The CLI builds its `--help` from these without importing TensorFlow; the
modules that act on a setting check it against the same tuple.
"""

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
