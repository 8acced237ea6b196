"""How good a trained model is: metrics, the tuned threshold, reports and plots."""

import json
import os

import numpy as np
from sklearn import metrics as sk_metrics

from bertcnn_tf.data.files import DataError
from bertcnn_tf.data.files import LabelVocabulary
from bertcnn_tf import postprocessing
from bertcnn_tf.inference import predict_logits
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.io_utils import atomic_write_bytes
from bertcnn_tf.io_utils import atomic_write_text
from bertcnn_tf.postprocessing import chosen_classes
from bertcnn_tf.training.abstention import abstention_report
from bertcnn_tf.training.abstention import open_set_ids
from bertcnn_tf.training.abstention import open_set_predictions
from bertcnn_tf.training.calibration import calibration_report
from bertcnn_tf.training.runs import as_run


# Thresholds `best_threshold` tries: 0.05 to 0.95 in steps of 0.05.
THRESHOLD_CANDIDATES = tuple(round(0.05 * i, 2) for i in range(1, 20))


def best_threshold(targets, probabilities, candidates=THRESHOLD_CANDIDATES):
    """The multi-label decision threshold with the highest macro-F1 on these rows.

    One threshold for all labels: per-label thresholds fitted on a validation
    split overfit the rare labels, which have a handful of positives there.
    Ties go to the candidate closest to 0.5.

    Example:
    ```python
    import numpy as np
    from bertcnn_tf.training.evaluation import best_threshold

    targets = np.array([[1, 0], [0, 1], [1, 1]])
    probabilities = np.array([[0.4, 0.1], [0.2, 0.35], [0.45, 0.3]])
    best_threshold(targets, probabilities)  # 0.3: every label found, none wrong
    ```
    """
    y_true = np.asarray(targets).astype(int)
    probabilities = np.asarray(probabilities)
    if y_true.shape != probabilities.shape or y_true.ndim != 2:
        raise ValueError(
            f"targets {y_true.shape} and probabilities {probabilities.shape} must be the same "
            "[rows, labels] shape"
        )

    def macro_f1(threshold):
        y_pred = chosen_classes(probabilities, multi_label=True, threshold=threshold).numpy().astype(int)
        return sk_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)

    scores = {threshold: macro_f1(threshold) for threshold in candidates}
    return max(candidates, key=lambda t: (scores[t], -abs(t - 0.5)))


