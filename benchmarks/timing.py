"""How the speed benchmarks time: best wall time, training rates side by side, and FLOPs.

Shared by `speed.py`, `head_cost.py` and `scaling.py`. Training is timed on the same
pre-built batches for every model, each batch by every model in turn, so that a slow spell
of the shared machine lands on all of them alike:

    from benchmarks.timing import timed
    seconds = timed(lambda: sum(range(10**6)))
"""

import time


def timed(function, repeats=2):
    """Best wall time of `repeats` calls (after one warm-up call)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def model_flops_per_text(backbone, tokens, head_filters=128, kernel_sizes=(3, 4, 5)):
    """Forward FLOPs of BERT + TextCNN for one text of `tokens` tokens."""
    h, i, layers = backbone.hidden_dim, backbone.intermediate_dim, backbone.num_layers
    dense = 2 * tokens * (4 * h * h + 2 * h * i)  # QKV + output projections, feed-forward
    attention = 2 * 2 * tokens * tokens * h  # scores and weighted sum
    cnn = sum(2 * tokens * k * h * head_filters for k in kernel_sizes)
    return layers * (dense + attention) + cnn


def training_batches(preprocessor, train_examples, targets, batch_size, steps):
    """`steps` batches taken once from the training pipeline (length-bucketed, trimmed)."""
    from bertcnn_tf.data.pipeline import make_dataset

    data = make_dataset(train_examples, preprocessor, targets, batch_size, training=True)
    return list(data.take(steps))


def training_rates(tasks, batches, rounds=3):
    """examples/s of `train_on_batch` for each of `tasks` ({name: task}).

    Every task trains on the same `batches` (from `training_batches`), so all
    see the same shapes and tokens. One untimed pass per task traces the train step for each of
    those shapes. The timed passes then go batch by batch, every task training
    on the batch in turn (who goes first rotates from pass to pass), so that a
    slow spell of the shared machine lands on all of them within a second of
    each other; a task's time for a batch is its median over the `rounds`
    passes, which drops the steps a spike hit.
    """
    import contextlib
    import statistics

    import keras

    from bertcnn_tf.preprocessing import detached_preprocessor

    names = list(tasks)
    seconds = {name: [[] for _ in batches] for name in names}
    with contextlib.ExitStack() as stack:
        for task in tasks.values():
            task.compile(
                optimizer=keras.optimizers.AdamW(1e-5),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                metrics=[],
            )
            stack.enter_context(detached_preprocessor(task))
            for features, labels in batches:
                task.train_on_batch(features, labels)
        for round_index in range(rounds):
            shift = round_index % len(names)
            order = names[shift:] + names[:shift]
            for batch_index, (features, labels) in enumerate(batches):
                for name in order:
                    start = time.perf_counter()
                    tasks[name].train_on_batch(features, labels)
                    seconds[name][batch_index].append(time.perf_counter() - start)
    examples = sum(int(labels.shape[0]) for _, labels in batches)
    return {name: examples / sum(map(statistics.median, seconds[name])) for name in names}


def alternately_labelled(examples):
    """`examples` labelled "negative" / "positive" in turn, and their targets: data to time
    training on (the labels do not matter to the time)."""
    from bertcnn_tf.data.files import Examples
    from bertcnn_tf.data.files import LabelVocabulary

    labels = [["positive"] if i % 2 else ["negative"] for i in range(len(examples))]
    train_examples = Examples(texts=examples.texts, labels=labels)
    return train_examples, LabelVocabulary(["negative", "positive"]).encode(train_examples)


def keras_hub_cls_classifier(tokenizer, sequence_length=128):
    """keras-hub's `BertTextClassifier` (the CLS baseline) on the offline backbone, two classes,
    with this package's preprocessor of `tokenizer`."""
    import keras_hub

    from bertcnn_tf import make_preprocessor
    from bertcnn_tf.backbones import offline_backbone_dir

    return keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone.from_preset(offline_backbone_dir()),
        num_classes=2,
        preprocessor=make_preprocessor(tokenizer, sequence_length),
    )


def padded_to_128(model):
    """`model` with the seed article's pipeline: the same weights, every batch padded to 128 tokens."""
    from bertcnn_tf import BertCNNClassifier
    from bertcnn_tf import make_preprocessor

    preprocessor = make_preprocessor(model.preprocessor.tokenizer, 128)
    padded = BertCNNClassifier(model.backbone, model.num_classes, preprocessor=preprocessor)
    padded.set_weights(model.get_weights())
    return padded
