"""Labelled text files → examples → label vocabulary, and splits of them.

Reads CSV, TSV and JSON Lines, gzipped or not, as streams. Bad input gets a `DataError` naming the file,
the line or column, and the fix; rows that cannot be used (empty text, empty
label) are dropped and counted, never lost silently.
"""

import codecs
import collections
import csv
import dataclasses
import gzip
import io
import json
import os
import random
import re

import numpy as np

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
# What `surrogateescape` decoding turns undecodable bytes into.
SURROGATES = re.compile("[\udc80-\udcff]+")


class DataError(ValueError):
    """Input data that cannot be used as given; the message says how to fix it."""


@dataclasses.dataclass
class Examples:
    """Texts, optional second texts, and their label lists, read from one file.

    >>> examples = Examples(texts=["charged twice", "late parcel"], labels=[["billing"], ["delivery"]])
    >>> len(examples), examples.inputs()
    (2, ['charged twice', 'late parcel'])
    """

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

    @classmethod
    def unlabelled(cls, texts, text_pairs=None):
        """`texts` as they are if they are `Examples`, else unlabelled `Examples` of them.

        >>> len(Examples.unlabelled(["charged twice"]))
        1
        """
        if isinstance(texts, cls):
            return texts
        return cls(
            texts=list(texts), labels=[[] for _ in texts], pairs=None if text_pairs is None else list(text_pairs)
        )


def detect_format(path):
    """"csv", "tsv" or "jsonl", from the file's extension (a `.gz` after it is read through gzip)."""
    extension = os.path.splitext(path[: -len(".gz")] if path.endswith(".gz") else path)[1].lower()
    if extension not in FORMATS:
        raise DataError(
            f"{path}: unknown file type {extension!r}. Use .csv, .tsv or .jsonl "
            "(JSON Lines: one object per line), each optionally gzipped (.csv.gz, ...)."
        )
    return FORMATS[extension]


def open_text(path, encoding="utf-8"):
    """A text stream of a file, gunzipped if it ends in `.gz`, read a buffer at a time.

    Undecodable bytes become lone surrogates (`surrogateescape`) instead of
    stopping the read, so that the reader can name their line
    (`undecodable_bytes`); a UTF-8 byte-order mark is dropped.
    """
    if not os.path.exists(path):
        raise DataError(f"No such file: {path}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"Unknown encoding {encoding!r}.") from None
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")


def undecodable_bytes(record, encoding):
    """The first bytes of `record`'s values that are not valid `encoding`, or None."""
    for value in record.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                match = SURROGATES.search(item)
                if match:
                    return match.group(0).encode(encoding, "surrogateescape")
    return None


def read_records(path, encoding="utf-8"):
    """Yields `(line_number, row dict)` for every data row of a file, reading it as a stream.

    A row with undecodable bytes comes out as it is: `undecodable_bytes`
    finds them. Malformed JSON Lines raise `DataError` naming the line.
    """
    file_format = detect_format(path)
    with open_text(path, encoding) as stream:
        if file_format == "jsonl":
            for number, line in enumerate(stream, start=1):
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
        reader = csv.DictReader(stream, delimiter="\t" if file_format == "tsv" else ",")
        for row in reader:
            yield reader.line_num, row


def undecodable_error(path, number, found, encoding):
    return DataError(
        f"{path}, line {number}: bytes {found!r} are not valid {encoding}. Pass the file's "
        "encoding (--encoding latin-1, cp1252, ...) or re-save it as UTF-8."
    )


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
    for number, record in read_records(path, encoding):
        if not checked:
            check_columns(path, record, columns)
            checked = True
        found = undecodable_bytes(record, encoding)
        if found:
            raise undecodable_error(path, number, found, encoding)
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

    def __init__(self, labels, multi_label=False, unknown_label=None):
        self.labels = list(labels)
        self.multi_label = multi_label
        # Rows with this label belong to no class (an abstaining model's "unknown"): all-zero targets.
        self.unknown_label = unknown_label
        self.index = {label: i for i, label in enumerate(self.labels)}

    @classmethod
    def from_examples(cls, examples, multi_label=False, unknown_label=None):
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
        return cls(labels, multi_label, unknown_label)

    def __len__(self):
        return len(self.labels)

    def encode(self, examples):
        """One-hot (single-label) or multi-hot (multi-label) float32 targets; zeros for `unknown_label` rows."""
        unknown = sorted({label for row in examples.labels for label in row} - set(self.index) - {self.unknown_label})
        if unknown:
            raise DataError(
                f"{examples.source}: labels {unknown} never occur in the training "
                f"data (known: {self.labels}). Fix the labels, or add examples of "
                "them to the training file."
            )
        targets = np.zeros((len(examples), len(self.labels)), dtype="float32")
        for row, labels in enumerate(examples.labels):
            targets[row, [self.index[label] for label in labels if label != self.unknown_label]] = 1.0
        return targets


def split_unknown(examples, unknown_label):
    """`(known, unknown)`: the rows labelled `unknown_label` apart from the others.

    >>> examples = Examples(texts=["a", "b", "c"], labels=[["x"], ["unknown"], ["y"]])
    >>> [part.texts for part in split_unknown(examples, "unknown")]
    [['a', 'c'], ['b']]
    """
    unknown = [i for i, labels in enumerate(examples.labels) if unknown_label is not None and unknown_label in labels]
    known = sorted(set(range(len(examples))) - set(unknown))
    return examples.subset(known), examples.subset(unknown)


def concatenate(first, second):
    """The rows of two `Examples` of the same kind, the first's then the second's."""
    if (first.pairs is None) != (second.pairs is None):
        raise ValueError("cannot join examples with text pairs to examples without")
    return Examples(
        texts=first.texts + second.texts,
        labels=first.labels + second.labels,
        pairs=None if first.pairs is None else first.pairs + second.pairs,
        source=first.source,
    )


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

    >>> examples = Examples(texts=[str(i) for i in range(20)], labels=[["a"], ["b"]] * 10)
    >>> train, validation = stratified_split(examples, fraction=0.2)
    >>> len(train), len(validation)
    (16, 4)
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
