import math

import numpy as np
import pytest

from bertcnn_tf.training.significance import format_p
from bertcnn_tf.training.significance import mcnemar_p
from bertcnn_tf.training.significance import paired_comparison


def two_sided_binomial_p(k, n):
    """P(X <= k or X >= n - k) for X ~ Binomial(n, 1/2), k <= n / 2, summed by hand."""
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("first_only, second_only", [(15, 5), (5, 15), (13, 10), (46, 37), (172, 46), (0, 6)])
def test_mcnemar_p_is_the_exact_two_sided_binomial_tail(first_only, second_only):
    expected = two_sided_binomial_p(min(first_only, second_only), first_only + second_only)
    assert mcnemar_p(first_only, second_only) == pytest.approx(expected, rel=1e-9)


def test_no_disagreement_is_no_evidence():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 3) == 1.0


def test_paired_comparison_counts_only_the_disagreements():
    first = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    second = np.array([1, 0, 0, 0, 1, 1], dtype=bool)
    result = paired_comparison(first, second)
    assert result == {"examples": 6, "first_only": 2, "second_only": 1, "p": mcnemar_p(2, 1)}
    swapped = paired_comparison(second, first)
    assert (swapped["first_only"], swapped["second_only"], swapped["p"]) == (1, 2, result["p"])


def test_paired_comparison_refuses_unpaired_flags():
    with pytest.raises(ValueError, match="same examples in the same order"):
        paired_comparison([True, False], [True, False, True])
    with pytest.raises(ValueError, match="one flag per example"):
        paired_comparison([[True, False]], [[True, False]])


def test_format_p():
    assert format_p(0.004) == "< 0.01"
    assert format_p(0.0414) == "0.04"
    assert format_p(1.0) == "1.00"
