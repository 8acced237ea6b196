"""Labelled text files → examples → label vocabulary → tf.data pipelines.

Reads CSV, TSV and JSON Lines. Bad input gets a `DataError` naming the file,
the line or column, and the fix; rows that cannot be used (empty text, empty
label) are dropped and counted, never lost silently.
"""

import collections
import csv
import dataclasses
import io
import json
import math
import os
import random

import numpy as np
import tensorflow as tf

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
# Batches are trimmed to their longest text rounded up to this many tokens,
# which bounds the number of distinct shapes (and so of graph retracings).
LENGTH_STEP = 8


class DataError(ValueError):
    """Input data that cannot be used as given; the message says how to fix it."""


@dataclasses.dataclass
class Examples:
    """Texts, optional second texts, and their label lists, read from one file."""

    texts: list
    labels: list  # one list of label strings per row; empty when unlabelled
    pairs: list = None  # second texts for sentence-pair tasks
    source: str = ""
    dropped: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.texts)

    def subset(self, indices):
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
            source=self.source,
        )

    def inputs(self):
        """The model's `x`: the texts, or a `(texts, pairs)` tuple."""
        return self.texts if self.pairs is None else (self.texts, self.pairs)

    def dropped_summary(self):
        return ", ".join(f"{count} {reason}" for reason, count in self.dropped.items() if count)


def detect_format(path):
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise DataError(
            f"{path}: unknown file type {extension!r}. Use .csv, .tsv or .jsonl "
            "(JSON Lines: one object per line)."
        )
    return FORMATS[extension]


def decode(path, encoding):
    """Reads a whole file as text, naming the line of any undecodable bytes."""
    if not os.path.exists(path):
        raise DataError(f"No such file: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: bytes {raw[error.start:error.end]!r} are not "
            f"valid {encoding}. Pass the file's encoding (--encoding latin-1, "
            "cp1252, ...) or re-save it as UTF-8."
        ) from None
    except LookupError:
        raise DataError(f"Unknown encoding {encoding!r}.") from None
    return text.lstrip("\ufeff")  # a UTF-8 byte-order mark is not part of the header


def read_records(path, encoding="utf-8"):
    """Yields `(line_number, row dict)` for every data row of a file."""
    file_format = detect_format(path)
    text = decode(path, encoding)
    if file_format == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}, line {number}: expected a JSON object per line.")
            yield number, record
        return
    delimiter = "\t" if file_format == "tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for row in reader:
        yield reader.line_num, row


def check_columns(path, record, columns):
    missing = [column for column in columns if column and column not in record]
    if missing:
        available = ", ".join(repr(key) for key in record if key is not None)
        raise DataError(
            f"{path}: no column {', '.join(repr(c) for c in missing)}. The file has "
            f"{available}. Choose them with --text-column / --label-column / "
            "--text-pair-column."
        )


def as_text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # JSON Lines may hold a label list
        return "|".join(str(item) for item in value)
    return str(value)


def read_examples(
    path,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    label_separator=None,
    encoding="utf-8",
    require_labels=True,
):
    """Reads labelled (or, with `require_labels=False`, unlabelled) texts.

    Args:
        path: A `.csv`, `.tsv` or `.jsonl` file.
        text_column: The column of the texts.
        label_column: The column of the labels.
        text_pair_column: Optional column of second texts (sentence pairs).
        label_separator: For multi-label data, the string that joins the
            labels of a row (e.g. `"|"`); `None` for one label per row.
        encoding: The file's text encoding.
        require_labels: `False` reads texts only (for prediction).

    Returns:
        `Examples`, with empty texts and empty labels dropped and counted in
        `dropped`.

    Example:
    ```python
    examples = read_examples("reviews.csv", text_column="review")
    print(len(examples), examples.dropped_summary())
    ```
    """
    texts, pairs, labels = [], [], []
    dropped = collections.Counter()
    columns = [text_column, text_pair_column, label_column if require_labels else None]
    checked = False
    for _, record in read_records(path, encoding):
        if not checked:
            check_columns(path, record, columns)
            checked = True
        text = as_text(record.get(text_column))
        pair = as_text(record.get(text_pair_column)) if text_pair_column else None
        if not text.strip() or (pair is not None and not pair.strip()):
            dropped["empty or whitespace-only texts"] += 1
            continue
        row_labels = []
        if require_labels:
            raw = as_text(record.get(label_column)).strip()
            parts = raw.split(label_separator) if label_separator else [raw]
            row_labels = [part.strip() for part in parts if part.strip()]
            if not row_labels:
                dropped["empty labels"] += 1
                continue
        texts.append(text)
        pairs.append(pair)
        labels.append(row_labels)
    if not checked:
        raise DataError(f"{path}: the file has no data rows.")
    if not texts:
        raise DataError(f"{path}: no usable rows ({', '.join(f'{n} {r}' for r, n in dropped.items())}).")
    return Examples(
        texts=texts,
        labels=labels,
        pairs=pairs if text_pair_column else None,
        source=path,
        dropped=dict(dropped),
    )