def classification_metrics(targets, probabilities, labels, multi_label=False, threshold=0.5):
    """Accuracy, macro-F1 and per-class precision/recall/F1.

    Args:
        targets: `[n, classes]` one-hot or multi-hot targets.
        probabilities: `[n, classes]` predicted probabilities.
        labels: The class names, in class-id order.
        multi_label: Whether rows can have several labels.
        threshold: The probability above which a label is predicted
            (multi-label only).

    Returns:
        A JSON-ready dict. Single-label: `accuracy`, `macro_f1`,
        `weighted_f1`, `per_class`, `confusion_matrix`. Multi-label:
        `subset_accuracy`, `micro_f1`, `macro_f1`, `per_class` (and
        `accuracy` is the subset accuracy, so every report has one).
    """
    targets = np.asarray(targets)
    ids = list(range(len(labels)))
    chosen = chosen_classes(probabilities, multi_label, threshold).numpy()
    if multi_label:
        y_true = targets.astype(int)
        y_pred = chosen.astype(int)
    else:
        y_true = targets.argmax(-1)
        y_pred = chosen.argmax(-1)
    precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=None if multi_label else ids, zero_division=0
    )
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    report = {
        "examples": int(len(targets)),
        "macro_f1": float(sk_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class": per_class,
    }
    if multi_label:
        subset = float(sk_metrics.accuracy_score(y_true, y_pred))
        report.update(
            accuracy=subset,
            subset_accuracy=subset,
            micro_f1=float(sk_metrics.f1_score(y_true, y_pred, average="micro", zero_division=0)),
            threshold=threshold,
        )
    else:
        report.update(
            accuracy=float(sk_metrics.accuracy_score(y_true, y_pred)),
            weighted_f1=float(
                sk_metrics.f1_score(y_true, y_pred, average="weighted", zero_division=0)
            ),
            confusion_matrix=sk_metrics.confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        )
    return report


def evaluate(run, examples, batch_size=32):
    """Metrics of a trained run on labelled `Examples` (`classification_metrics`).

    Also `calibration`: the run's temperature, ECE and NLL before and after
    it, and the reliability bins (`bertcnn_tf.training.calibration`). A run
    that abstains (`abstain_below`) is measured on its classes over the rows
    of known classes, and `abstention` reports how it abstains over all rows,
    rows labelled its `unknown_label` included (`bertcnn_tf.training.abstention`).

    Example:
    ```python
    import bertcnn_tf

    metrics = bertcnn_tf.evaluate("runs/demo", bertcnn_tf.read_examples("test.csv"))
    metrics["accuracy"], metrics["macro_f1"]
    ```
    """
    run = as_run(run)
    abstains = run.abstain_below is not None
    unknown_label = run.unknown_label if abstains else None
    targets = LabelVocabulary(run.labels, run.multi_label, unknown_label).encode(examples)
    outputs = predict_logits(run.model, examples, batch_size)
    from_logits = not postprocessing.outputs_are_probabilities(run.model, run.multi_label)
    probabilities = postprocessing.probabilities(outputs, run.multi_label, from_logits, run.temperature).numpy()
    # The classes' metrics and calibration read the known rows: an unknown row has no class.
    known = targets.sum(axis=-1) > 0 if abstains else np.ones(len(targets), bool)
    if not known.any():
        raise DataError(
            f"{examples.source}: every row is labelled {unknown_label!r}; add rows of the known classes "
            "to measure the model on them."
        )
    metrics = classification_metrics(
        targets[known], probabilities[known], run.labels, multi_label=run.multi_label, threshold=run.threshold
    )
    metrics["calibration"] = calibration_report(
        outputs[known], targets[known], run.multi_label, run.temperature, from_logits
    )
    if abstains:
        metrics["abstention"] = abstention_report(probabilities, targets, run.abstain_below)
    return metrics


def correct_per_example(run, examples, batch_size=32):
    """One flag per example: the run predicts its label (multi-label: all its labels, no more).

    A run that abstains is right on a row of its unknown label when it
    abstains there, and on a known row when it answers its class.
    The input of `bertcnn_tf.paired_comparison`, to tell whether two runs
    differ by more than chance on the same examples.
    """
    abstains = run.abstain_below is not None
    targets = LabelVocabulary(run.labels, run.multi_label, run.unknown_label if abstains else None).encode(examples)
    probabilities = predict_probabilities(run.model, examples, run.multi_label, batch_size, run.temperature)
    if abstains:
        return open_set_predictions(probabilities, run.abstain_below) == open_set_ids(targets)
    chosen = chosen_classes(probabilities, run.multi_label, run.threshold).numpy()
    return np.all(chosen == targets.astype(bool), axis=-1)


def plot_confusion_matrix(matrix, labels, path):
    """Saves a confusion-matrix PNG (rows: true labels, columns: predicted)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    figure = Figure(figsize=(1.2 + 0.6 * len(labels), 1.0 + 0.6 * len(labels)))
    axes = figure.add_subplot()
    display = sk_metrics.ConfusionMatrixDisplay(np.asarray(matrix), display_labels=labels)
    display.plot(ax=axes, colorbar=False, xticks_rotation=45)
    axes.set_title("Confusion matrix")
    figure.tight_layout()
    save_figure(figure, path)


def plot_reliability(bins, path, title="Reliability"):
    """Saves a reliability diagram: accuracy against confidence per bin, beside the diagonal.

    `bins` are `calibration.reliability_bins` rows; the bar widths are the bins'.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    axes.bar(
        [row["bin"][0] for row in bins], [row["accuracy"] for row in bins],
        width=[row["bin"][1] - row["bin"][0] for row in bins], align="edge", alpha=0.7, edgecolor="black",
        label="accuracy",
    )
    axes.plot([row["confidence"] for row in bins], [row["accuracy"] for row in bins], "o", color="black", markersize=3)
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    save_figure(figure, path)


