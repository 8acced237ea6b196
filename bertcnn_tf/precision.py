"""Inference in another dtype: the same trained weights, cheaper arithmetic.

A model trained in float32 can serve in bfloat16: on CPUs with AVX512-BF16
(or AMX) oneDNN's bfloat16 matmuls run about twice the float32 rate, and the
weights take half the memory. Probabilities move by about 1e-2 at most
(`benchmarks/RESULTS.md` measures the speed and the agreement on real data).
"""

import keras

from bertcnn_tf.choices import INFERENCE_DTYPES


def with_compute_dtype(model, dtype):
    """A copy of a keras-hub task model whose backbone and head compute in `dtype`.

    Args:
        model: A task with a `backbone` (a `BertCNNClassifier`, or keras-hub's
            `BertTextClassifier`), trained in any precision.
        dtype: One of `INFERENCE_DTYPES`. `"bfloat16"` stores and computes in
            bfloat16 (the fastest on CPUs with AVX512-BF16); `"mixed_bfloat16"`
            keeps float32 weights and casts them at each layer.

    Returns:
        The model itself when it already computes in `dtype`, else a new model
        with the same weights, cast. Its outputs keep the compute dtype; cast
        them to float32 before a softmax if exact sums matter.

    Example:
    ```python
    import numpy as np
    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf.precision import with_compute_dtype

    classifier = BertCNNClassifier.from_preset("offline", num_classes=2)
    fast = with_compute_dtype(classifier, "bfloat16")
    fast.predict(["a fine film", "a dull film"]).dtype  # bfloat16 logits
    ```
    """
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"dtype must be one of {INFERENCE_DTYPES}, not {dtype!r}.")
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ValueError(
            f"{type(model).__name__} has no backbone; with_compute_dtype rebuilds keras-hub "
            "task models (BertCNNClassifier, BertTextClassifier)."
        )
    if backbone.dtype_policy.name == dtype:
        return model
    config = model.get_config()
    # The task's own layers take the backbone's policy, so one change is enough.
    config["backbone"]["config"]["dtype"] = keras.dtype_policies.serialize(
        keras.dtype_policies.get(dtype)
    )
    # The preprocessor is shared as it is: its vocabulary lives in assets,
    # which a config does not carry.
    config["preprocessor"] = None
    copy = type(model).from_config(config)
    copy.set_weights(model.get_weights())
    copy.preprocessor = model.preprocessor
    return copy


def compute_dtype(model):
    """The dtype a task's backbone computes in (`"float32"`, `"bfloat16"`, ...)."""
    return getattr(model, "backbone", model).dtype_policy.compute_dtype
