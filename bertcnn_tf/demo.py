"""The main job of a fresh checkout: train on the bundled demo data, save, predict."""

import csv
import os
import random

import keras
import numpy as np

from bertcnn_tf.models import BertCNNClassifier

DEMO_DATA = os.path.join(os.path.dirname(__file__), "data", "customer_feedback.csv")
NEW_TEXTS = [
    "I was billed twice for the same order, please refund one payment.",
    "The courier left my parcel in the rain and it arrived three days late.",
    "Absolutely love the headphones, best purchase this year!",
]


def read_demo_data():
    with open(DEMO_DATA, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [row["text"] for row in rows], [row["label"] for row in rows]


def run_demo(output_dir="saved_models/demo", epochs=2, seed=42):
    texts, labels = read_demo_data()
    names = sorted(set(labels))
    ids = np.array([names.index(label) for label in labels])
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]

    keras.utils.set_random_seed(seed)
    model = BertCNNClassifier.from_preset(
        "offline", num_classes=len(names), sequence_length=64
    )
    model.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.01))
    model.fit([texts[i] for i in train], ids[train], batch_size=32, epochs=epochs)
    loss, accuracy = model.evaluate([texts[i] for i in test], ids[test], verbose=0)
    print(f"test accuracy on {len(test)} held-out texts: {accuracy:.3f}")

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "model.keras")
    model.save(path)
    print(f"saved {path}")
    probabilities = keras.ops.softmax(model.predict(NEW_TEXTS, verbose=0)).numpy()
    for text, p in zip(NEW_TEXTS, probabilities):
        print(f"{names[int(p.argmax())]:>16} {p.max():.2f}  {text}")
