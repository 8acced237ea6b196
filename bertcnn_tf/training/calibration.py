"""Probabilities that mean what they say: temperature scaling, and how far off they were.

Fine-tuned classifiers are over-confident (Guo et al., 2017, "On Calibration
of Modern Neural Networks"). Temperature scaling divides the logits by one
number `T`, fitted on the validation split by negative log-likelihood: it
changes how sure the probabilities are, never which class is the most
probable. Multi-label models get one `T` per label, since each label's
sigmoid is its own forecast. `bertcnn_tf.postprocessing.probabilities`
applies it, in Python and in the SavedModel's graph alike.
"""

import numpy as np
from scipy.optimize import minimize_scalar

from bertcnn_tf import postprocessing

# Reliability bins: the confidences [0, 1] in 15 equal bins, as Guo et al.
ECE_BINS = 15
# The fitted temperature stays within [1/20, 20]: a log-temperature search window wide enough for
# any fine-tuned model, and a guard against a degenerate validation split (say, all one class).
LOG_TEMPERATURE_BOUNDS = (-np.log(20.0), np.log(20.0))


def fit_temperature(logits, targets, multi_label):
    """The temperature (multi-label: one per label) that minimizes the NLL of `targets`.

    Args:
        logits: `[n, classes]` logits (`postprocessing.logits` of any model's outputs).
        targets: `[n, classes]` one-hot or multi-hot targets.
        multi_label: bool.

    Returns:
        A float, or a list of floats (one per label) for multi-label.

    Example:
    ```python
    import numpy as np

    logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])  # sure, and wrong once
    targets = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
    fit_temperature(logits, targets, multi_label=False)  # > 1: softer probabilities
    ```
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if multi_label:
        return [_fit(logits[:, [k]], targets[:, [k]], multi_label=True) for k in range(logits.shape[1])]
    return _fit(logits, targets, multi_label=False)


def _fit(logits, targets, multi_label):
    def loss(log_temperature):
        probabilities = postprocessing.probabilities(logits, multi_label, temperature=np.exp(log_temperature))
        return negative_log_likelihood(probabilities.numpy(), targets, multi_label)

    result = minimize_scalar(loss, bounds=LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def negative_log_likelihood(probabilities, targets, multi_label):
    """The mean negative log-likelihood of `targets` (multi-label: per label, as binary cross-entropy).

    >>> round(negative_log_likelihood([[0.5, 0.5]], [[1, 0]], multi_label=False), 4)
    0.6931
    """
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    targets = np.asarray(targets, dtype=np.float64)
    if multi_label:
        return float(-np.mean(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)))
    return float(-np.mean(np.sum(targets * np.log(probabilities), axis=-1)))


def reliability_bins(probabilities, targets, multi_label, bins=ECE_BINS):
    """Per confidence bin: its mean confidence, how often that forecast was right, and its count.

    Single-label: the forecast is the top class at its probability. Multi-label:
    every label's probability is a forecast that the label applies.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets = np.asarray(targets)
    if multi_label:
        confidence, correct = probabilities.ravel(), targets.ravel().astype(bool)
    else:
        confidence = probabilities.max(axis=-1)
        correct = probabilities.argmax(axis=-1) == targets.argmax(axis=-1)
    # Bin i holds confidences in (i / bins, (i + 1) / bins]; the first also takes 0.
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows = []
    for i in range(bins):
        chosen = index == i
        if chosen.any():
            rows.append(
                {
                    "bin": [i / bins, (i + 1) / bins],
                    "confidence": float(confidence[chosen].mean()),
                    "accuracy": float(correct[chosen].mean()),
                    "count": int(chosen.sum()),
                }
            )
    return rows


def expected_calibration_error(probabilities, targets, multi_label, bins=ECE_BINS):
    """ECE: the count-weighted mean gap between confidence and accuracy over `bins` bins.

    >>> expected_calibration_error([[0.9, 0.1], [0.9, 0.1]], [[1, 0], [0, 1]], multi_label=False)
    0.4
    """
    rows = reliability_bins(probabilities, targets, multi_label, bins)
    total = sum(row["count"] for row in rows)
    return round(sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in rows) / total, 10)


def calibration_report(outputs, targets, multi_label, temperature, from_logits=True):
    """ECE and NLL of `outputs` before and after `temperature`, and the calibrated reliability bins."""
    before = postprocessing.probabilities(outputs, multi_label, from_logits).numpy()
    after = postprocessing.probabilities(outputs, multi_label, from_logits, temperature).numpy()
    return {
        "temperature": temperature,
        "ece": {
            "before": expected_calibration_error(before, targets, multi_label),
            "after": expected_calibration_error(after, targets, multi_label),
        },
        "nll": {
            "before": negative_log_likelihood(before, targets, multi_label),
            "after": negative_log_likelihood(after, targets, multi_label),
        },
        "reliability": reliability_bins(after, targets, multi_label),
    }