class LabelVocabulary:
    """Label strings ↔ class ids, in a stable (sorted) order saved with the model.

    Example:
    ```python
    vocabulary = LabelVocabulary.from_examples(examples)
    vocabulary.labels          # ["billing", "delivery", ...]
    vocabulary.encode(examples)  # one-hot (or multi-hot) float32 targets
    ```
    """

    def __init__(self, labels, multi_label=False):
        self.labels = list(labels)
        self.multi_label = multi_label
        self.index = {label: i for i, label in enumerate(self.labels)}

    @classmethod
    def from_examples(cls, examples, multi_label=False):
        labels = sorted({label for row in examples.labels for label in row})
        if len(labels) < 2:
            raise DataError(
                f"{examples.source}: every row has the label {labels[0]!r}; a "
                "classifier needs at least two classes."
            )
        if not multi_label and any(len(row) > 1 for row in examples.labels):
            raise DataError(
                f"{examples.source}: some rows have several labels; pass "
                "--multi-label to train a multi-label model."
            )
        return cls(labels, multi_label)

    def __len__(self):
        return len(self.labels)

    def encode(self, examples):
        """One-hot (single-label) or multi-hot (multi-label) float32 targets."""
        unknown = sorted({label for row in examples.labels for label in row} - set(self.index))
        if unknown:
            raise DataError(
                f"{examples.source}: labels {unknown} never occur in the training "
                f"data (known: {self.labels}). Fix the labels, or add examples of "
                "them to the training file."
            )
        targets = np.zeros((len(examples), len(self.labels)), dtype="float32")
        for row, labels in enumerate(examples.labels):
            targets[row, [self.index[label] for label in labels]] = 1.0
        return targets


def shuffled_classes(examples, seed):
    """Row indices grouped by first label, groups in label order, each shuffled with `seed`."""
    groups = collections.defaultdict(list)
    for i, labels in enumerate(examples.labels):
        groups[sorted(labels)[0]].append(i)
    rng = random.Random(seed)
    for label in sorted(groups):
        rng.shuffle(groups[label])
    return [groups[label] for label in sorted(groups)]


def stratified_split(examples, fraction=0.1, seed=42):
    """Splits off a validation set that keeps each class's share.

    Rows are grouped by their first label; each group with at least two rows
    gives `fraction` of its rows (at least one) to the validation set.
    """
    train, validation = [], []
    for rows in shuffled_classes(examples, seed):
        take = max(1, round(len(rows) * fraction)) if len(rows) > 1 else 0
        validation.extend(rows[:take])
        train.extend(rows[take:])
    return examples.subset(sorted(train)), examples.subset(sorted(validation))


def stratified_folds(examples, folds=10, seed=42):
    """k-fold cross-validation splits that keep each class's share.

    Every row is in exactly one test fold; fold sizes differ by at most one.
    Kim (2014) and the papers after it score sets without an official split
    (MR, Subj, CR, MPQA) this way, with 10 folds.

    Returns:
        A list of `folds` `(train, test)` pairs of `Examples`.

    Example:

    ```python
    examples = Examples(texts=[str(i) for i in range(20)], labels=[["a"], ["b"]] * 10)
    pairs = stratified_folds(examples, folds=5)
    assert sorted(t for _, test in pairs for t in test.texts) == sorted(examples.texts)
    ```
    """
    if not 2 <= folds <= len(examples):
        raise ValueError(f"folds must be between 2 and the number of rows ({len(examples)}); got {folds}.")
    members = [[] for _ in range(folds)]
    dealt = 0
    for rows in shuffled_classes(examples, seed):
        for row in rows:  # dealt round-robin across classes, so sizes stay even
            members[dealt % folds].append(row)
            dealt += 1
    everything = set(range(len(examples)))
    return [
        (examples.subset(sorted(everything - set(test))), examples.subset(sorted(test)))
        for test in members
    ]


