"""The benchmark data folder: where the measurement scripts look for it, and reading a split.

The data sets are not part of this repository: every measurement script takes the folder
with `--data-dir` (a folder `DATASET/SPLIT.csv` per data set, as `reference.DATASETS` names
them), by default `../shared/data` beside the checkout:

    from benchmarks.datasets import read_split
    dev = read_split("../shared/data", "sst2", "dev")   # bertcnn_tf's Examples
"""

import os

from benchmarks.reference import MULTI_LABEL

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def add_data_dir_flag(parser):
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="the benchmark data folder, a folder per data set (default: ../shared/data)")


def label_separator(dataset):
    """What joins a row's labels in the dataset's files: "|" in multi-label sets."""
    return "|" if dataset in MULTI_LABEL else None


def read_split(data_dir, dataset, name):
    """One split ("train", "dev", "test", "all") of a benchmark dataset, as `Examples`."""
    from bertcnn_tf.data.files import read_examples

    path = os.path.join(data_dir, dataset, f"{name}.csv")
    return read_examples(path, label_separator=label_separator(dataset))


def read_sst2_dev(data_dir, limit=None):
    """sst2's dev sentences (the first `limit` of them), the texts the speed and memory benchmarks time."""
    examples = read_split(data_dir, "sst2", "dev")
    return examples if limit is None else examples.subset(range(min(limit, len(examples))))
