"""RESULTS.md's long documents section: truncation, head+tail and windows on imdb, and the windows' speed targets.

Built from `results/long_documents.jsonl` (written by `long_documents.py`) by `python -m benchmarks.report`:

    from benchmarks.results import LONG_DOCUMENTS, read_results
    from benchmarks.long_documents_tables import long_documents_section
    print(long_documents_section(read_results(LONG_DOCUMENTS)))
"""

from benchmarks.machine import describe_machine

SETTING_NAMES = {
    "trunc128": "(a) truncation at 128",
    "trunc512": "(b) truncation at 512",
    "headtail512": "(c) head+tail: first 128 + last 382, at 512",
    "windows2048": "(d) windows of 128, up to 2,048 tokens",
}
OVERHEAD_TARGET = 1.15  # window text tokens over the document's own, at most
TOKENS_PER_S_TARGET = 0.9  # documents' tokens/s over short texts', at least


def newest_per_configuration(rows):
    """The newest accuracy row of each (head, setting, seed), in the settings' order, cnn before cls, then by seed."""
    newest = {}
    for row in rows:
        if row.get("kind") == "accuracy":
            newest[(row["head"], row["setting"], row["seed"])] = row
    order, heads = list(SETTING_NAMES), ["cnn", "cls"]
    return sorted(newest.values(), key=lambda r: (
        order.index(r["setting"]) if r["setting"] in order else len(order),
        heads.index(r["head"]) if r["head"] in heads else len(heads),
        r["seed"],
    ))


def seed_means(rows):
    """`{(setting, head): (mean accuracy, seeds)}` of the configurations run with more than one seed."""
    grouped = {}
    for row in rows:
        grouped.setdefault((row["setting"], row["head"]), []).append(row["accuracy"])
    return {key: (sum(values) / len(values), len(values)) for key, values in grouped.items() if len(values) > 1}


def met(value, target, at_most):
    return "met" if (value <= target if at_most else value >= target) else "**not met**"


