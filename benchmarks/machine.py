"""The machine a benchmark ran on: what a run records of it, and the line the reports print.

Absolute rates follow the machine, so every recorded run carries `machine_info()`:

    from benchmarks.machine import describe_machine
    describe_machine({"cores": 2, "cpu": "AMD EPYC", "flags": ["avx2"], "python": "3.11.7",
                      "tensorflow": "2.21.0", "keras": "3.15.1", "keras_hub": "0.32.0"})
    # '2 cores, AMD EPYC (avx2); Python 3.11.7, TF 2.21.0, Keras 3.15.1, keras-hub 0.32.0'
"""

import os
import platform
import re


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
