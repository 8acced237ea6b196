"""BERT fine-tuning's optimizer: AdamW, linear warm-up and decay, clipping.

Registered with Keras, so a `.keras` file that names them loads after
`import bertcnn_tf`.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 over `warmup_steps`, then falls linearly to 0.

    BERT's fine-tuning schedule: the warm-up keeps the first updates of a
    randomly initialised head from wrecking the pretrained weights.

    Example:
    ```python
    schedule = LinearWarmupDecay(5e-5, total_steps=1000, warmup_steps=100)
    float(schedule(50))  # 2.5e-05
    ```
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, int(warmup_steps))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = keras.ops.maximum(float(self.warmup_steps), 1.0)
        rising = step / warmup
        decay_span = keras.ops.maximum(float(self.total_steps - self.warmup_steps), 1.0)
        falling = (float(self.total_steps) - step) / decay_span
        fraction = keras.ops.where(step < self.warmup_steps, rising, falling)
        return self.peak_learning_rate * keras.ops.clip(fraction, 0.0, 1.0)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class GlobalClipAdamW(keras.optimizers.AdamW):
    """`AdamW` that clips the gradient summed over replicas, as one device would.

    Keras 3.15 clips each replica's share of the gradient before the
    all-reduce sums them (`BaseOptimizer._backend_apply_gradients`), so with
    R replicas the sum can reach R times `global_clipnorm` and training
    differs from one device on the same global batch whenever clipping acts
    (tensorflow/tensorflow#33929: clipping before the aggregation is
    "usually wrong"). Here Keras' own clipping runs on the sum instead. That
    also keeps a second effect of it the same as on one device: it makes the
    embeddings' sparse gradients dense, adding up the rows of a token that
    occurs twice in a batch before Adam squares them. Without replicas, and
    under other backends, this is Keras' `AdamW`.

    `learning_rate_multipliers` ({variable path: factor}) scales the step of
    the variables it names, so a freshly initialised head can learn faster
    than the pretrained backbone under one schedule (weight decay keeps the
    base rate).

    Example:
    ```python
    import keras
    from bertcnn_tf.optimizers import GlobalClipAdamW

    dense = keras.layers.Dense(2, name="head")
    dense.build((None, 4))
    optimizer = GlobalClipAdamW(1e-4, learning_rate_multipliers={dense.kernel.path: 10.0})
    ```
    """

    def __init__(self, *args, learning_rate_multipliers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.learning_rate_multipliers = {
            str(path): float(factor) for path, factor in (learning_rate_multipliers or {}).items()
        }

    def build(self, variables):
        super().build(variables)
        self._multipliers = [self.learning_rate_multipliers.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        if self.learning_rate_multipliers:
            factor = self._multipliers[self._get_variable_index(variable)]
            if factor != 1.0:
                learning_rate = learning_rate * factor
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = dict(self.learning_rate_multipliers)
        return config

    def _clip_gradients(self, grads):
        if replicas_in_sync() > 1:
            return grads  # clipped after the all-reduce, below
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras' TensorFlow optimizer sums the replicas' gradients here, in
        # replica context; other backends never call it.
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        if replicas_in_sync() <= 1:
            return grads_and_vars
        grads, variables = zip(*grads_and_vars)
        return list(zip(super()._clip_gradients(list(grads)), variables))


def make_optimizer(
    learning_rate,
    total_steps,
    warmup_ratio=0.1,
    weight_decay=0.01,
    clip_norm=1.0,
    precision="float32",
    learning_rate_multipliers=None,
    ema_momentum=None,
):
    """AdamW with linear warm-up and decay, no decay on biases and LayerNorm.

    Gradients are clipped to a global norm of `clip_norm` (after the sum
    over replicas, see `GlobalClipAdamW`); under `mixed_float16` the
    optimizer is wrapped in a `LossScaleOptimizer`. `learning_rate` applies
    to the global batch: see docs/distributed.md for how to scale it.
    `learning_rate_multipliers` ({variable path: factor}) scales the named
    variables' rate (`head_learning_rate_multipliers` builds one for a head,
    `layer_decay_learning_rate_multipliers` one for the backbone's layers).
    With `ema_momentum` it also keeps a moving average of the weights
    (Keras' `use_ema`), for `bertcnn_tf.training.averaging.AveragedWeights`.
    """
    schedule = LinearWarmupDecay(
        learning_rate, total_steps, warmup_steps=round(total_steps * warmup_ratio)
    )
    optimizer = GlobalClipAdamW(
        schedule,
        weight_decay=weight_decay,
        global_clipnorm=clip_norm,
        learning_rate_multipliers=learning_rate_multipliers,
        use_ema=ema_momentum is not None,
        ema_momentum=0.99 if ema_momentum is None else ema_momentum,
    )
    # Keras' LayerNormalization names its scale and offset gamma and beta.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def head_learning_rate_multipliers(model, factor, output_factor=None):
    """{variable path: factor} for every trainable variable outside `model.backbone`.

    For a keras-hub task (a `BertCNNClassifier`, keras-hub's
    `BertTextClassifier`): the head is what fine-tuning starts from random.
    `output_factor` gives the task's last layer (its `output_dense`, the
    classifier) a rate of its own, so the convolutions and the classifier
    can learn at different speeds; `None`: `factor`, like the rest of the
    head. Variables at 1 are left out, so the map is empty when both are 1.

    Example:
    ```python
    import keras_hub
    from bertcnn_tf.models import BertCNNClassifier
    from bertcnn_tf.optimizers import head_learning_rate_multipliers

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=16,
    )
    model = BertCNNClassifier(backbone, num_classes=3)
    multipliers = head_learning_rate_multipliers(model, 1, output_factor=20)
    multipliers[model.output_dense.kernel.path]  # 20.0
    ```
    """
    output_factor = factor if output_factor is None else output_factor
    backbone = {id(v) for v in model.backbone.trainable_variables}
    output = getattr(model, "output_dense", None)
    output = {id(v) for v in output.trainable_variables} if output is not None else set()
    multipliers = {
        v.path: float(output_factor if id(v) in output else factor)
        for v in model.trainable_variables
        if id(v) not in backbone
    }
    return {path: value for path, value in multipliers.items() if value != 1.0}


def layer_decay_learning_rate_multipliers(backbone, decay):
    """{variable path: factor}: each backbone layer learns `decay` times as fast as the one above.

    Layer-wise learning-rate decay (Clark et al., 2020, ELECTRA): lower
    layers hold the more general features and move less. Of L transformer
    layers, layer k (1 = the lowest) is scaled by `decay ** (L + 1 - k)`,
    the embeddings by `decay ** (L + 1)`; the pooler and everything outside
    the backbone keep their rate. For keras-hub backbones, which list their
    blocks in `transformer_layers`. Empty when `decay` is 1.

    Example:
    ```python
    import keras_hub
    from bertcnn_tf.optimizers import layer_decay_learning_rate_multipliers

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=16,
    )
    multipliers = layer_decay_learning_rate_multipliers(backbone, 0.5)
    multipliers["transformer_layer_1/feedforward_output_dense/kernel"]  # 0.5
    multipliers["token_embedding/embeddings"]  # 0.125
    ```
    """
    check_layer_decay(decay)
    if decay == 1:
        return {}
    layers = getattr(backbone, "transformer_layers", None)
    if not layers:
        raise ValueError(
            f"layer_decay needs a backbone that lists its blocks in `transformer_layers`, as "
            f"keras-hub's do; {type(backbone).__name__} does not. Leave layer_decay at 1."
        )
    depth = len(layers) + 1  # the embeddings' distance below the head
    multipliers = {v.path: decay**depth for v in backbone.trainable_variables}
    for k, layer in enumerate(layers, start=1):
        multipliers.update({v.path: decay ** (depth - k) for v in layer.trainable_variables})
    pooler = getattr(backbone, "pooled_dense", None)
    for variable in pooler.trainable_variables if pooler is not None else ():
        del multipliers[variable.path]
    return multipliers


def check_layer_decay(decay):
    if not 0 < decay <= 1:
        raise ValueError(
            f"layer_decay must be in (0, 1] (1 gives every layer the same rate; 0.8-0.95 is "
            f"usual), not {decay}."
        )


def replicas_in_sync():
    """How many replicas share the step being traced (1 outside tf.distribute)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1
