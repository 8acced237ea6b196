"""Is one classifier right more often than another on the same examples?

Two heads scored on one test split differ by a point or less on most text
classification sets, and on a few hundred examples that is within the noise
(benchmarks/RESULTS.md). McNemar's exact test reads only the examples where
the two disagree: if neither head is better, each of those is equally likely
to go either way.
"""

import numpy as np
from scipy.stats import binomtest


def mcnemar_p(first_only, second_only):
    """Exact two-sided McNemar p-value from the two discordant counts.

    Args:
        first_only: Examples only the first classifier gets right.
        second_only: Examples only the second gets right.

    Example:
    ```python
    from bertcnn_tf.training.significance import mcnemar_p

    mcnemar_p(15, 5)   # 0.041: unlikely if the two were equally good
    mcnemar_p(13, 10)  # 0.68: not separable
    ```
    """
    if first_only + second_only == 0:
        return 1.0
    return float(binomtest(min(first_only, second_only), first_only + second_only, 0.5).pvalue)


def paired_comparison(first_correct, second_correct):
    """McNemar's test on two classifiers' per-example correctness.

    Args:
        first_correct: Booleans, one per example, in one order.
        second_correct: Booleans for the same examples in the same order.

    Returns:
        A dict: `examples`, `first_only` and `second_only` (the examples
        only that classifier gets right) and McNemar's `p`.

    Example:
    ```python
    from bertcnn_tf.training.significance import paired_comparison

    paired_comparison([True, True, False, True], [True, False, False, False])
    # {'examples': 4, 'first_only': 2, 'second_only': 0, 'p': 0.5}
    ```
    """
    first_only, second_only = discordant(first_correct, second_correct)
    return {
        "examples": len(first_correct),
        "first_only": first_only,
        "second_only": second_only,
        "p": mcnemar_p(first_only, second_only),
    }


def discordant(first_correct, second_correct):
    """(examples only the first classifier gets right, examples only the second gets right).

    >>> discordant([True, True, False, True], [True, False, False, False])
    (2, 0)
    """
    first = np.asarray(first_correct, dtype=bool)
    second = np.asarray(second_correct, dtype=bool)
    if first.ndim != 1 or first.shape != second.shape:
        raise ValueError(
            f"Per-example correctness of shapes {first.shape} and {second.shape}: both must be "
            "one flag per example, for the same examples in the same order."
        )
    return int(np.sum(first & ~second)), int(np.sum(second & ~first))


def format_p(p):
    """A p-value as tables print it: two decimals, or "< 0.01"."""
    return "< 0.01" if p < 0.005 else f"{p:.2f}"
