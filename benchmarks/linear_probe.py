"""What the pretrained backbone's vectors already know, before any fine-tuning.

Fine-tuning starts from the vector a head reads. This fits a logistic
regression on frozen vectors of each kind: keras-hub's `pooled_output` (the
pooler's tanh Dense on [CLS], what `BertTextClassifier` reads), the raw [CLS]
vector, and the masked mean and masked max of the token vectors (what this
package's pooling heads read; the CNN head reads all token vectors). Fitted on
up to `--max-train` rows of the train split, scored on the evaluation split
the accuracy benchmark uses. It also gives the mean cosine similarity between
the vectors of different texts: near 1, the vector barely changes from text to
text. Not a test; never run in CI.

    python -m benchmarks.linear_probe --data-dir ../shared/data --datasets banking77,goemotions,sst2

Records each dataset's probe in `results/linear_probe.json` (replacing that dataset's earlier
one); `python -m benchmarks.report` rebuilds the section of RESULTS.md.
"""

import argparse
import json
import time

from benchmarks.datasets import add_data_dir_flag
from benchmarks.datasets import read_split
from benchmarks.linear_probe_tables import VECTORS
from benchmarks.linear_probe_tables import linear_probe_section
from benchmarks.machine import machine_info
from benchmarks.reference import DATASETS
from benchmarks.reference import MULTI_LABEL
from benchmarks.results import LINEAR_PROBE
from benchmarks.results import read_document
from benchmarks.results import recorded
from benchmarks.results import write_document


def feature_model(backbone, preprocessor):
    """A Keras model: token inputs in, the `VECTORS` side by side out ([n, 4 * hidden])."""
    import keras

    from bertcnn_tf.layers import ClsTokenPooling
    from bertcnn_tf.layers import MaskedGlobalAveragePooling1D
    from bertcnn_tf.layers import MaskedGlobalMaxPooling1D

    inputs = backbone.input
    outputs = backbone(inputs)
    sequence, mask = outputs["sequence_output"], inputs["padding_mask"]
    vectors = [
        outputs["pooled_output"],
        ClsTokenPooling()(sequence),
        MaskedGlobalAveragePooling1D()(sequence, padding_mask=mask),
        MaskedGlobalMaxPooling1D()(sequence, padding_mask=mask),
    ]
    model = keras.Model(inputs, keras.layers.Concatenate()(vectors))
    # `inference.predict_logits` tokenizes with the model's preprocessor, sorts by length
    # and cuts each batch to its longest text.
    model.preprocessor = preprocessor
    return model


def mean_cosine_similarity(vectors, rows=500, seed=0):
    """Mean cosine similarity over all pairs of up to `rows` different rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if len(vectors) > rows:
        vectors = vectors[rng.choice(len(vectors), rows, replace=False)]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    gram = unit @ unit.T
    n = len(unit)
    return float((gram.sum() - np.trace(gram)) / (n * (n - 1)))


def probe_score(train_x, train_y, test_x, test_y, multi_label):
    """Logistic regression on standardized vectors: accuracy and macro-F1 on the test rows.

    Multi-label sets get one regression per label and a 0.5 threshold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    regression = LogisticRegression(max_iter=2000)
    classifier = OneVsRestClassifier(regression) if multi_label else regression
    if not multi_label:
        train_y, test_y = train_y.argmax(-1), test_y.argmax(-1)
    model = make_pipeline(StandardScaler(), classifier).fit(train_x, train_y)
    predicted = model.predict(test_x)
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro", zero_division=0)),
    }


def probe_dataset(data_dir, dataset, model, max_train, seed):
    import random

    from bertcnn_tf.data.files import LabelVocabulary
    from bertcnn_tf.inference import predict_logits

    split, metric = DATASETS[dataset]
    multi_label = dataset in MULTI_LABEL
    train, test = read_split(data_dir, dataset, "train"), read_split(data_dir, dataset, split)
    if len(train) > max_train:
        train = train.subset(sorted(random.Random(seed).sample(range(len(train)), max_train)))
    vocabulary = LabelVocabulary.from_examples(train, multi_label)
    start = time.time()
    train_features, test_features = predict_logits(model, train, 64), predict_logits(model, test, 64)
    hidden = train_features.shape[1] // len(VECTORS)
    result = {
        "dataset": dataset, "split": split, "metric": metric, "train_examples": len(train),
        "eval_examples": len(test), "encode_seconds": round(time.time() - start, 1), "vectors": {},
    }
    for index, name in enumerate(VECTORS):
        columns = slice(index * hidden, (index + 1) * hidden)
        scores = probe_score(
            train_features[:, columns], vocabulary.encode(train),
            test_features[:, columns], vocabulary.encode(test), multi_label,
        )
        scores["score"] = scores[metric]
        scores["mean_cosine_similarity"] = mean_cosine_similarity(test_features[:, columns])
        result["vectors"][name] = scores
        print(dataset, name, json.dumps(scores), flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.linear_probe", description=__doc__.split("\n")[0])
    add_data_dir_flag(parser)
    parser.add_argument("--datasets", default="banking77,goemotions,sst2")
    parser.add_argument("--backbone", default="offline")
    parser.add_argument("--max-train", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from bertcnn_tf.backbones import load_backbone

    unknown = [d for d in args.datasets.split(",") if d not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {sorted(DATASETS)}")
    backbone, preprocessor = load_backbone(args.backbone, sequence_length=128)
    model = feature_model(backbone, preprocessor)
    results = read_document(LINEAR_PROBE) or {}
    for dataset in args.datasets.split(","):
        result = probe_dataset(args.data_dir, dataset, model, args.max_train, args.seed)
        result["machine"] = machine_info()
        results[dataset] = result
        path = write_document(LINEAR_PROBE, results, indent=1)
    print(linear_probe_section(results))
    print(recorded(path))


if __name__ == "__main__":
    main()