def trim_to_longest(features, step=LENGTH_STEP):
    """Cuts a padded batch down to its longest text, rounded up to `step`.

    The heads here give the same logits at any padding, so this only saves
    work (the seed head, tied to one length, is never trimmed).
    """
    full = tf.shape(features["token_ids"])[1]
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1))
    length = tf.minimum(full, (longest + step - 1) // step * step)
    length = tf.maximum(length, 1)
    return {name: value[:, :length] for name, value in features.items()}


def make_dataset(
    examples,
    preprocessor,
    targets=None,
    batch_size=32,
    training=False,
    seed=42,
    fixed_length=None,
    sample_weights=None,
    static_shapes=False,
):
    """A tf.data pipeline that tokenizes in the graph and pads only where needed.

    Training batches group texts of similar length (bucketing), so short texts
    are not padded to the longest of the whole set; each batch is then trimmed
    to its own longest text. The training pipeline repeats endlessly (fit it
    with `steps_per_epoch`) in an order fixed by `seed`, the same in every
    process, which is what lets a killed run resume on the right batch.
    Other pipelines keep the input order.

    Tokenizing happens here, on the host's CPU, so the model only ever sees
    numbers: no string op reaches a GPU or TPU. Under a `tf.distribute`
    strategy, `batch_size` is the global batch and every worker keeps its
    share of the batches (`distribution_options`).

    Args:
        examples: `Examples`.
        preprocessor: The model's `BertTextClassifierPreprocessor`.
        targets: Optional `[n, classes]` targets (`LabelVocabulary.encode`).
        batch_size: int.
        training: bool. Shuffle, bucket by length, and repeat-safe ordering.
        seed: int. The shuffle seed.
        fixed_length: The one sequence length of a `head="seed"` model, whose
            batches must not be trimmed.
        sample_weights: Optional `[n]` per-row loss weights.
        static_shapes: bool. Every batch `[batch_size, sequence_length]`, as
            TPUs need: no bucketing or trimming, and `drop_remainder`. A
            labelled evaluation set is first padded to whole batches with
            rows of weight 0, so no row is dropped and none counts twice.

    Example:
    ```python
    data = make_dataset(examples, model.preprocessor, targets, batch_size=32, training=True)
    model.fit(data, steps_per_epoch=steps_per_epoch(len(examples), 32))
    ```
    """
    if static_shapes and not training:
        if targets is None:
            raise ValueError(
                "static_shapes needs targets for a finite set: its last batch is "
                "padded with rows of weight 0, which only a labelled set can carry."
            )
        examples, targets, sample_weights = pad_to_whole_batches(
            examples, targets, sample_weights, batch_size
        )
    columns = (examples.inputs(),)
    if targets is not None:
        columns += (targets,)
        if sample_weights is not None:
            columns += (np.asarray(sample_weights, dtype="float32"),)
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)

    def preprocess(x, *rest):
        features = preprocessor(x=x)  # as `x=`: keras-hub reads a positional (text, pair) as (x, y)
        return (features, *rest) if rest else features

    # Tokenizing whole batches is much faster than one text at a time.
    chunk = max(batch_size, 256)
    dataset = dataset.batch(chunk).map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if training:
        # Endless, so that batches never run dry mid-epoch: fit with
        # `steps_per_epoch=steps_per_epoch(len(examples), batch_size)`.
        dataset = dataset.repeat()
    full_length = fixed_length or static_shapes
    if training and not full_length:
        boundaries = length_buckets(preprocessor.sequence_length)
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda x, *_: tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32)),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        )
    else:
        dataset = dataset.batch(batch_size, drop_remainder=static_shapes)

    def trim(x, *rest):
        x = trim_to_longest(x)
        return (x, *rest) if rest else x

    if not full_length:
        dataset = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
    if not training:
        # `unbatch` hides the length; Keras 3.15 hands the second pass over a
        # dataset of unknown length an exhausted iterator, so state it.
        cardinality = steps_per_epoch(len(examples), batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    return dataset.with_options(distribution_options()).prefetch(tf.data.AUTOTUNE)


def distribution_options():
    """tf.data options for multi-worker training: shard by data, not by file.

    The rows are in memory, not in files, so there are no files to share
    out: every worker runs the whole pipeline and keeps its share of each
    global batch (`AutoShardPolicy.DATA`), which is also what keeps the
    batch order the same on every worker and in a resumed run.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def pad_to_whole_batches(examples, targets, sample_weights, batch_size):
    """Repeats rows, with weight 0, until the set fills whole batches."""
    missing = -len(examples) % batch_size
    weights = np.ones(len(examples), "float32") if sample_weights is None else np.asarray(sample_weights, "float32")
    if not missing:
        return examples, targets, weights
    extra = [i % len(examples) for i in range(missing)]
    padded = examples.subset(list(range(len(examples))) + extra)
    return (
        padded,
        np.concatenate([targets, targets[extra]]),
        np.concatenate([weights, np.zeros(missing, "float32")]),
    )


def steps_per_epoch(num_examples, batch_size):
    return max(1, math.ceil(num_examples / batch_size))


def length_buckets(sequence_length):
    """Bucket boundaries for training: every `2 * LENGTH_STEP` tokens."""
    return list(range(2 * LENGTH_STEP, sequence_length, 2 * LENGTH_STEP))



class detached_preprocessor:
    """Context manager: feeds a keras-hub task data that is already tokenized.

    keras-hub tasks run their preprocessor on whatever `fit`/`predict` get;
    the pipelines above tokenize in tf.data themselves (to bucket and trim),
    so the task's own preprocessing is switched off while they run.
    """

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.preprocessor = self.model.preprocessor
        self.model.preprocessor = None
        return self.preprocessor

    def __exit__(self, *exc_info):
        self.model.preprocessor = self.preprocessor
        return False


def fixed_length(model):
    """The one sequence length a model accepts, or `None` when any length works."""
    return model.input["token_ids"].shape[1]
