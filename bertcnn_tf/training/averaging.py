"""Weight averaging: validation and checkpoints see the optimizer's moving average.

With `use_ema=True` a Keras optimizer keeps an exponential moving average
of the trainable weights (Polyak averaging) beside them; `AveragedWeights`
puts that average in the model whenever the model is judged or saved.
"""

import contextlib

import keras
from keras import ops


class AveragedWeights(keras.callbacks.Callback):
    """Validates and checkpoints the moving average of the weights, trains the raw ones.

    For an optimizer built with `use_ema=True`. The average replaces the
    weights from the start of validation to the start of the next epoch,
    so that callbacks listed after this one (`ModelCheckpoint`,
    `EarlyStopping`) judge and save the average; training always continues
    from the raw weights, which are back in the model when `fit` returns.

    Keras' `SwapEMAWeights(swap_on_epoch=True)` does the same within one
    `fit`, but leaves the average in place of the raw weights when `fit`
    ends, so a run resumed in a second `fit` (as
    `bertcnn_tf.training.trainer.fit_resumable` does after an interruption) would
    go on from the average. A backup taken while the average is in the
    model must hold the raw weights: take it inside `raw_weights()`.

    Example:
    ```python
    import keras
    import numpy as np
    from bertcnn_tf.training.averaging import AveragedWeights

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(use_ema=True, ema_momentum=0.9), "mse")
    x, y = np.ones((8, 4)), np.ones((8, 1))
    checkpoint = keras.callbacks.ModelCheckpoint("best.weights.h5", save_weights_only=True)
    model.fit(x, y, validation_data=(x, y), epochs=2, callbacks=[AveragedWeights(), checkpoint])
    ```
    """

    def __init__(self):
        super().__init__()
        self._raw = None  # the raw weights, on the host, while the average is in the model

    @property
    def average_in_model(self):
        return self._raw is not None

    def _pairs(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "AveragedWeights needs an optimizer that keeps a moving average of the "
                "weights: build it with use_ema=True (bertcnn_tf: ema_momentum=0.99)."
            )
        return list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average))

    def put_average(self):
        """Copies the average into the model, keeping the raw weights aside."""
        if self._raw is None:
            pairs = self._pairs()
            self._raw = [ops.convert_to_numpy(variable) for variable, _ in pairs]
            for variable, average in pairs:
                # A copy: under JAX the next step donates the weights' buffers,
                # which would delete the average with them.
                variable.assign(ops.copy(average))

    def put_raw(self):
        """Puts the raw weights back."""
        if self._raw is not None:
            for (variable, _), raw in zip(self._pairs(), self._raw):
                variable.assign(raw)
            self._raw = None

    @contextlib.contextmanager
    def raw_weights(self):
        """The raw weights in the model for the duration of the block."""
        had_average = self.average_in_model
        self.put_raw()
        try:
            yield
        finally:
            if had_average:
                self.put_average()

    def on_epoch_begin(self, epoch, logs=None):
        self.put_raw()

    def on_test_begin(self, logs=None):
        self.put_average()

    def on_epoch_end(self, epoch, logs=None):
        self.put_average()  # also without validation data

    def on_train_end(self, logs=None):
        # `fit` has just copied the average over the weights
        # (`finalize_variable_values`), which left it in the model.
        self.put_raw()
