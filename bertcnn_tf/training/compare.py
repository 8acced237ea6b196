"""Several heads (or settings) trained with the same budget, seeds and examples, and their gaps tested.

What `bertcnn compare` runs: each candidate trains once per seed into its
own run folder, every candidate of a seed is scored on the same examples,
and each pair is tested with McNemar's exact test on those examples.
"""

import dataclasses
import itertools
import json
import os

import numpy as np

from bertcnn_tf.data.files import stratified_split
from bertcnn_tf.io_utils import atomic_write_text
from bertcnn_tf.training.evaluation import correct_per_example
from bertcnn_tf.training.significance import paired_comparison
from bertcnn_tf.training.trainer import train

COMPARISON_FILE = "comparison.json"
# The TrainingConfig fields a comparison can vary besides the head, and the tag each value gets.
VARIED_SETTINGS = {
    "head_learning_rate_multiplier": lambda factor: f"{factor:g}x",
    "label_smoothing": lambda share: f"ls{share:g}",
}


def compare_candidates(heads, head_learning_rate_multipliers=None, label_smoothings=None):
    """[(name, head, TrainingConfig changes)]: every head once per combination of the values given.

    Head learning-rate multipliers `[1, 20]` are named "cnn-1x", "cnn-20x";
    label smoothings `[0, 0.1]` "cnn-ls0", "cnn-ls0.1"; given neither, each
    head once, named as it is.

    >>> [name for name, _, _ in compare_candidates(["cnn", "cls"], [1, 20], [0, 0.1])][:3]
    ['cnn-1x-ls0', 'cnn-1x-ls0.1', 'cnn-20x-ls0']
    """
    given = {"head_learning_rate_multiplier": head_learning_rate_multipliers, "label_smoothing": label_smoothings}
    axes = [
        [(VARIED_SETTINGS[field](value), field, float(value)) for value in values]
        for field, values in given.items()
        if values
    ]
    return [
        ("-".join([head, *(tag for tag, _, _ in combination)]), head,
         {field: value for _, field, value in combination})
        for head in heads
        for combination in itertools.product(*axes)
    ]


def compare(train_examples, output_dir, config, candidates, seeds, validation_examples=None, test_examples=None):
    """Trains every candidate once per seed and tests each pair's gap on the same examples.

    Args:
        train_examples: `Examples` to train on; without `validation_examples`
            they are split once per seed, so every candidate of a seed is
            validated on the same rows.
        output_dir: Each candidate's run folder goes under it (`NAME/` or
            `NAME/seed-S/`), and `comparison.json` beside them.
        config: The `TrainingConfig` every candidate starts from.
        candidates: `compare_candidates(...)`.
        seeds: The seeds, e.g. `[1, 2, 3]`.
        validation_examples, test_examples: Optional `Examples`; scores are
            on the test set when given, else on the validation set.

    Returns:
        `{"split", "seeds", "heads": {name: mean, std and per-seed scores},
        "paired": [McNemar's test of each pair, per seed]}`, or `None` on a
        multi-worker worker other than the chief.

    Example:
    ```python
    from bertcnn_tf.training.compare import compare, compare_candidates

    summary = compare(examples, "runs/compare", TrainingConfig(), compare_candidates(["cnn", "cls"]), [1, 2, 3])
    summary["heads"]["cnn"]["accuracy"], summary["paired"][0]["p"]
    ```
    """
    split = "test" if test_examples is not None else "validation"
    scores, paired = {name: [] for name, _, _ in candidates}, []
    for seed in seeds:
        seed_train, held_out = train_examples, validation_examples
        if validation_examples is None:
            seed_train, held_out = stratified_split(train_examples, config.validation_split, seed)
        scored = test_examples if test_examples is not None else held_out
        correct = {}
        for name, head, changes in candidates:
            print(f"\n=== {name} seed={seed} ===")
            run_dir = os.path.join(output_dir, name if len(seeds) == 1 else os.path.join(name, f"seed-{seed}"))
            # with_cls_token reshapes every head but "cls", which is that vector already.
            head_config = dataclasses.replace(
                config, head=head, seed=seed, with_cls_token=None if head == "cls" else config.with_cls_token,
                **changes,
            )
            run, report = train(seed_train, run_dir, head_config, held_out, test_examples)
            if report is None:  # a multi-worker worker other than the chief
                continue
            scores[name].append({"seed": seed, **{k: report["splits"][split][k] for k in ("accuracy", "macro_f1")}})
            correct[name] = correct_per_example(run, scored, config.batch_size)
        paired += [
            {"first": first, "second": second, "seed": seed, **paired_comparison(correct[first], correct[second])}
            for first, second in itertools.combinations(correct, 2)
        ]
    if not any(scores.values()):
        return None
    summary = {
        "split": split,
        "seeds": list(seeds),
        "heads": {name: summarize_seeds(runs) for name, runs in scores.items()},
        "paired": paired,
    }
    atomic_write_text(os.path.join(output_dir, COMPARISON_FILE), json.dumps(summary) + "\n")
    return summary


def summarize_seeds(runs):
    """A candidate's mean and sample standard deviation of each metric over its seeds, and the runs."""
    summary = {}
    for metric in ("accuracy", "macro_f1"):
        values = [run[metric] for run in runs]
        summary[metric] = float(np.mean(values))
        summary[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {**summary, "per_seed": runs}
