"""RESULTS.md's faithfulness section: explain's spans against baselines (ERASER), and explain's cost.

Built from `results/faithfulness.jsonl` (written by `faithfulness.py`) by `python -m benchmarks.report`:

    from benchmarks.results import FAITHFULNESS, read_results
    from benchmarks.faithfulness_tables import faithfulness_section
    print(faithfulness_section(read_results(FAITHFULNESS)))
"""

from benchmarks.machine import describe_machine

METHOD_NAMES = {"explain": "explain spans", "random": "random spans", "gradient_x_input": "gradient×input"}
SPEED_TARGET = 1.3  # explain's time per text over predict's, at most


def newest_per_dataset(rows):
    """The newest faithfulness row of each dataset, in the order first recorded."""
    newest = {}
    for row in rows:
        if row.get("kind") != "speed":
            newest[row["dataset"]] = row
    return list(newest.values())


def faithfulness_section(rows):
    speed_rows = [row for row in rows if row.get("kind") == "speed"]
    rows = newest_per_dataset(rows)
    first = rows[0]
    methods = list(METHOD_NAMES)
    epochs = f"{first['epochs']} epoch{'s' if first['epochs'] > 1 else ''}"
    lines = [
        f"Command: `{first['command']}`. Per dataset, a CNN-head run on all-MiniLM-L6-v2 trained on at most "
        f"{first['train_limit']} training rows (stratified), {epochs}, sequence length "
        f"{first['sequence_length']}; scored on at most {first['eval_limit']} rows of its evaluation split, drawn at "
        "random. Comprehensiveness (higher is more faithful) and sufficiency (lower is more faithful), ERASER "
        "(DeYoung et al., 2020): the drop in the predicted class's calibrated probability when the rationale's "
        "word-piece tokens are deleted, and when only they are kept. Every method gets the same number of tokens "
        "per text: the tokens explain's top 1 or top 3 spans cover, or for AOPC the mean over 1, 5, 10, 20 and 50% "
        "of the text's tokens. Best of each pair in bold.",
        "",
        "| dataset (split: rows, accuracy) | rationale | tokens of | "
        + " | ".join(f"{METHOD_NAMES[m]}: compr. ↑ / suff. ↓" for m in methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for row in rows:
        name = f"{row['dataset']} ({row['split']}: {row['rows']}, {100 * row['accuracy']:.1f}%)"
        budgets = [(budget, row["budgets"][budget]) for budget in row["budgets"] if budget.startswith("top ")]
        budgets.append(("AOPC 1-50%", row["aopc"]))
        for budget, scores in budgets:
            tokens = scores["explain"].get("tokens") if "tokens" in scores["explain"] else None
            size = f"{tokens:.1f}" if tokens is not None else f"{row['mean_tokens']:.1f} × 1-50%"
            best_c = max(scores[m]["comprehensiveness"] for m in methods)
            best_s = min(scores[m]["sufficiency"] for m in methods)
            cells = [
                f"{bold(scores[m]['comprehensiveness'], best_c)} / {bold(scores[m]['sufficiency'], best_s)}"
                for m in methods
            ]
            lines.append(f"| {name} | {budget} | {size} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Tokens of: the mean rationale length in word-piece tokens (for AOPC: the mean text length, in tokens, "
        "times each share). Training rows, temperature and mean predicted probability: "
        + "; ".join(
            f"{row['dataset']} {row['train_rows']}, {row['temperature']:.2f}, {row['mean_probability']:.3f}"
            for row in rows
        ) + ".",
        "",
    ] + speed_table(speed_rows[-1:] or rows)
    machines = sorted({describe_machine(row["machine"]) for row in rows})
    lines += ["", f"Machines: {'; '.join(machines)}."]
    return "\n".join(lines) + "\n"


def bold(value, best):
    text = f"{value:.3f}"
    return f"**{text}**" if value == best else text


def speed_table(rows):
    lines = [
        f"Explaining against predicting, same run and texts (`{rows[0]['command']}`): "
        "`bertcnn_tf.explain(run, texts)` (top 5 spans) and "
        f"`bertcnn_tf.predict(run, texts)`, each warmed up once, then alternated; the median of "
        f"{next(iter(rows[0]['speed'].values()))['repeats']} calls each. Target: explain at most "
        f"{SPEED_TARGET}x predict's time per text.",
        "",
        "| run | texts | predict ms/text | explain ms/text | explain / predict | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        for texts, speed in row["speed"].items():
            ratio = speed["explain_over_predict"]
            lines.append(
                f"| {row.get('dataset', 'untrained cnn head')} | {texts}: {speed['texts']} | {speed['predict_ms_per_text']:.2f} | "
                f"{speed['explain_ms_per_text']:.2f} | {ratio:.2f}x | "
                f"{'met' if ratio <= SPEED_TARGET else '**not met**'} |"
            )
    loads = [
        f"{row.get('dataset', 'speed')} {row['load_average']['before'][0]:.1f} to "
        f"{row['load_average']['after'][0]:.1f}"
        for row in rows
        if row.get("load_average", {}).get("before") and row["load_average"].get("after")
    ]
    if loads:
        lines += ["", "The machine was shared: 1-minute load average at the start and end of each run, "
                  + "; ".join(loads) + "."]
    return lines
