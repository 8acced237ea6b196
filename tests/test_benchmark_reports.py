"""The benchmark reports (variants, agreement, targets) pair runs example by example, as they should,
and `python -m benchmarks.report` rebuilds RESULTS.md's sections from a results folder.

Synthetic rows only: the benchmark results and the datasets are not part of the tests.
"""

import os

from benchmarks.setups import CNN_HEAD_SETTINGS
from benchmarks.setups import DEFAULT_LEARNING_RATE
from benchmarks.setups import DEFAULT_SEQUENCE_LENGTH
from benchmarks.setups import VARIANT_DEFAULTS
from benchmarks.variants import variants_markdown

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def row(model, correct, fold=0, **changes):
    settings = {
        "epochs": 3,
        "learning_rate": DEFAULT_LEARNING_RATE,
        "sequence_length": DEFAULT_SEQUENCE_LENGTH,
        **VARIANT_DEFAULTS,
        **changes,
    }
    if model == "keras_hub_cls":  # CLS rows carry no CNN head settings
        settings.update(dict.fromkeys(CNN_HEAD_SETTINGS))
    return {"dataset": "cr", "model": model, "seed": 1, "fold": fold, "settings": settings,
            "score": correct.count("1") / len(correct), "correct": correct}


def test_a_cnn_variant_is_counted_against_the_default_cnn_and_against_cls_on_the_same_fold():
    rows = [
        row("cnn", "1100"), row("keras_hub_cls", "1010"),
        row("cnn", "1111", head_learning_rate_multiplier=1.0),
        # Another fold's CLS run must not be paired with fold 0.
        row("keras_hub_cls", "0000", fold=1),
    ]
    table = variants_markdown(rows, "folds").splitlines()
    assert len(table) == 3
    # Against the default CNN: the variant alone gets examples 3 and 4 right, the default none;
    # against CLS: 2 and 4 against none.
    assert table[2].startswith("| head_learning_rate_multiplier 1 | cnn | cr +50.0 (1) | 2 / 0 (1 of 1 runs) | 0.50 | 2 / 0 (1 of 1 runs) | 0.50 |")


def test_a_cls_variant_has_no_cls_column():
    rows = [
        row("cnn", "1100"), row("cnn", "0110", dropout=0.5),
        row("keras_hub_cls", "1100"), row("keras_hub_cls", "1110", dropout=0.5),
    ]
    table = {line.split(" | ")[1]: line for line in variants_markdown(rows).splitlines()[2:]}
    assert table["keras_hub_cls"].endswith("| 1 / 0 (1 of 1 runs) | 1.00 | – | – |")
    assert table["cnn"].endswith("| 1 / 1 (1 of 1 runs) | 1.00 | 1 / 1 (1 of 1 runs) | 1.00 |")


def test_without_a_cls_run_at_the_defaults_the_cls_column_is_a_dash():
    rows = [row("cnn", "1100"), row("cnn", "0110", dropout=0.5), row("keras_hub_cls", "1110", dropout=0.5)]
    assert variants_markdown(rows).splitlines()[2].endswith("| 1 / 1 (1 of 1 runs) | 1.00 | – | – |")


def test_the_pooled_row_names_a_dataset_that_has_not_run_every_fold():
    from benchmarks.accuracy_tables import cross_validation_table

    def folded(dataset, model, correct, fold):
        return {**row(model, correct, fold=fold), "dataset": dataset, "folds": 2,
                "accuracy": correct.count("1") / len(correct)}

    rows = [
        folded("cr", "cnn", "1100", 0), folded("cr", "keras_hub_cls", "1010", 0),
        folded("cr", "cnn", "1100", 1), folded("cr", "keras_hub_cls", "0100", 1),
        folded("mr", "cnn", "1110", 0), folded("mr", "keras_hub_cls", "0111", 0),
    ]
    table = cross_validation_table(rows, at_defaults_only=True).splitlines()
    pooled = table[-1]
    # One fold has no spread: its cell shows no "± 0.0".
    assert "| 75.0 (1 of 2 folds) | 75.0 (1 of 2 folds) |" in table[-2]
    # cr: 1 / 1 and 1 / 0; mr: 1 / 1, over its one fold of two.
    assert pooled.startswith("| pooled: cr, mr (1 of 2 folds) at the defaults |")
    assert "| 3 / 2 |" in pooled


