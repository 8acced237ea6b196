"""Answering "unknown" where the model should not guess: the threshold, and how well it abstains.

A single-label model abstains where its top (calibrated) probability is
below `abstain_below`: `bertcnn_tf.postprocessing.decisions` then answers
`label_id` -1 and the run's `unknown_label`, in Python and in the SavedModel.
`bertcnn train --abstain` tunes the threshold on the validation split:

- with rows labelled `unknown_label` there (requests outside every class,
  which are never trained as a class), the threshold with the best macro-F1
  over the known classes plus "unknown" (the open-intent measure of Zhang et
  al., 2021, "Deep Open Intent Classification with Adaptive Decision Boundary");
- without them, the threshold that answers `target_coverage` of the rows.

Targets here are `LabelVocabulary(..., unknown_label=...).encode` rows:
one-hot for known rows, all zeros for unknown ones.
"""

import numpy as np
from sklearn import metrics as sk_metrics

from bertcnn_tf.data.files import DataError

# Thresholds tried when unknown rows are there: this many quantiles of the validation confidences.
CANDIDATES = 200
# Points kept of the risk-coverage curve (it has one per answered row).
CURVE_POINTS = 100


def tune_abstain_below(probabilities, targets, target_coverage=0.95):
    """The confidence below which to abstain, tuned on labelled validation rows.

    Args:
        probabilities: `[n, classes]` calibrated probabilities.
        targets: `[n, classes]`: one-hot, or all zeros for an unknown row.
        target_coverage: The share of rows to answer when there are no unknown rows.

    Returns:
        A float; rows whose top probability is below it are answered "unknown".

    Example:
    ```python
    probabilities = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    targets = np.array([[1, 0], [0, 0], [0, 1]])  # the second row is unknown
    tune_abstain_below(probabilities, targets)  # 0.8: answers the first and last rows only
    ```
    """
    probabilities, targets = np.asarray(probabilities), np.asarray(targets)
    known = targets.sum(axis=-1) > 0
    if not known.any():
        raise DataError(
            "The validation split has only unknown rows: it needs rows of the known classes too, to "
            "fit the temperature and to tell what the model gets right. Add some, or pass another "
            "--validation file."
        )
    if not 0 < target_coverage <= 1:
        raise ValueError(f"target_coverage must be in (0, 1], not {target_coverage}.")
    confidence = probabilities.max(axis=-1)
    if known.all():
        # The lowest threshold that still leaves `target_coverage` of the rows answered.
        return float(np.quantile(confidence, 1 - target_coverage, method="lower"))
    candidates = np.unique(np.quantile(confidence, np.linspace(0, 1, CANDIDATES), method="lower"))
    candidates = np.append(candidates, np.nextafter(confidence.max(), np.inf))  # abstain on every row
    truth = open_set_ids(targets)
    scores = [open_macro_f1(truth, open_set_predictions(probabilities, threshold)) for threshold in candidates]
    # The first best: ties go to the lower threshold, which answers more rows.
    return float(candidates[int(np.argmax(scores))])


def open_set_ids(targets):
    """Class ids of the rows, with "unknown" as id `classes` (past the last class)."""
    targets = np.asarray(targets)
    return np.where(targets.sum(axis=-1) > 0, targets.argmax(axis=-1), targets.shape[-1])


def open_set_predictions(probabilities, abstain_below):
    """Predicted ids, with "unknown" as id `classes` where the top probability is below `abstain_below`."""
    probabilities = np.asarray(probabilities)
    unsure = probabilities.max(axis=-1) < abstain_below
    return np.where(unsure, probabilities.shape[-1], probabilities.argmax(axis=-1))


def open_macro_f1(truth, predicted):
    """Macro-F1 over the known classes and "unknown" that occur in `truth` or `predicted`."""
    return float(sk_metrics.f1_score(truth, predicted, average="macro", zero_division=0))


def abstention_report(probabilities, targets, abstain_below):
    """How well a run abstains at `abstain_below` on labelled rows (unknown rows: all-zero targets).

    Returns a JSON-ready dict: `abstain_below`; `coverage` (share of rows
    answered); `selective_accuracy` (accuracy on the known rows answered);
    `unknown_precision` and `unknown_recall` (of the "unknown" answers
    against the unknown rows; None where there are none to count);
    `open_accuracy` and `open_macro_f1` over the known classes plus unknown;
    and `risk_coverage`, [coverage, error rate on the known rows answered]
    as the threshold rises (at most `CURVE_POINTS` points).
    """
    probabilities, targets = np.asarray(probabilities), np.asarray(targets)
    truth = open_set_ids(targets)
    predicted = open_set_predictions(probabilities, abstain_below)
    unknown_id = probabilities.shape[-1]
    known, answered = truth != unknown_id, predicted != unknown_id
    said_unknown, is_unknown = ~answered, ~known
    both = int(np.sum(said_unknown & is_unknown))
    return {
        "abstain_below": abstain_below,
        "coverage": float(answered.mean()) if len(truth) else 0.0,
        "selective_accuracy": _share(predicted[known & answered] == truth[known & answered]),
        "unknown_precision": both / int(said_unknown.sum()) if said_unknown.any() else None,
        "unknown_recall": both / int(is_unknown.sum()) if is_unknown.any() else None,
        "open_accuracy": _share(predicted == truth),
        "open_macro_f1": open_macro_f1(truth, predicted),
        "risk_coverage": risk_coverage(probabilities[known], truth[known]),
    }


def risk_coverage(probabilities, truth, points=CURVE_POINTS):
    """[coverage, risk] pairs: answering the most confident k rows, for k from 1 to all of them."""
    if not len(truth):
        return []
    order = np.argsort(-probabilities.max(axis=-1), kind="stable")
    wrong = (probabilities.argmax(axis=-1) != truth)[order]
    answered = np.arange(1, len(truth) + 1)
    risk = np.cumsum(wrong) / answered
    keep = np.unique(np.linspace(0, len(truth) - 1, min(points, len(truth))).round().astype(int))
    return [[float(answered[i] / len(truth)), float(risk[i])] for i in keep]


def _share(flags):
    return float(np.mean(flags)) if len(flags) else None
