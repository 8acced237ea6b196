"""The main job of a fresh checkout: train on the bundled demo data, evaluate, save, predict."""

import os

import numpy as np

from bertcnn_tf.data.files import read_examples
from bertcnn_tf.data.files import stratified_split
from bertcnn_tf.serving.c_api import SavedModelSession
from bertcnn_tf.serving.export import export_for_serving
from bertcnn_tf.training.config import TrainingConfig
from bertcnn_tf.training.trainer import train

DEMO_DATA = os.path.join(os.path.dirname(__file__), "data", "customer_feedback.csv")
NEW_TEXTS = [
    "I was billed twice for the same order, please refund one payment.",
    "The courier left my parcel in the rain and it arrived three days late.",
    "Absolutely love the headphones, best purchase this year!",
    "The zip broke after one week and the stitching is coming apart.",
    "I've been waiting on hold for an hour and nobody answers my emails.",
]


def run_demo(output_dir="runs/demo", export_base="saved_models/demo", epochs=3, seed=42):
    """Trains a BERT-CNN on the bundled customer-feedback set, exports it, and classifies.

    A few minutes on 2 CPU cores. The export is a new numbered version under
    `export_base`, checked with TensorFlow's C++ SavedModel loader (the one TF
    Serving runs) before it is published; the new texts are classified through
    that loader, as TF Serving would.
    """
    examples = read_examples(DEMO_DATA)
    train_examples, test_examples = stratified_split(examples, fraction=0.2, seed=seed)
    print(f"demo data: {len(train_examples)} texts to train on, {len(test_examples)} held out")
    config = TrainingConfig(epochs=epochs, learning_rate=1e-4, seed=seed, sequence_length=128)
    run, report = train(train_examples, output_dir, config, test_examples=test_examples)
    for split, metrics in report["splits"].items():
        print(f"{split}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    print(f"run folder: {output_dir}")

    version_dir = export_for_serving(output_dir, export_base)
    print(f"exported and checked with the C++ SavedModel loader: {version_dir}")
    with SavedModelSession(version_dir) as session:
        outputs = session.run("serving_default", {"text": np.array(NEW_TEXTS, dtype=object)})
    print("new texts, classified by the exported SavedModel:")
    for text, label, row in zip(NEW_TEXTS, outputs["label"], outputs["probabilities"]):
        print(f"{label.decode():>16} {row.max():.2f}  {text}")
    return run, report