def test_a_run_recorded_at_what_the_default_resolves_to_is_a_default_run():
    from benchmarks.setups import setup_of

    rows = [row("cnn", "1100", label_smoothing=0.1), row("cnn", "1111", label_smoothing=0.0)]
    table = variants_markdown(rows).splitlines()
    # Single-label: 0.1 is the default, so the unsmoothed run is the variant.
    assert table[2].startswith("| label_smoothing 0 | cnn | cr +50.0 (1) | 2 / 0 (1 of 1 runs) |")
    multi_label = {**row("cnn", "1")["settings"], "multi_label": True}
    assert setup_of({**multi_label, "label_smoothing": 0.0}) == setup_of(row("cnn", "1")["settings"])
    assert setup_of({**multi_label, "label_smoothing": 0.1}) != setup_of(row("cnn", "1")["settings"])


def test_a_dataset_run_at_the_defaults_only_by_cross_validation_counts_in_the_targets():
    from benchmarks.targets import accuracy_targets

    folds = [
        {**row(model, correct, fold=fold), "folds": 10, "accuracy": correct.count("1") / 4,
         "score": correct.count("1") / 4}
        for fold in range(10) for model, correct in (("cnn", "1110"), ("keras_hub_cls", "1100"))
    ]
    lines = accuracy_targets([], folds)
    versus_cls = next(line for line in lines if "CLS classifier" in line)
    assert "at or above on 1 of 1" in versus_cls and "cr 75.0 ≥ 50.0 over 10 folds" in versus_cls
    assert "one split" not in versus_cls  # no one-split runs to name
    kim = next(line for line in lines if "Kim" in line)
    assert "cr 75.0 (10-fold cross-validation) against 85.0" in kim


def test_agreement_counts_the_vote_and_the_examples_no_run_gets_right():
    from benchmarks.agreement import agreement_markdown

    rows = [
        {**row("cnn", "11100"), "seed": 1}, {**row("cnn", "11010"), "seed": 2},
        {**row("keras_hub_cls", "10110"), "seed": 1},
    ]
    line = agreement_markdown(rows).splitlines()[2]
    # Example 1 right three times, 2-4 twice, 5 never: the vote gets 4 of 5 right, the best run 3.
    assert line == "| cr (test) | 3 | 5 | 60.0 | 60.0 | 80.0 | 80.0 | 1 |"


def test_agreement_refuses_runs_scored_on_different_examples():
    import pytest

    from benchmarks.agreement import agreement_markdown

    with pytest.raises(ValueError, match="different numbers of examples"):
        agreement_markdown([row("cnn", "110"), {**row("cnn", "1100"), "seed": 2}])


def test_the_seed_vote_is_shown_for_the_defaults_and_for_every_setup_only_when_asked():
    from benchmarks.agreement import seed_votes_markdown

    rows = [{**row("cnn", bits), "seed": seed} for seed, bits in ((1, "1101"), (2, "1011"), (3, "0111"))]
    rows += [{**row("cnn", bits, dropout=0.5), "seed": seed} for seed, bits in ((1, "1000"), (2, "0100"), (3, "0010"))]
    at_defaults = seed_votes_markdown(rows).splitlines()[2:]
    # Each seed gets 3 of 4 right, each example is right in two seeds: the vote gets all four.
    assert at_defaults == ["| cr (test, 3 epochs) | cnn | 3 | 75.0 | 75.0 | 100.0 |"]
    every = seed_votes_markdown(rows, every_setup=True).splitlines()[2:]
    assert "| cr (test, 3 epochs, dropout 0.5) | cnn | 3 | 25.0 | 25.0 | 0.0 |" in every


