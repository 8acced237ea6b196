"""RESULTS.md's file-scoring section: `bertcnn predict --input` at growing row counts, per engine, and resuming.

Built from `results/scoring.jsonl` (written by `scoring.py`) by `python -m benchmarks.report`:

    from benchmarks.results import SCORING, read_results
    from benchmarks.scoring_tables import scoring_section
    print(scoring_section(read_results(SCORING)))
"""

from benchmarks.machine import describe_machine

ENGINES = ("local", "beam")
ENGINE_NAMES = {"local": "local (`--engine local`)", "beam": "Beam (`--engine beam`)"}


def scoring_section(rows):
    """The section from `scoring.py` runs: the newest of each engine (a list of rows), or one row."""
    rows = [rows] if isinstance(rows, dict) else list(rows)
    newest = {engine_of(row): row for row in rows}
    chosen = [newest[engine] for engine in ENGINES if engine in newest]
    lines = []
    for row in chosen:
        lines.append(
            f"{ENGINE_NAMES[engine_of(row)]}: `{row['command']}` ({row['time']}; {describe_machine(row['machine'])}"
            f"{runner_text(row)})."
        )
    lines += [
        "",
        "sst2 dev sentences repeated to each row count, all-MiniLM-L6-v2 with a CNN head, chunks of "
        f"{chosen[0]['chunk_rows']:,} rows, each run a child process (its own peak RSS; Beam: its process tree's).",
        "",
        "| engine | rows | seconds | rows/s | peak RSS | peak RSS against the engine's smallest file |",
        "|---|---|---|---|---|---|",
    ]
    for row in chosen:
        results = row["results"]
        sizes = sorted((key for key in results if key.isdigit()), key=int)
        smallest = peak_mb(results[sizes[0]])
        for size in sizes:
            result = results[size]
            lines.append(
                f"| {engine_of(row)} | {int(size):,} | {result['seconds']:.0f} | {result['rows_per_s']:.0f} | "
                f"{peak_mb(result):.0f} MB | {peak_mb(result) / smallest:.3f}x |"
            )
    for row in chosen:
        resume = row["results"].get("resume")
        if resume:
            lines += [
                "",
                f"Killed (SIGKILL) after {resume['killed_after_rows']:,} of {resume['rows']:,} rows, in chunks of "
                f"{resume['chunk_rows']:,}, then started again with `--resume`: it finished in {resume['seconds']:.0f} s "
                f"against {resume['uninterrupted_seconds']:.0f} s for the whole file uninterrupted; the output "
                f"{'holds the same rows in the same order' if resume['same_rows_in_order'] else 'DIFFERS'}.",
            ]
        elif engine_of(row) == "beam":
            lines += [
                "",
                "Beam has no resume to time: a runner retries a failed bundle, and the DirectRunner keeps no "
                "checkpoint across a killed process, so a killed job started again scores every row again "
                "(its shards get their final names only when it succeeds; docs/beam.md).",
            ]
    return "\n".join(lines) + "\n"


def engine_of(row):
    """A row's engine; rows recorded before there were engines are the local one."""
    return row.get("engine", "local")


def peak_mb(result):
    """The larger of the child's own peak RSS and its process tree's (sampled), in MB."""
    return max(result["peak_rss_mb"], result.get("tree_peak_rss_mb", 0.0))


def runner_text(row):
    return f"; {row['runner']}, apache-beam {row['beam']}" if engine_of(row) == "beam" else ""
