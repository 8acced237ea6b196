"""The heads that turn BERT's sequence output into one feature vector."""

from bertcnn_tf.choices import HEADS
from bertcnn_tf.layers import ClsTokenPooling
from bertcnn_tf.layers import FixedLengthCNN
from bertcnn_tf.layers import MaskedGlobalAveragePooling1D
from bertcnn_tf.layers import MaskedGlobalMaxPooling1D
from bertcnn_tf.layers import TextCNN

# The seed article used dropout 0.2; 0.1 is BERT's own fine-tuning default.
DEFAULT_DROPOUT = {"seed": 0.2}
BERT_DROPOUT = 0.1


def default_dropout(head):
    return DEFAULT_DROPOUT.get(head, BERT_DROPOUT)


def make_head(head, kernel_sizes, filters, pooling, dtype):
    """The layer of a head, called as `layer(sequence, padding_mask=mask)`."""
    if head == "cnn":
        return TextCNN(
            kernel_sizes=kernel_sizes,
            filters=filters,
            pooling=pooling,
            dtype=dtype,
            name="text_cnn",
        )
    if head == "cls":
        return ClsTokenPooling(dtype=dtype, name="cls_pooling")
    if head == "mean":
        return MaskedGlobalAveragePooling1D(dtype=dtype, name="mean_pooling")
    if head == "max":
        return MaskedGlobalMaxPooling1D(dtype=dtype, name="max_pooling")
    if head == "seed":
        return FixedLengthCNN(dtype=dtype, name="seed_cnn")
    raise ValueError(f"`head` must be one of {HEADS}. Received: head={head!r}")