def test_a_speed_target_met_on_one_machine_and_not_another_says_which():
    from benchmarks.targets import speed_runs_shown
    from benchmarks.targets import speed_targets

    def speed_run(time, matmul, texts_per_s, p50):
        return {"time": time, "machine": {"cpu": f"cpu at {matmul}"},
                "results": {"matmul_fp32_gflops": matmul, "ours_savedmodel_texts_per_s": texts_per_s,
                            "ours_savedmodel_latency_p50_ms": p50},
                "ratios": {"savedmodel_vs_pad128": 5.0, "model_flops_over_fp32_matmul": 0.6,
                           "cnn_training_time_over_cls": 1.03}}

    fast, slow = speed_run("day 1", 450, 410, 8.0), speed_run("day 2", 300, 240, 14.0)
    runs = speed_runs_shown([fast, slow])
    assert runs == [slow, fast]  # the newest first, then the fastest machine's
    assert speed_runs_shown([slow, fast]) == [fast]  # the newest is the fastest: shown alone
    rows = speed_targets(runs, [])
    assert rows[0].startswith("| ≥ 250 texts/s at batch 32, float32 export | 240 texts/s (`speed.py`, day 2, cpu at 300")
    assert rows[0].endswith("| **not met** on day 2; met on day 1 |")
    assert rows[1].endswith("| met |")  # 5.0x on both


def test_xla_export_targets_count_only_the_runs_that_measured_it():
    from benchmarks.targets import speed_targets

    def speed_run(time, xla=None):
        results = {"matmul_fp32_gflops": 300, "ours_savedmodel_texts_per_s": 240, "ours_savedmodel_latency_p50_ms": 14.0}
        if xla:
            results["ours_savedmodel_xla_native_texts_per_s"], results["ours_savedmodel_xla_native_latency_p50_ms"] = xla
        return {"time": time, "machine": {"cpu": "cpu"}, "results": results,
                "ratios": {"savedmodel_vs_pad128": 5.0, "model_flops_over_fp32_matmul": 0.6,
                           "cnn_training_time_over_cls": 1.03}}

    assert not any("XLA" in row for row in speed_targets([speed_run("day 1")], []))
    rows = speed_targets([speed_run("day 2", xla=(300, 8.1)), speed_run("day 1")], [])
    names = [row.split(" | ")[0] for row in rows]
    assert names[1] == "| ≥ 250 texts/s at batch 32, XLA export (`--jit-compile`)"
    assert names[4] == "| single-text p50 ≤ 10 ms, XLA export (`--jit-compile`)"
    assert "day 1" not in rows[1] and rows[1].endswith("| met |")
    assert rows[4].startswith("| single-text p50 ≤ 10 ms, XLA export (`--jit-compile`) | 8.1 ms in a C serving process")
    assert rows[3].endswith("| **not met** |")  # the float32 export's 14.0 ms


def test_the_reports_import_no_tensorflow():
    # The report command reads results files only: it must not start TensorFlow.
    import subprocess
    import sys

    code = "import sys, benchmarks.report; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


MACHINE = {"cores": 2, "cpu": "test cpu", "flags": ["avx2"], "python": "3.11", "tensorflow": "2.21",
           "keras": "3.15", "keras_hub": "0.32"}


