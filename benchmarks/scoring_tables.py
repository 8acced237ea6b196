"""RESULTS.md's file-scoring section: `bertcnn predict --input` at growing row counts, and resuming.

Built from `results/scoring.jsonl` (written by `scoring.py`) by `python -m benchmarks.report`:

    from benchmarks.results import SCORING, read_results
    from benchmarks.scoring_tables import scoring_section
    print(scoring_section(read_results(SCORING)[-1]))
"""

from benchmarks.machine import describe_machine


def scoring_section(row):
    """The section from one `scoring.py` run (the newest)."""
    results = row["results"]
    sizes = sorted((key for key in results if key.isdigit()), key=int)
    smallest = results[sizes[0]]
    lines = [
        f"Command: `{row['command']}` ({row['time']}; {describe_machine(row['machine'])}). sst2 dev sentences "
        f"repeated to each row count, all-MiniLM-L6-v2 with a CNN head, chunks of {row['chunk_rows']:,} rows, "
        "each run a child process (its own peak RSS).",
        "",
        "| rows | seconds | rows/s | peak RSS | peak RSS against the smallest file |",
        "|---|---|---|---|---|",
    ]
    for size in sizes:
        result = results[size]
        lines.append(
            f"| {int(size):,} | {result['seconds']:.0f} | {result['rows_per_s']:.0f} | {result['peak_rss_mb']:.0f} MB | "
            f"{result['peak_rss_mb'] / smallest['peak_rss_mb']:.3f}x |"
        )
    resume = results.get("resume")
    if resume:
        lines += [
            "",
            f"Killed (SIGKILL) after {resume['killed_after_rows']:,} of {resume['rows']:,} rows, in chunks of "
            f"{resume['chunk_rows']:,}, then started again with `--resume`: it finished in {resume['seconds']:.0f} s "
            f"against {resume['uninterrupted_seconds']:.0f} s for the whole file uninterrupted; the output "
            f"{'holds the same rows in the same order' if resume['same_rows_in_order'] else 'DIFFERS'}.",
        ]
    return "\n".join(lines) + "\n"
