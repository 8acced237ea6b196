"""Training on several devices with TensorFlow's own engine, `tf.distribute`.

One name picks the strategy (`make_strategy`); the rest of training asks this
module three questions: how big is the global batch (`global_batch_size`),
does this process keep the files it writes (`is_chief`, `writable_dir`), and
must shapes be static (`is_tpu`). Model, optimizer and metrics are created
in `strategy.scope()` by `bertcnn_tf.train`.

Strategies (`--strategy`):

- `"auto"`: a TPU when one is named (`--tpu` or `$TPU_NAME`), else
  `MirroredStrategy` when there are several GPUs, else TensorFlow's default
  strategy (one device, no copies).
- `"one-device"`: `OneDeviceStrategy` on the first GPU, or the CPU.
- `"mirrored"`: `MirroredStrategy` over the local GPUs; on a machine without
  GPUs, over its logical CPU devices (one, unless
  `tf.config.set_logical_device_configuration` split the CPU).
- `"multi-worker"`: `MultiWorkerMirroredStrategy` across the processes that
  `$TF_CONFIG` lists, one per machine.
- `"tpu"`: `TPUStrategy` on the TPU named by `--tpu` or `$TPU_NAME`, else on
  the local TPU of a TPU VM.

Example:
```python
from bertcnn_tf.training.distribution import global_batch_size, make_strategy

strategy = make_strategy("mirrored")
global_batch_size(32, strategy)  # 32 × the number of replicas
with strategy.scope():
    ...  # build and compile the model here
```
"""

import contextlib
import functools
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from bertcnn_tf.choices import STRATEGIES

TPU_ENVIRONMENT = "TPU_NAME"
LOCAL_TPU = "local"
EXAMPLE_TF_CONFIG = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


class StrategyError(ValueError):
    """A strategy that cannot be set up here; the message says what to change."""


def make_strategy(name="auto", tpu=None):
    """The `tf.distribute.Strategy` called `name` (one of `STRATEGIES`).

    Args:
        name: `"auto"`, `"one-device"`, `"mirrored"`, `"multi-worker"` or
            `"tpu"`.
        tpu: A TPU name or `grpc://` address; defaults to `$TPU_NAME`. Only a
            named TPU makes `"auto"` look for one, since looking up an
            unnamed TPU can wait on the network.

    Returns:
        The strategy. The same arguments give the same object within a
        process: a multi-worker strategy can be created once only, and
        initializing a TPU again would wipe its memory.

    Raises:
        StrategyError: an unknown name, a non-TensorFlow Keras backend, a
            missing or malformed `$TF_CONFIG`, or a TPU that cannot be
            reached.

    Example:
    ```python
    make_strategy("auto")   # default strategy on a one-GPU or CPU machine
    make_strategy("tpu", tpu="my-tpu-node")
    ```
    """
    if name not in STRATEGIES:
        raise StrategyError(
            f"Unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}."
        )
    if keras.backend.backend() != "tensorflow":
        # tf.distribute places TensorFlow ops; under JAX, Keras runs on
        # JAX's own devices and tf.data only feeds it.
        if name in ("auto", "one-device"):
            return tf.distribute.get_strategy()
        raise StrategyError(
            f"--strategy {name} runs on TensorFlow's distribution engine; "
            f"KERAS_BACKEND is {keras.backend.backend()!r}. Use "
            "KERAS_BACKEND=tensorflow, or --strategy auto."
        )
    return _create_strategy(name, tpu or os.environ.get(TPU_ENVIRONMENT) or None)


@functools.cache
def _create_strategy(name, tpu):
    if name == "auto":
        if tpu:
            return tpu_strategy(tpu)
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(replica_devices()[0])
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(replica_devices())
    if name == "multi-worker":
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tpu_strategy(tpu or LOCAL_TPU)