def speed_row(time="2026-01-02 03:04"):
    """A `speed.py` row with every field the reports read, all at 100 (ratios at 2)."""
    exports = ("ours_savedmodel", "ours_savedmodel_bf16", "ours_savedmodel_xla")
    results = {f"{export}{process}_{measure}": 100.0 for export in exports for process in ("", "_native")
               for measure in ("texts_per_s", "latency_p50_ms", "latency_p99_ms")}
    results |= {f"{export}_native_cold_texts_per_s": 100.0 for export in exports}
    results |= dict.fromkeys(
        ("ours_keras_texts_per_s", "ours_keras_bf16_texts_per_s", "pad128_keras_texts_per_s", "keras_hub_texts_per_s",
         "ours_keras_latency_p50_ms", "ours_keras_latency_p99_ms", "cls_train_examples_per_s", "cnn_train_examples_per_s",
         "matmul_fp32_gflops", "matmul_bf16_gflops", "ours_model_gflops", "ours_model_bf16_gflops"), 100.0)
    results |= {"texts": 872, "batch_size": 32, "filters": 128, "keras_hub_sequence_length": 256}
    ratios = dict.fromkeys(
        ("savedmodel_vs_pad128", "savedmodel_bf16_vs_pad128", "savedmodel_native_vs_pad128",
         "savedmodel_native_bf16_vs_pad128", "savedmodel_xla_vs_pad128", "savedmodel_native_xla_vs_pad128",
         "savedmodel_native_xla_vs_float32", "ours_vs_pad128", "ours_bf16_vs_pad128", "ours_vs_keras_hub",
         "cnn_training_time_over_cls", "model_flops_over_fp32_matmul", "model_bf16_flops_over_bf16_matmul"), 2.0)
    return {"results": results, "ratios": ratios, "machine": MACHINE, "time": time}


def test_the_report_rebuilds_every_section_from_a_results_folder_and_keeps_the_prose(tmp_path):
    from benchmarks import results
    from benchmarks.markdown import read_section
    from benchmarks.report import build_report

    folder = tmp_path / "results"
    for correct, model, seed in (("1100", "cnn", 1), ("1110", "cnn", 2), ("1010", "keras_hub_cls", 1)):
        results.append_result(results.ACCURACY, {**row(model, correct), "seed": seed, "machine": MACHINE}, folder)
    results.append_result(results.SPEED, speed_row(), folder)
    results.append_result(results.HEAD_COST, {
        "time": "2026-01-02 03:05", "texts": 872, "batch_size": 32, "rounds": 5, "kernel_sizes": [3, 4, 5],
        "examples_per_s": {"cls": 30.0, "cnn_128": 29.0}, "time_over_cls": {"cls": 1.0, "cnn_128": 1.034},
        "head_flop_share": {"cnn_128": 0.05}, "machine": MACHINE}, folder)
    serving = {"peak_rss_mb": 900.0, "rss_start_mb": 100.0, "rss_libraries_mb": 200.0, "rss_loaded_mb": 800.0,
               "rss_end_mb": 850.0}
    results.append_result(results.MEMORY, {"time": "2026-01-02 03:06", "machine": MACHINE, "results": {
        "runtime": {"peak_rss_mb": 500.0}, "train": {"peak_rss_mb": 2500.0}, "serve_float32": {"peak_rss_mb": 1400.0},
        "serve_native_float32": serving}}, folder)
    results.write_document(results.SCALING, {
        "lengths": [8, 16], "texts_per_s_by_length": {"float32": [900.0, 500.0]}, "batch_sizes": [1, 32],
        "texts_per_s_by_batch": {"float32": [50.0, 300.0]}, "texts": 256, "machine": MACHINE,
        "time": "2026-01-02 03:07"}, folder)
    results_md, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    results_md.write_text("# Benchmark results\n\n<!-- memory:start -->\nold\n<!-- memory:end -->\n\nWritten by hand.\n")
    readme.write_text("# Project\n\n<!-- results:start -->\nold\n<!-- results:end -->\n\nMore prose.\n")

    written = build_report(folder, results_md, tmp_path / "plots", readme)

    text = results_md.read_text()
    # The section already there is rewritten in place, the prose kept, the others appended.
    assert text.startswith("# Benchmark results\n\n<!-- memory:start -->\nCommand: `python -m benchmarks.memory")
    assert "<!-- memory:end -->\n\nWritten by hand.\n\n## targets\n" in text
    sections = ("targets", "accuracy", "variants against the defaults", "agreement between runs",
                "speed", "head cost", "scaling", "memory")
    assert all(read_section(results_md, name) for name in sections)
    assert "linear probe" not in text  # nothing recorded, so no section
    assert "| cr (test, 3 epochs) | accuracy | 62.5 ± 17.7 (2 seeds) | 50.0 (1 seed) |" in read_section(results_md, "accuracy")
    targets = read_section(results_md, "targets")
    assert "| CNN head ≤ 5% training time over the CLS classifier | 1.034x (`head_cost.py`, 2026-01-02 03:05) | met |" in targets
    assert "| peak RSS ≤ 1 GB serving | 900 MB in a C serving process, 1400 MB from Python" in targets
    readme_text = readme.read_text()
    assert readme_text.startswith("# Project\n\n<!-- results:start -->\n")
    assert readme_text.endswith("<!-- results:end -->\n\nMore prose.\n")
    assert "| cr (accuracy, test, 3 epochs) | 62.5 | 50.0 | 85.0 | – |" in readme_text
    assert "| peak memory: training at batch 32 / serving the float32 export in a C process | 2500 / 900 MB |" in readme_text
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == ["accuracy.png", "speed_scaling.png"]
    assert {str(results_md), str(readme)} <= {str(path) for path in written}