def plot_risk_coverage(curve, abstain_below_coverage, path):
    """Saves the risk-coverage curve: the error rate on the answered known rows against the share answered."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 3.5))
    axes = figure.add_subplot()
    axes.plot([point[0] for point in curve], [point[1] for point in curve], color="black")
    axes.axvline(abstain_below_coverage, color="grey", linestyle="--", linewidth=1, label="the run's threshold")
    axes.set(xlim=(0, 1), ylim=(0, None), xlabel="coverage (share answered)", ylabel="risk (error rate)",
             title="Risk against coverage, known rows")
    axes.legend(loc="upper left")
    figure.tight_layout()
    save_figure(figure, path)


def plot_training_curves(history, path):
    """Saves loss and validation macro-F1 per epoch as one PNG.

    Args:
        history: dict of metric name → list of per-epoch values (Keras'
            `History.history`, or the columns of the CSV log).
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.5))
    panels = [("loss", ["loss", "val_loss"]), ("macro-F1", ["macro_f1", "val_macro_f1"])]
    for index, (title, keys) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 2, index)
        for key in keys:
            if history.get(key):
                epochs = range(1, len(history[key]) + 1)
                axes.plot(epochs, history[key], marker="o", label=key)
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.legend()
    figure.tight_layout()
    save_figure(figure, path)


def save_figure(figure, path):
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())


def write_report(run_dir, report, labels, prefix=""):
    """Writes `report.json`, `report.md` and the confusion-matrix PNG."""
    atomic_write_text(
        os.path.join(run_dir, f"{prefix}report.json"),
        json.dumps(report, indent=2, ensure_ascii=False) + "\n",
    )
    atomic_write_text(os.path.join(run_dir, f"{prefix}report.md"), report_markdown(report))
    for split, metrics in report.get("splits", {}).items():
        if "confusion_matrix" in metrics:
            plot_confusion_matrix(
                metrics["confusion_matrix"],
                labels,
                os.path.join(run_dir, f"{prefix}confusion_matrix_{split}.png"),
            )
        if "abstention" in metrics:
            abstention = metrics["abstention"]
            plot_risk_coverage(
                abstention["risk_coverage"], abstention["coverage"],
                os.path.join(run_dir, f"{prefix}risk_coverage_{split}.png"),
            )
        if "calibration" in metrics:
            calibration = metrics["calibration"]
            plot_reliability(
                calibration["reliability"],
                os.path.join(run_dir, f"{prefix}reliability_{split}.png"),
                title=f"{split}: ECE {calibration['ece']['after']:.3f} (uncalibrated {calibration['ece']['before']:.3f})",
            )


def report_markdown(report):
    lines = ["# Report", ""]
    for key in ("backbone", "head", "sequence_length", "epochs", "multi_label"):
        if key in report.get("settings", {}):
            lines.append(f"- {key}: {report['settings'][key]}")
    for split, metrics in report.get("splits", {}).items():
        lines += ["", f"## {split} ({metrics['examples']} examples)", ""]
        summary = ["accuracy", "macro_f1", "micro_f1", "subset_accuracy", "weighted_f1"]
        lines += [f"- {key}: {metrics[key]:.4f}" for key in summary if key in metrics]
        if "abstention" in metrics:
            abstention = metrics["abstention"]
            lines += [
                f"- {name}: {abstention[name]:.4f}" for name in ("coverage", "selective_accuracy", "unknown_precision",
                                                             "unknown_recall", "open_macro_f1")
                if abstention[name] is not None
            ]
        if "calibration" in metrics:
            calibration = metrics["calibration"]
            lines += [
                f"- {name}: {calibration[name]['after']:.4f} (uncalibrated {calibration[name]['before']:.4f})"
                for name in ("ece", "nll")
            ]
        lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, row in metrics["per_class"].items():
            lines.append(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1']:.3f} | {row['support']} |"
            )
    return "\n".join(lines) + "\n"
