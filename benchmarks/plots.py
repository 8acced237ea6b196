"""The plots in benchmarks/plots/, drawn from the results files by `python -m benchmarks.report`.

    from benchmarks.plots import plot_scaling
    from benchmarks.results import SCALING, read_document
    plot_scaling(read_document(SCALING), "/tmp/speed_scaling.png")
"""

import io

from benchmarks.accuracy_tables import MODEL_NAMES
from benchmarks.accuracy_tables import MODEL_ORDER
from benchmarks.accuracy_tables import score_groups
from benchmarks.reference import DATASETS
from benchmarks.reference import KIM_2014
from benchmarks.reference import TARGETS
from benchmarks.results import write_whole
from benchmarks.setups import default_setups_with_folds
from benchmarks.setups import describe_setup


def save_png(figure, path):
    """Writes a Matplotlib figure as a PNG, whole or not at all."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    write_whole(path, buffer.getvalue())


def plot_accuracy(rows, path, folds=()):
    """One panel per dataset at the defaults (`default_setups`): mean over seeds per head,
    the seeds' spread as error bars, Kim (2014) and the target as lines; a dataset with no run
    at the defaults on its own split but k-fold runs (`folds`) shows those, over the folds. Each
    panel has its own y-range, since the heads differ by a point or two; the variants are in the tables."""
    import numpy as np
    from matplotlib.figure import Figure

    groups = score_groups(rows)
    setups, folded = default_setups_with_folds(rows, folds)
    groups.update(score_groups([row for row in folds if row["dataset"] in folded]))
    models = sorted({model for *_, model in groups}, key=MODEL_ORDER.index)
    colors = {model: f"C{index}" for index, model in enumerate(models)}
    columns = 4
    panel_rows = -(-len(setups) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.9 * panel_rows + 0.6))
    for index, (dataset, setup) in enumerate(setups.items()):
        axes = figure.add_subplot(panel_rows, columns, index + 1)
        shown = [(m, groups[(dataset, setup, m)]) for m in models if groups.get((dataset, setup, m))]
        means = [np.mean(scores) for _, scores in shown]
        errors = [np.std(scores, ddof=1) if len(scores) > 1 else 0 for _, scores in shown]
        axes.bar(range(len(shown)), means, yerr=errors, capsize=3, color=[colors[m] for m, _ in shown])
        lines = []
        for value, style in ((KIM_2014.get(dataset), "k-"), (TARGETS.get(dataset), "r--")):
            if value is not None:
                axes.axhline(value, color=style[0], linestyle=style[1:], linewidth=1)
                lines.append(value)
        values = [m - e for m, e in zip(means, errors)] + lines
        low = min(values) - 3
        high = max([m + e for m, e in zip(means, errors)] + lines) + 1.5
        axes.set_ylim(low, high)
        label_height = 0.12 * (high - low)  # two lines at fontsize 7 in a panel this size
        for x, (mean, error, (_, scores)) in enumerate(zip(means, errors, shown)):
            # Inside the bar, clear of the error bar; above it where the bar is too short to hold it.
            inside = mean - error - low > label_height + 0.4
            axes.text(x, low + 0.4 if inside else mean + error + 0.2, f"{mean:.1f}\n({len(scores)})",
                      ha="center", va="bottom", fontsize=7, color="white" if inside else "black")
        axes.set_xticks(range(len(shown)), [m for m, _ in shown], fontsize=7)
        metric = DATASETS[dataset][1].replace("_", "-")
        protocol = next((f"{row['folds']}-fold, " for row in folds if row["dataset"] == dataset), "") if dataset in folded else ""
        axes.set_title(f"{dataset} ({metric}, {protocol}{describe_setup(setup)})", fontsize=8)
        axes.tick_params(axis="y", labelsize=7)
        axes.grid(True, axis="y", alpha=0.3)
    figure.suptitle(
        "all-MiniLM-L6-v2 at the defaults, same budget per head: mean over seeds (seeds in brackets; "
        "folds on k-fold panels); "
        + ", ".join(f"{m} = {MODEL_NAMES.get(m, m)}" for m in models)
        + ".\nBlack line: Kim (2014)'s CNN; red dashed line: the target.",
        fontsize=8,
    )
    figure.tight_layout()
    save_png(figure, path)


def plot_scaling(row, path):
    """Two panels: texts/s against length (batch 32) and against batch size (sst2 dev)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    for name, values in row["texts_per_s_by_length"].items():
        left.plot(row["lengths"], values, marker="o", label=name)
    left.set(xscale="log", yscale="log", xlabel="tokens per text", ylabel="texts/s",
             title="Texts/s against length (batch 32)")
    left.set_xticks(row["lengths"], [str(n) for n in row["lengths"]])
    for name, values in row["texts_per_s_by_batch"].items():
        right.plot(row["batch_sizes"], values, marker="o", label=name)
    right.set(xscale="log", xlabel="batch size", ylabel="texts/s",
              title="Texts/s against batch size (sst2 dev)")
    right.set_xticks(row["batch_sizes"], [str(n) for n in row["batch_sizes"]])
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(f"all-MiniLM-L6-v2 + CNN head, Keras model, {row['machine']['cores']} CPU cores")
    figure.tight_layout()
    save_png(figure, path)
