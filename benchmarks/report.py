"""Rebuilds everything generated from the benchmarks' results files.

    python -m benchmarks.report

Rewrites each generated section of benchmarks/RESULTS.md (between its `<!-- NAME:start -->`
and `<!-- NAME:end -->` markers; the prose around them stays as written), the plots in
benchmarks/plots/ and the README's `results` section, all from benchmarks/results/. The
measurement scripts only record there; run this after any of them. Reads no data set and
trains nothing: it takes seconds.
"""

import argparse
import os

from benchmarks.accuracy_tables import accuracy_section
from benchmarks.agreement import agreement_section
from benchmarks.faithfulness_tables import faithfulness_section
from benchmarks.linear_probe_tables import linear_probe_section
from benchmarks.long_documents_tables import long_documents_section
from benchmarks.markdown import read_section
from benchmarks.markdown import replace_section
from benchmarks.memory_tables import memory_section
from benchmarks.plots import plot_accuracy
from benchmarks.plots import plot_scaling
from benchmarks.readme_table import readme_results
from benchmarks.results import FAITHFULNESS
from benchmarks.results import HEAD_COST
from benchmarks.results import LINEAR_PROBE
from benchmarks.results import LONG_DOCUMENTS
from benchmarks.results import MEMORY
from benchmarks.results import RESULTS_DIR
from benchmarks.results import SCALING
from benchmarks.results import SCORING
from benchmarks.results import SPEED
from benchmarks.results import UNCERTAINTY
from benchmarks.results import read_document
from benchmarks.results import read_results
from benchmarks.setups import read_runs
from benchmarks.scoring_tables import scoring_section
from benchmarks.speed_tables import head_cost_section
from benchmarks.speed_tables import scaling_section
from benchmarks.speed_tables import speed_section
from benchmarks.targets import targets_section
from benchmarks.uncertainty_tables import uncertainty_section
from benchmarks.variants import variants_section

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_MD = os.path.join(HERE, "RESULTS.md")
PLOTS_DIR = os.path.join(HERE, "plots")
README = os.path.join(os.path.dirname(HERE), "README.md")
README_SECTION = "results"


def read_all(results_dir=RESULTS_DIR):
    """Every benchmark's results: {"accuracy" and "folds" (as `setups.read_runs` gives them),
    "speed", "head_cost", "memory", "uncertainty", "scoring", "faithfulness", "long_documents" (rows, oldest first),
    "scaling", "linear_probe" (documents, or None)}."""
    return {
        "accuracy": read_runs(results_dir=results_dir),
        "folds": read_runs(cross_validated=True, results_dir=results_dir),
        "speed": read_results(SPEED, results_dir),
        "head_cost": read_results(HEAD_COST, results_dir),
        "memory": read_results(MEMORY, results_dir),
        "scaling": read_document(SCALING, results_dir),
        "linear_probe": read_document(LINEAR_PROBE, results_dir),
        "uncertainty": read_results(UNCERTAINTY, results_dir),
        "scoring": read_results(SCORING, results_dir),
        "faithfulness": read_results(FAITHFULNESS, results_dir),
        "long_documents": read_results(LONG_DOCUMENTS, results_dir),
    }


def results_sections(results):
    """{section name: Markdown body} of RESULTS.md, for each benchmark with results (`read_all`)."""
    accuracy, folds = results["accuracy"], results["folds"]
    sections = {"targets": targets_section(accuracy, folds, results["speed"], results["head_cost"], results["memory"])}
    if accuracy:
        sections["accuracy"] = accuracy_section(accuracy, folds)
        sections["variants against the defaults"] = variants_section(accuracy, folds)
        sections["agreement between runs"] = agreement_section(accuracy)
    if results["linear_probe"]:
        sections["linear probe"] = linear_probe_section(results["linear_probe"])
    if results["speed"]:
        sections["speed"] = speed_section(results["speed"][-1])
    if results["head_cost"]:
        sections["head cost"] = head_cost_section(results["head_cost"])
    if results["scaling"]:
        sections["scaling"] = scaling_section(results["scaling"])
    if results["memory"]:
        sections["memory"] = memory_section(results["memory"][-1])
    if results["scoring"]:
        sections["file scoring"] = scoring_section(results["scoring"])
    if results["uncertainty"]:
        sections["uncertainty"] = uncertainty_section(results["uncertainty"])
    if results["faithfulness"]:
        sections["faithfulness"] = faithfulness_section(results["faithfulness"])
    if results["long_documents"]:
        sections["long documents"] = long_documents_section(results["long_documents"])
    return sections


def build_report(results_dir=RESULTS_DIR, results_md=RESULTS_MD, plots_dir=PLOTS_DIR, readme=README):
    """Rewrites RESULTS.md's generated sections, the plots and (unless `readme` is None) the
    README's results section from `results_dir`; returns the paths written."""
    # The README is prose around this one section: replace it, never add one.
    if readme is not None and read_section(readme, README_SECTION) is None:
        raise ValueError(f"{readme} has no <!-- {README_SECTION}:start --> ... :end --> section to replace")
    results = read_all(results_dir)
    for name, body in results_sections(results).items():
        replace_section(results_md, name, body)
    written = [results_md]
    if results["accuracy"]:
        written.append(os.path.join(plots_dir, "accuracy.png"))
        plot_accuracy(results["accuracy"], written[-1], results["folds"])
    if results["scaling"]:
        written.append(os.path.join(plots_dir, "speed_scaling.png"))
        plot_scaling(results["scaling"], written[-1])
    if readme is not None:
        body = readme_results(results["accuracy"], results["speed"], results["memory"], results["head_cost"])
        replace_section(readme, README_SECTION, body)
        written.append(readme)
    return written


def main(argv=None):
    argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0]).parse_args(argv)
    for path in build_report():
        print(f"rewrote {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