def accuracy_lines(rows):
    first = rows[0]
    seeds = sorted({row["seed"] for row in rows})
    epochs = f"{first['epochs']} epoch{'s' if first['epochs'] > 1 else ''}"
    lines = [
        f"Command: `{first['command']}`. Per head and setting, a run on all-MiniLM-L6-v2 trained on the same "
        f"{first['train_rows']} imdb training reviews (a stratified subsample of 22,500; {first['validation_split']:.0%} "
        f"of them held out for validation and calibration), {epochs}, seed {', '.join(str(seed) for seed in seeds)} "
        "(a seed draws the training subsample, its split, the initialisation and the dev sample); accuracy on "
        f"{first['dev_rows']} dev reviews drawn at random, the same for every configuration of a seed. docs/s: `predict_logits` over those dev reviews after a "
        "warm-up call. Peak RSS of the configuration's own child process: up to the end of training, then while "
        "predicting (the peak reset after training, so it starts from what the trained process holds).",
        "",
        "| setting | head | seed | dev accuracy | train s | predict docs/s | peak RSS training | peak RSS predicting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        predicting = row.get("predict_peak_rss_mb")
        lines.append(
            f"| {SETTING_NAMES.get(row['setting'], row['setting'])} | {row['head']} | {row['seed']} | "
            f"{100 * row['accuracy']:.1f}% | "
            f"{row['train_seconds']:.0f} | {row['docs_per_s']:.2f} | {row['train_peak_rss_mb']:,} MB | "
            f"{'-' if predicting is None else f'{predicting:,} MB'} |"
        )
    means = seed_means(rows)
    if means:
        lines += ["", "Mean dev accuracy over seeds: " + "; ".join(
            f"{SETTING_NAMES.get(setting, setting)}, {head}: {100 * mean:.1f}% ({count} seeds)"
            for (setting, head), (mean, count) in means.items()
        ) + "."]
    cuts = [row["head_tail"] for row in rows if row.get("head_tail")]
    if cuts:
        cut = cuts[-1]
        lines += [
            "",
            f"Head+tail cut {cut['train']['cut']} of {cut['train']['texts']} training and {cut['dev']['cut']} of "
            f"{cut['dev']['texts']} dev reviews (those over 510 tokens); re-tokenized, "
            f"{cut['train']['exact'] + cut['dev']['exact']} of {cut['train']['cut'] + cut['dev']['cut']} gave exactly "
            "the kept tokens.",
        ]
    return lines


def speed_lines(row):
    o = row["overhead"]
    lines = [
        f"Speed targets (`{row['command']}`; an untrained CNN head, windows of {row['sequence_length']} tokens, "
        f"stride {o['stride']}, up to {row['max_document_length']:,} tokens). Window overhead over all "
        f"{o['documents']:,} imdb dev reviews ({o['own_tokens']:,} own tokens, {o['windows']:,} windows):",
        "",
        "| windows hold | over the documents' own tokens | target |",
        "|---|---|---|",
        f"| text tokens, overlap included | {o['text_ratio']:.3f}x | {met(o['text_ratio'], OVERHEAD_TARGET, True)} "
        f"(at most {OVERHEAD_TARGET}x) |",
        f"| the same, documents of more than one window only | {o['multi_window_text_ratio']:.3f}x | - |",
        f"| real tokens, with each window's [CLS] and [SEP] | {o['real_ratio']:.3f}x | - |",
        f"| positions, incl. the padding of each document's last window | {o['positions_ratio']:.3f}x | - |",
        "",
        f"Tokens/s: {row['documents']} dev reviews ({row['documents_own_tokens']:,} own tokens) predicted in windows, "
        f"against the same tokens chopped into {row['short_texts']:,} texts of at most {row['sequence_length'] - 2} "
        f"tokens ({row['short_text_tokens']:,} tokens once re-tokenized) predicted without windows; each side's "
        f"own text tokens over its time, alternated, the median of {row['repeats']} call{'s' if row['repeats'] > 1 else ''} each after a warm-up.",
        "",
        "| documents tokens/s | short texts tokens/s | ratio | target |",
        "|---|---|---|---|",
        f"| {row['documents_tokens_per_s']:,.0f} | {row['short_tokens_per_s']:,.0f} | {row['tokens_per_s_ratio']:.2f}x | "
        f"{met(row['tokens_per_s_ratio'], TOKENS_PER_S_TARGET, False)} (at least {TOKENS_PER_S_TARGET}x) |",
    ]
    if "documents_positions" in row:
        lines += [
            "",
            f"Positions run in `predict_logits`'s batches, padding included: {row['documents_positions']:,} for the "
            f"documents, {row['short_positions']:,} for the short texts "
            f"({row['documents_positions'] / row['short_positions']:.2f}x).",
        ]
    return lines


def long_documents_section(rows):
    speed = [row for row in rows if row.get("kind") == "speed"]
    accuracy = newest_per_configuration(rows)
    lines = []
    if accuracy:
        lines += accuracy_lines(accuracy)
    if speed:
        lines += ([""] if lines else []) + speed_lines(speed[-1])
    shown = accuracy + speed[-1:]
    several_seeds = len({row["seed"] for row in accuracy}) > 1
    loads = [
        f"{row.get('setting', 'speed')} {row.get('head', '')}".strip()
        + (f" seed {row['seed']}" if several_seeds and row.get("kind") == "accuracy" else "")
        + f" {row['load_average']['before'][0]:.1f} to {row['load_average']['after'][0]:.1f}"
        for row in shown
        if row.get("load_average", {}).get("before") and row["load_average"].get("after")
    ]
    if loads:
        lines += ["", "The machine was shared: 1-minute load average at the start and end of each run: "
                  + "; ".join(loads) + "."]
    machines = sorted({describe_machine(row["machine"]) for row in shown})
    lines += ["", f"Machines: {'; '.join(machines)}."]
    return "\n".join(lines) + "\n"
