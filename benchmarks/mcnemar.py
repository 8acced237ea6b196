"""McNemar's exact test on two classifiers' per-example correctness, as the reports print it.

The same test as `bertcnn_tf`'s significance module (tests/test_benchmark_reports.py checks
they agree), written here so that the reports run without the package:

    from benchmarks.mcnemar import discordant, format_p, mcnemar_p
    first_only, second_only = discordant([True, True, False, True], [True, False, False, False])  # 2, 0
    format_p(mcnemar_p(first_only, second_only))  # '0.50'
"""


def discordant(first_correct, second_correct):
    """(examples only the first gets right, only the second), over the same examples in one order."""
    if len(first_correct) != len(second_correct):
        raise ValueError(
            f"per-example correctness of {len(first_correct)} and {len(second_correct)} examples: "
            "both must be one flag per example, for the same examples in the same order"
        )
    pairs = list(zip(first_correct, second_correct))
    return sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)


def mcnemar_p(first_only, second_only):
    """Exact two-sided McNemar p-value from the two discordant counts (1.0 where there are none)."""
    from scipy.stats import binomtest

    if first_only + second_only == 0:
        return 1.0
    return float(binomtest(min(first_only, second_only), first_only + second_only, 0.5).pvalue)


def format_p(p):
    """A p-value as tables print it: two decimals, or "< 0.01"."""
    return "< 0.01" if p < 0.005 else f"{p:.2f}"