def test_the_report_never_adds_a_results_section_to_a_readme_without_one(tmp_path):
    import pytest

    from benchmarks.report import build_report

    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nProse only.\n")
    with pytest.raises(ValueError, match="no <!-- results:start -->"):
        build_report(tmp_path / "results", tmp_path / "RESULTS.md", tmp_path / "plots", readme)
    assert readme.read_text() == "# Project\n\nProse only.\n"
    assert not (tmp_path / "RESULTS.md").exists()  # checked before anything is written


def test_the_uncertainty_section_averages_seeds_per_score_and_lists_calibration():
    from benchmarks.uncertainty_tables import uncertainty_section

    def scores(value):
        return {name: {"accuracy": value, "macro_f1": value, "auroc": value} for name in
                ("msp", "temperature", "energy", "mahalanobis")}

    common = {"kind": "open_set", "known_share": 0.25, "epochs": 3, "known_intents": 19, "train_rows": 2500,
              "test_rows": 3080, "unknown_test_rows": 2300, "temperature": 1.5, "command": "cmd", "machine": MACHINE}
    rows = [{**common, "seed": 1, "scores": scores(0.8)}, {**common, "seed": 2, "scores": scores(0.9)}]
    rows.append({"kind": "calibration", "dataset": "trec", "split": "test", "seed": 1, "epochs": 3, "train_rows": 5452,
                 "temperature": 1.8, "ece": {"before": 0.05, "after": 0.02}, "nll": {"before": 0.3, "after": 0.2},
                 "command": "cmd", "machine": MACHINE})
    section = uncertainty_section(rows)
    assert "| top probability after the temperature (default) | 85.0 / 85.0 / 85.0 |" in section
    assert "2 seeds" in section and "| trec (test, 5452, 3) | 1.80 | 0.050 | 0.020 | 0.300 | 0.200 |" in section


def test_the_file_scoring_section_compares_peak_memory_with_the_smallest_file():
    from benchmarks.scoring_tables import scoring_section

    row = {"command": "cmd", "time": "2026-12-06 19:00", "machine": MACHINE, "chunk_rows": 10000, "results": {
        "10000": {"seconds": 40.0, "rows_per_s": 250.0, "peak_rss_mb": 1000.0},
        "200000": {"seconds": 800.0, "rows_per_s": 250.0, "peak_rss_mb": 1050.0},
        "resume": {"rows": 10000, "killed_after_rows": 5000, "chunk_rows": 1000, "seconds": 25.0,
                   "uninterrupted_seconds": 40.0, "same_rows_in_order": True},
    }}
    section = scoring_section(row)
    assert "| local | 200,000 | 800 | 250 | 1050 MB | 1.050x |" in section
    assert "after 5,000 of 10,000 rows" in section and "the same rows in the same order" in section


