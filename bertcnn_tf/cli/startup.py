"""Starting TensorFlow for a command, without its C++ start-up log unless asked.

TensorFlow 2.21 prints its C++ start-up lines (cudart, cuInit on a machine
without a GPU, oneDNN; "All log messages before absl::InitializeLog() is
called are written to STDERR") straight to file descriptor 2, before absl's
logging reads `TF_CPP_MIN_LOG_LEVEL`, so the variable alone cannot hide
them. They are written while TensorFlow loads and while it first sets up
its devices, so both happen here with descriptor 2 sent to /dev/null; an
error raised meanwhile still reaches the user, after it is restored.
"""

import contextlib
import os
import sys

VERBOSE_ENVIRONMENT = "BERTCNN_VERBOSE"


@contextlib.contextmanager
def stderr_to_devnull():
    """Sends file descriptor 2 (what C++ code writes to) to /dev/null while the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_tensorflow(args):
    """Loads TensorFlow, keras-hub and tf-text, and sets up the devices the command will use.

    A training command creates its `tf.distribute` strategy here (the same
    object `train` then gets: `make_strategy` returns one per arguments), since
    a multi-worker strategy must exist before TensorFlow sets up devices
    another way. `--verbose` leaves every line on stderr.
    """
    if args.verbose:
        return
    # After start-up too, TensorFlow's C++ code logs what users cannot act on
    # ("oneDNN supports DT_INT64 only on platforms with AVX-512" at the first
    # training step, as an error); failures still reach Python as exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_to_devnull():
        import keras_hub  # noqa: F401  imports TensorFlow and tf-text, whose libraries log on load
        import tensorflow as tf

        if getattr(args, "strategy", None):
            from bertcnn_tf.training.distribution import make_strategy

            make_strategy(args.strategy, args.tpu)
        else:
            tf.config.list_logical_devices()
