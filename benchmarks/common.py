"""What every benchmark shares: results files, machine facts, RESULTS.md sections."""

import json
import os
import platform
import re

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_MD = os.path.join(HERE, "RESULTS.md")


def append_result(path, row):
    """Appends one JSON line; a killed run loses at most its own line."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_results(path):
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
    return rows


def machine_info():
    """Cores, CPU model and flags that matter here, and package versions."""
    import keras
    import keras_hub
    import tensorflow as tf

    flags, model = set(), platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            text = f.read()
        match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        model = match.group(1) if match else model
        match = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        flags = set(match.group(1).split()) if match else set()
    wanted = ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "fma"]
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "flags": [flag for flag in wanted if flag in flags],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
    }


def describe_machine(machine):
    """One line for a `machine_info()` dict: cores, CPU, flags and package versions."""
    m = machine
    return (
        f"{m['cores']} cores, {m['cpu']} ({', '.join(m['flags'])}); Python {m['python']}, "
        f"TF {m['tensorflow']}, Keras {m['keras']}, keras-hub {m['keras_hub']}"
    )


def update_results_section(name, body, path=RESULTS_MD):
    """Replaces the `name` section of a Markdown file (between its markers), atomically.

    A file without the section gets it appended under a `## name` heading.
    """
    from bertcnn_tf.io_utils import atomic_write_text

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    section = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {name}\n\n{section}\n"
    atomic_write_text(path, text)
