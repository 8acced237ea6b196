"""Patches to Keras 3.15's private TensorFlow trainer, so `fit` runs under tf.distribute.

The only module that touches `keras.src`; drop it once Keras fixes
keras-team/keras#20585 and tensorflow/tensorflow#72388 (see `keras_fit_fixes`).
"""

import contextlib

import tensorflow as tf

from bertcnn_tf.training.distribution import is_default
from bertcnn_tf.training.distribution import is_multi_worker


@contextlib.contextmanager
def keras_fit_fixes(strategy):
    """Lets Keras 3.15's `fit`/`evaluate` run under tf.distribute strategies.

    Keras 3.15's TensorFlow trainer fails in two places under strategies
    (keras-team/keras#20585, tensorflow/tensorflow#72388):

    - before the first step it averages a sample batch across replicas with
      `strategy.reduce("MEAN", ...)`, only to learn its shapes; that fails on
      the boolean `padding_mask` ("AddN ... bool") under `MirroredStrategy`,
      and on any nested batch under `MultiWorkerMirroredStrategy`. One
      replica's part of the batch has the same shapes, so it is used;
    - under `MultiWorkerMirroredStrategy` it averages each step's scalar logs
      with `strategy.reduce(..., axis=0)`, which fails on scalars; they are
      averaged with `axis=None`.

    Both are patched while the context is open, only where they apply; the
    default strategy runs Keras unchanged.
    """
    if is_default(strategy):
        yield
        return
    # Imported here: under the JAX backend no strategy reaches this line.
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction not in ("auto", "mean") or not is_multi_worker(strategy):
            return original_reduce(values, strategy, reduction)
        return tf.nest.map_structure(
            lambda value: strategy.reduce("MEAN", value, axis=None)
            if isinstance(value, tf.distribute.DistributedValues)
            else value,
            values,
        )

    def maybe_symbolic_build(model, iterator=None, data_batch=None):
        if model._distribute_strategy is None:  # as Keras: built when traced
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(first_local_value(model), next(batches))
                break
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = original_build


def first_local_value(model):
    """A function from a distributed value to its first local replica's value."""

    def first(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return model.distribute_strategy.experimental_local_results(value)[0]
        return value

    return first