def replica_devices():
    """The local devices a replica can run on: the GPUs, else the CPUs."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def check_tf_config():
    """Checks that `$TF_CONFIG` describes a cluster and this process's task.

    Example, on the first of two workers: `EXAMPLE_TF_CONFIG`.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise StrategyError(
            "--strategy multi-worker needs TF_CONFIG: the cluster's addresses and this "
            f"process's task, e.g. '{EXAMPLE_TF_CONFIG}'. See docs/distributed.md."
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({error.msg}).") from None
    if not isinstance(config, dict) or not {"cluster", "task"} <= set(config):
        raise StrategyError("TF_CONFIG needs both a 'cluster' and a 'task' entry.")


def tpu_strategy(tpu):
    """Connects to a TPU, initializes it, and returns a `TPUStrategy` on it.

    Args:
        tpu: `"local"` (the TPU of a TPU VM), a TPU node's name, or a
            `grpc://host:port` address.
    """
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, OSError, tf.errors.OpError) as error:
        raise StrategyError(
            f"No TPU at {tpu!r} ({type(error).__name__}: {str(error).splitlines()[0]}). "
            "On a TPU VM, leave --tpu and $TPU_NAME unset; for a TPU node, pass "
            "its name or grpc:// address with --tpu or $TPU_NAME."
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def is_default(strategy):
    """Whether `strategy` is TensorFlow's default one: one device, no copies."""
    # The default strategy is the one in force outside every scope.
    return not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy()


def is_tpu(strategy):
    """Whether `strategy` runs on TPUs (which need static shapes)."""
    return isinstance(strategy, tf.distribute.TPUStrategy)


def worker_count(strategy):
    """How many worker processes train together (1 unless multi-worker)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


def is_multi_worker(strategy):
    """Whether several worker processes train together under `strategy`."""
    return worker_count(strategy) > 1


def is_chief(strategy):
    """Whether this process keeps the files it writes.

    The chief is the `"chief"` task, or worker 0 of a cluster without one
    (TensorFlow's convention); a single process is always the chief.
    """
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().jobs
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def global_batch_size(per_replica_batch_size, strategy):
    """The examples one training step reads: per replica × replicas."""
    return per_replica_batch_size * strategy.num_replicas_in_sync


def strategy_name(strategy):
    """The name to show for `strategy`: its public `tf.distribute` class."""
    if is_default(strategy):
        return "default (one device)"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"  # its class is CollectiveAllReduceStrategy
    return type(strategy).__name__


def describe(strategy, per_replica_batch_size):
    """One line for the log: the strategy, its replicas and the batch sizes."""
    replicas = strategy.num_replicas_in_sync
    where = f"{replicas} replica{'s' if replicas > 1 else ''}"
    if is_multi_worker(strategy):
        where += f" on {worker_count(strategy)} workers"
    return (
        f"Strategy: {strategy_name(strategy)}, {where}; global batch "
        f"{global_batch_size(per_replica_batch_size, strategy)} "
        f"({per_replica_batch_size} per replica)."
    )


@contextlib.contextmanager
def writable_dir(path, strategy):
    """The folder this process writes its run files to.

    In multi-worker training every worker must save, since TensorFlow's
    saving can involve collective ops that every worker has to join, but
    only the chief's files may be kept: the chief writes to `path`, every
    other worker to a temporary folder deleted on exit (TensorFlow's
    multi-worker pattern).

    Example:
    ```python
    with writable_dir("runs/first", strategy) as folder:
        model.save_weights(os.path.join(folder, "best.weights.h5"))
    ```
    """
    if is_chief(strategy):
        os.makedirs(path, exist_ok=True)
        yield path
        return
    scratch = tempfile.mkdtemp(prefix="bertcnn-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def needs_host_copy(strategy):
    """Whether the trained model must leave the strategy to predict and be saved.

    Under a `MirroredStrategy`, Keras 3.15's `predict_on_batch` gives every
    replica the whole batch and returns all their outputs (twice the rows
    with two replicas); multi-worker prediction is a collective every worker
    must join, while the report is the chief's job alone; TPU programs need
    static shapes, which inference batches do not have. A copy of the model
    made outside the strategy has none of these problems.
    """
    return not is_default(strategy)
