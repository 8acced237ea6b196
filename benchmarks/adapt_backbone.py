"""Task-adaptive pre-training: more masked-LM training of the backbone on a dataset's own texts.

    python -m benchmarks.adapt_backbone --data-dir ../shared/data --dataset sst2 --output ../adapted/sst2
    python -m benchmarks.accuracy --data-dir ../shared/data --datasets sst2 --backbone ../adapted/sst2

Continues BERT's masked-language-model pre-training (keras-hub `BertMaskedLM`, 15% of tokens
selected) on the training split's texts, labels unused (Gururangan et al., 2020, "Don't Stop
Pretraining"), then saves the backbone and its tokenizer as a keras-hub preset directory that
`python -m benchmarks.accuracy --backbone` and the package's `--backbone` options load.
all-MiniLM-L6-v2 ships without its masked-LM head, so the head's transform starts from random
weights (its output projection is tied to the token embeddings). Writes the directory whole or
not at all; prints the masked-token accuracy per epoch.
"""

import argparse
import os
import shutil
import tempfile

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_split


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adapt_backbone", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--output", required=True, help="the preset directory to write; must not exist")
    parser.add_argument("--backbone", default="offline", help="the backbone to start from")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if os.path.exists(args.output):
        parser.error(f"--output {args.output} exists; pass a new directory, or remove it to adapt again.")

    import keras
    import keras_hub
    import tensorflow as tf

    from bertcnn_tf.backbones import load_backbone

    keras.utils.set_random_seed(args.seed)
    backbone, preprocessor = load_backbone(args.backbone, args.sequence_length)
    masker = keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer=preprocessor.tokenizer, sequence_length=args.sequence_length,
        mask_selection_rate=0.15, mask_selection_length=max(1, round(0.15 * args.sequence_length)),
    )
    model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    texts = read_split(args.data_dir, args.dataset, "train").texts
    steps = -(-len(texts) // args.batch_size)
    dataset = (
        tf.data.Dataset.from_tensor_slices(list(texts))
        .shuffle(len(texts), seed=args.seed, reshuffle_each_iteration=True)
        .batch(args.batch_size)
        .map(masker, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    schedule = keras.optimizers.schedules.PolynomialDecay(args.learning_rate, steps * args.epochs, 0.0)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="masked_accuracy")],
    )
    print(f"{len(texts)} {args.dataset} training texts, {steps} steps an epoch", flush=True)
    model.fit(dataset, epochs=args.epochs, verbose=2)

    parent = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".adapting-", dir=parent)
    try:
        backbone.save_to_preset(staging)
        preprocessor.tokenizer.save_to_preset(staging)
        os.replace(staging, args.output)  # readers see the whole preset or none
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"saved the adapted backbone to {args.output}")


if __name__ == "__main__":
    main()
