"""Weight averaging: checkpoints hold the average, training and resuming keep the raw weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertcnn_tf.training.averaging import AveragedWeights
from bertcnn_tf.training.backup import TrainingBackup
from bertcnn_tf.training.config import TrainingConfig
from bertcnn_tf.training.trainer import check_config
from bertcnn_tf.training.trainer import fit_resumable

STEPS = 8  # per epoch


def dense_model(use_ema=True):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    optimizer = keras.optimizers.Adam(0.05, use_ema=use_ema, ema_momentum=0.8)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def data():
    rng = np.random.RandomState(0)
    x, y = rng.rand(32, 4).astype("float32"), rng.rand(32, 3).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat(), (x, y)


def arrays(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def averages(model):
    return arrays(model.optimizer._model_variables_moving_average)


def assert_all_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_checkpoint_holds_the_average_and_training_follows_the_raw_weights(tmp_path):
    train, validation = data()
    averaged_model, plain_model = dense_model(), dense_model(use_ema=False)
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "last.weights.h5"), save_weights_only=True)
    averaged_model.fit(
        train, validation_data=validation, epochs=2, steps_per_epoch=STEPS, verbose=0, shuffle=False,
        callbacks=[AveragedWeights(), checkpoint],
    )
    plain_model.fit(train, epochs=2, steps_per_epoch=STEPS, verbose=0, shuffle=False)
    # The callbacks never changed what the optimizer stepped from.
    assert_all_close(arrays(averaged_model.weights), arrays(plain_model.weights))
    # The last epoch's checkpoint is the optimizer's average, which differs from the weights.
    saved = dense_model()
    saved.optimizer.build(saved.trainable_variables)  # the file holds the optimizer's state too
    saved.load_weights(tmp_path / "last.weights.h5")
    assert_all_close(arrays(saved.weights), averages(averaged_model))
    assert not np.allclose(arrays(saved.weights)[0], arrays(averaged_model.weights)[0])


def test_validation_scores_the_average(tmp_path):
    train, validation = data()
    model = dense_model()
    history = model.fit(
        train, validation_data=validation, epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False,
        callbacks=[AveragedWeights()],
    )
    raw_loss = model.evaluate(*validation, verbose=0)
    weights = arrays(model.weights)
    for variable, average in zip(model.trainable_variables, averages(model)):
        variable.assign(average)
    average_loss = model.evaluate(*validation, verbose=0)
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(value)
    assert history.history["val_loss"][0] == pytest.approx(average_loss, rel=1e-5)
    assert average_loss != pytest.approx(raw_loss, rel=1e-3)


class Interrupted(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Stops training at the end of batch `batch` of epoch `epoch`, as a kill would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise Interrupted


def resumable_fit(model, backup_dir, epochs=3, interrupt=None):
    train, validation = data()
    averaged = AveragedWeights()
    backup = TrainingBackup(str(backup_dir), save_every_steps=3, averaged_weights=averaged)
    extra = [InterruptAfter(*interrupt)] if interrupt else []
    if interrupt:
        # The kill lands after the backup: the callback runs after it.
        model.fit(
            train, validation_data=validation, epochs=epochs, steps_per_epoch=STEPS, verbose=0, shuffle=False,
            callbacks=[averaged, backup, *extra],
        )
    else:
        fit_resumable(model, train, validation, backup, epochs=epochs, steps_per_epoch=STEPS,
                      callbacks=[averaged], verbose=0)


@pytest.mark.parametrize(
    "interrupt",
    [(1, 0), (1, 5)],  # the first backup of epoch 2 (epoch 1 ended with the average in the model); mid-epoch
    ids=["after-an-epoch-end", "mid-epoch"],
)
def test_a_resumed_run_goes_on_from_the_raw_weights_and_the_same_average(tmp_path, interrupt):
    reference = dense_model()
    resumable_fit(reference, tmp_path / "reference")

    with pytest.raises(Interrupted):
        resumable_fit(dense_model(), tmp_path / "run", interrupt=interrupt)
    resumed = dense_model()
    resumable_fit(resumed, tmp_path / "run")

    assert_all_close(arrays(resumed.weights), arrays(reference.weights))
    assert_all_close(averages(resumed), averages(reference))


def test_needs_an_optimizer_that_averages():
    train, validation = data()
    model = dense_model(use_ema=False)
    with pytest.raises(ValueError, match="use_ema=True"):
        model.fit(train, validation_data=validation, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False,
                  callbacks=[AveragedWeights()])


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.5])
def test_ema_momentum_out_of_range_is_refused(momentum):
    with pytest.raises(ValueError, match="ema_momentum must be in"):
        check_config(TrainingConfig(ema_momentum=momentum))
