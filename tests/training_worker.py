"""Trainings that need a process of their own, run by the distribution tests.

Logical CPU devices must be configured, and a multi-worker strategy created,
before TensorFlow starts; the Keras backend is chosen at import. So these
run in fresh processes:

```
python tests/training_worker.py mirrored OUT                # one device vs 2 logical CPUs
python tests/training_worker.py mirrored-windows OUT        # the same, documents in windows
python tests/training_worker.py multi-worker OUT PRESET     # one worker; $TF_CONFIG says which
python tests/training_worker.py jax OUT PRESET              # the caller sets KERAS_BACKEND=jax
```

OUT holds `train.csv`; results are written there as `.npz`/`.json`. PRESET is
a tiny keras-hub preset folder (conftest's `tiny_preset`).
"""

import argparse
import json
import os
import sys

import numpy as np

# The tests' tiny vocabulary and backbone.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def dropout_free_preset(path):
    """conftest's tiny random BERT, without dropout: replicas draw their own masks."""
    from conftest import tiny_backbone
    from conftest import tiny_tokenizer

    tiny_backbone(dropout=0.0).save_to_preset(path)
    tiny_tokenizer().save_to_preset(path)
    return path


def quick_config(preset, **overrides):
    from conftest import quick_config as tiny_config

    return tiny_config(preset, **{"epochs": 1, "sequence_length": 16, **overrides})


def mirrored(out, preset=None, **overrides):
    """Trains on one device, then mirrored over 2 logical CPUs on the same global batch.

    Dropout is 0 everywhere, in a preset of its own (not `preset`), since
    each replica would draw its own masks. Bucketing stays on: the data
    order is the pipeline's (seeded shuffle, then buckets), the same in both
    runs, and `MirroredStrategy` splits each global batch of 8 into two of 4
    that share the batch's trimmed length. So both runs see the same
    batches, and only the summation order of the gradients differs.
    """
    import tensorflow as tf

    # Deterministic kernels: with two replicas sharing two cores, thread timing
    # can otherwise change how sparse embedding gradients are combined.
    tf.config.experimental.enable_op_determinism()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from bertcnn_tf.data.files import read_examples
    from bertcnn_tf.training.trainer import train

    preset = dropout_free_preset(os.path.join(out, "preset"))
    examples = read_examples(os.path.join(out, "train.csv"))
    results = {}
    for strategy, per_replica in (("one-device", 8), ("mirrored", 4)):
        # Two epochs: the second starts from state the replicas built together.
        config = quick_config(
            preset, strategy=strategy, batch_size=per_replica, dropout=0.0, epochs=2, **overrides
        )
        run, _ = train(examples, os.path.join(out, strategy), config)
        # By path, so that a mismatch names every weight it touches.
        results[strategy] = {v.path: v.numpy() for v in run.model.weights}
    for strategy, weights in results.items():
        np.savez(os.path.join(out, f"{strategy}.npz"), **weights)


def mirrored_windows(out, preset=None):
    """`mirrored` on documents in windows of 16 tokens (up to 64)."""
    mirrored(out, preset, max_document_length=64)


def multi_worker(out, preset):
    """One worker of a multi-worker run; every worker gives the same arguments."""
    from bertcnn_tf.data.files import read_examples
    from bertcnn_tf.training.trainer import train

    # Each worker names its own folder, so that the test can tell who wrote.
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    config = quick_config(
        preset, strategy="multi-worker", batch_size=4,
        static_shapes=True,  # one shape, so one trace of the collective step
        backup_every_steps=3,  # one mid-epoch backup: every worker saves, the chief keeps it
    )
    run, report = train(read_examples(os.path.join(out, "train.csv")), os.path.join(out, f"run{index}"), config)
    np.savez(os.path.join(out, f"worker{index}.npz"), *run.model.get_weights())
    with open(os.path.join(out, f"worker{index}.json"), "w") as f:
        json.dump({"report": report is not None}, f)


def jax_backend(out, preset):
    """Trains under KERAS_BACKEND=jax, saves `.keras`, and records its predictions."""
    import keras

    from bertcnn_tf.data.files import read_examples
    from bertcnn_tf.inference import predict_probabilities
    from bertcnn_tf.training.trainer import train

    assert keras.backend.backend() == "jax", keras.backend.backend()
    examples = read_examples(os.path.join(out, "train.csv"))
    run, _ = train(examples, os.path.join(out, "run"), quick_config(preset))
    np.save(os.path.join(out, "probabilities.npy"), predict_probabilities(run.model, examples))


MODES = {"mirrored": mirrored, "mirrored-windows": mirrored_windows, "multi-worker": multi_worker, "jax": jax_backend}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("out")
    parser.add_argument("preset", nargs="?")
    args = parser.parse_args()
    MODES[args.mode](args.out, args.preset)