def test_the_file_scoring_section_shows_the_newest_run_of_each_engine():
    from benchmarks.scoring_tables import scoring_section

    def row(engine, time, seconds, peak, tree_peak=None):
        result = {"seconds": seconds, "rows_per_s": 10000 / seconds, "peak_rss_mb": peak}
        if tree_peak is not None:
            result["tree_peak_rss_mb"] = tree_peak
        row = {"command": f"cmd {time}", "time": time, "machine": MACHINE, "chunk_rows": 10000,
               "results": {"10000": result, "20000": {**result, "seconds": 2 * seconds}}}
        if engine:  # rows from before the engine column are the local engine's
            row.update(engine=engine, runner="DirectRunner", beam="2.78.0")
        return row

    rows = [row(None, "old", 50.0, 1000.0), row("beam", "beam run", 80.0, 1500.0, tree_peak=1600.0),
            row("local", "new", 40.0, 1100.0)]
    section = scoring_section(rows)
    assert "cmd old" not in section and "cmd new" in section and "DirectRunner, apache-beam 2.78.0" in section
    assert "| local | 10,000 | 40 | 250 | 1100 MB | 1.000x |" in section
    assert "| beam | 20,000 | 160 | 125 | 1600 MB | 1.000x |" in section  # the process tree's peak
    assert section.index("| local |") < section.index("| beam |") and "Beam has no resume to time" in section


def test_the_faithfulness_section_compares_explain_with_the_baselines_and_predict():
    from benchmarks.faithfulness_tables import faithfulness_section

    def scores(comprehensiveness, sufficiency, tokens=None):
        return {"comprehensiveness": comprehensiveness, "sufficiency": sufficiency,
                **({} if tokens is None else {"tokens": tokens})}

    def speed(ratio):
        return {"texts": 500, "repeats": 3, "predict_ms_per_text": 4.0, "explain_ms_per_text": 4.0 * ratio,
                "explain_over_predict": ratio}

    row = {"dataset": "trec", "split": "test", "rows": 500, "accuracy": 0.9, "train_rows": 4000, "epochs": 2,
           "train_limit": 4000, "eval_limit": 500, "sequence_length": 64, "temperature": 0.8, "mean_tokens": 11.0,
           "mean_probability": 0.85, "command": "cmd", "machine": MACHINE,
           "budgets": {"top 1 span": {"explain": scores(0.4, 0.1, 3.0), "random": scores(0.1, 0.5, 3.0),
                                      "gradient_x_input": scores(0.3, 0.2, 3.0)},
                       "10%": {"explain": scores(0.2, 0.3, 1.0), "random": scores(0.0, 0.6, 1.0),
                               "gradient_x_input": scores(0.1, 0.4, 1.0)}},
           "aopc": {"explain": scores(0.25, 0.3), "random": scores(0.05, 0.6), "gradient_x_input": scores(0.3, 0.35)},
           "speed": {"test": speed(1.2), "imdb dev": speed(1.5)},
           "load_average": {"before": [3.0, 2.0, 1.0], "after": [4.0, 3.0, 2.0]}}
    older = {**row, "command": "older", "accuracy": 0.5}
    section = faithfulness_section([older, row])
    assert "older" not in section and "Command: `cmd`" in section  # the newest row per dataset
    assert "| trec (test: 500, 90.0%) | top 1 span | 3.0 | **0.400** / **0.100** | 0.100 / 0.500 | 0.300 / 0.200 |" in section
    # A baseline ahead of explain is shown in bold there too; single bins only go into the AOPC.
    assert "| AOPC 1-50% | 11.0 × 1-50% | 0.250 / **0.300** | 0.050 / 0.600 | **0.300** / 0.350 |" in section
    assert "| 10% |" not in section
    assert "| trec | test: 500 | 4.00 | 4.80 | 1.20x | met |" in section
    assert "| trec | imdb dev: 500 | 4.00 | 6.00 | 1.50x | **not met** |" in section
    assert "trec 3.0 to 4.0" in section


def test_the_long_documents_section_compares_the_settings_and_checks_the_window_targets():
    from benchmarks.long_documents_tables import long_documents_section

    def accuracy(head, setting, value, command="cmd", seed=1):
        return {"kind": "accuracy", "dataset": "imdb", "head": head, "setting": setting, "seed": seed, "epochs": 1,
                "train_limit": 800, "eval_limit": 400, "train_rows": 800, "dev_rows": 400, "validation_split": 0.1,
                "accuracy": value, "train_seconds": 120.4, "predict_seconds": 40.0, "docs_per_s": 10.0,
                "train_peak_rss_mb": 3000, "predict_peak_rss_mb": 2500, "command": command, "machine": MACHINE,
                "head_tail": {"train": {"cut": 90, "exact": 89, "texts": 800}, "dev": {"cut": 40, "exact": 40,
                                                                                      "texts": 400}}
                if setting == "headtail512" else None,
                "load_average": {"before": [3.0, 2.0, 1.0], "after": [4.0, 3.0, 2.0]}}

    speed = {"kind": "speed", "sequence_length": 128, "max_document_length": 2048, "seed": 1, "speed_docs": 100,
             "documents": 100, "short_texts": 260, "repeats": 3, "documents_own_tokens": 30000,
             "short_text_tokens": 30010, "documents_tokens_per_s": 2300.0, "short_tokens_per_s": 2500.0,
             "tokens_per_s_ratio": 0.92, "command": "speed cmd", "machine": MACHINE,
             "overhead": {"documents": 2500, "own_tokens": 700000, "windows": 7000, "text_ratio": 1.05,
                          "multi_window_text_ratio": 1.06, "real_ratio": 1.2, "positions_ratio": 1.28, "stride": 118}}
    rows = [accuracy("cnn", "trunc512", 0.5, "older"), accuracy("cnn", "trunc512", 0.85), accuracy("cls", "trunc128", 0.8),
            accuracy("cnn", "headtail512", 0.86), speed]
    section = long_documents_section(rows)
    # The newest row per configuration, in the settings' order: (a) before (b) before (c).
    assert "older" not in section and "Command: `cmd`" in section
    assert section.index("(a) truncation at 128 | cls | 1 | 80.0% | 120 | 10.00 | 3,000 MB | 2,500 MB |") < section.index(
        "(b) truncation at 512 | cnn | 1 | 85.0% |") < section.index("(c) head+tail")
    assert "Mean dev accuracy" not in section
    # A second seed: its own row, and the mean over seeds.
    seeded = long_documents_section(rows + [accuracy("cnn", "headtail512", 0.8, seed=2)])
    assert "| cnn | 1 | 86.0% |" in seeded and "| cnn | 2 | 80.0% |" in seeded and "seed 1, 2 " in seeded
    assert "Mean dev accuracy over seeds: (c) head+tail: first 128 + last 382, at 512, cnn: 83.0% (2 seeds)." in seeded
    assert "re-tokenized, 129 of 130 gave exactly the kept tokens" in section
    assert "| text tokens, overlap included | 1.050x | met (at most 1.15x) |" in section
    assert "| 2,300 | 2,500 | 0.92x | met (at least 0.9x) |" in section
    assert "Positions run" not in section
    padded = long_documents_section([{**speed, "documents_positions": 36000, "short_positions": 30000}])
    assert "36,000 for the documents, 30,000 for the short texts (1.20x)" in padded
    slower = long_documents_section([{**speed, "tokens_per_s_ratio": 0.85}])
    assert "0.85x | **not met** (at least 0.9x) |" in slower and "| setting |" not in slower
