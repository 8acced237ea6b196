import keras
import keras_hub

from bertcnn_tf.backbones import load_backbone
from bertcnn_tf.choices import DEFAULT_SEQUENCE_LENGTH
from bertcnn_tf.choices import HEAD_LEARNING_RATE_MULTIPLIER
from bertcnn_tf.choices import HEADS
from bertcnn_tf.layers import ClsTokenPooling
from bertcnn_tf.layers import WindowedPooling
from bertcnn_tf.layers import WindowsToRows
from bertcnn_tf.models.heads import default_dropout
from bertcnn_tf.models.heads import make_head
from bertcnn_tf.models.saved_presets import is_saved_task
from bertcnn_tf.models.saved_presets import load_saved_task
from bertcnn_tf.optimizers import GlobalClipAdamW
from bertcnn_tf.optimizers import head_learning_rate_multipliers
from bertcnn_tf.preprocessing import make_preprocessor

# BertBackbone's pooler feeds `pooled_output`, which no head here reads.
POOLER_LAYER = "pooled_dense"


@keras.saving.register_keras_serializable(package="bertcnn_tf")
class BertCNNClassifier(keras_hub.models.TextClassifier):
    """A text classifier with a CNN (or a pooling) head over BERT's tokens.

    The backbone's `sequence_output` (`[batch, time, hidden]`, one vector per
    token) goes through a head, dropout and a `Dense` layer:

    - `"cnn"`: `TextCNN`, parallel convolutions (kernel sizes 3, 4, 5) with
      masked max pooling (Kim, 2014). Padding-invariant.
    - `"cls"`: the [CLS] token's vector.
    - `"mean"` / `"max"`: masked mean / max over the real tokens.
    - `"seed"`: the seed article's head (`Conv1D(100, 3, "same")`,
      `MaxPooling1D(2, 2)`, flatten, dropout 0.2); it ties the model to the
      preprocessor's `sequence_length`.

    With an attached `preprocessor` it takes raw strings in `fit`, `predict`
    and `evaluate`, like every keras-hub task. The backbone's pooler is
    frozen, since no head reads it.

    Args:
        backbone: A `keras_hub.models.BertBackbone` (keras-nlp's is the same
            class).
        num_classes: int. Number of classes.
        preprocessor: A `keras_hub.models.BertTextClassifierPreprocessor` or
            `None` (then inputs are `token_ids`, `segment_ids`,
            `padding_mask`).
        head: One of `"cnn"`, `"cls"`, `"mean"`, `"max"`, `"seed"`.
            Defaults to `"cnn"`.
        kernel_sizes: tuple of ints. `TextCNN` window widths, for `"cnn"`.
        filters: int. Feature maps per kernel size, for `"cnn"`.
        pooling: `"max"`, `"mean"` or `"max_mean"`, for `"cnn"`.
        with_cls_token: bool. Also give the `Dense` layer the [CLS] token's
            vector, concatenated to the head's features: BERT's summary of
            the whole text beside the head's n-gram features. Not for
            `"cls"`, which is that vector alone. Defaults to `False`.
        dropout: float or `None`. Dropout before the `Dense` layer; `None`
            uses 0.1 (0.2 for `"seed"`, as in the article).
        activation: Optional activation of the outputs; `None` gives logits,
            `"softmax"` probabilities.
        window_stride: int or `None`. Read documents longer than one window:
            the inputs are then `[batch, windows, length]` (a
            `make_preprocessor(..., max_document_length=N)` makes them), the
            backbone reads each window, and the head pools over all of a
            document's windows (`bertcnn_tf.layers.WindowedPooling`); this is
            where each window starts after the previous one. Not for
            `"seed"`.

    Examples:

    Raw strings with a tiny random backbone.
    ```python
    import keras_hub
    import bertcnn_tf

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["the", "quick", "brown", "fox", "jumped", "."]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    preprocessor = bertcnn_tf.make_preprocessor(tokenizer, sequence_length=16)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab), num_layers=2, num_heads=2,
        hidden_dim=16, intermediate_dim=32, max_sequence_length=16,
    )
    classifier = bertcnn_tf.BertCNNClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, filters=8,
    )
    classifier.fit(["the quick fox", "the brown fox jumped"], [0, 1], epochs=1)
    classifier.predict(["the fox"])
    ```

    From the offline all-MiniLM-L6-v2, or any backbone source.
    ```python
    classifier = bertcnn_tf.BertCNNClassifier.from_preset(
        "offline", num_classes=4, sequence_length=128,
    )
    ```
    """

    # `None` keeps keras-hub's `TextClassifier.from_preset("bert_...")` from
    # choosing this class over `BertTextClassifier` (its lookup goes by this
    # attribute); `from_preset` below loads BERT itself.
    backbone_cls = None
    preprocessor_cls = keras_hub.models.BertTextClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        head="cnn",
        kernel_sizes=(3, 4, 5),
        filters=128,
        pooling="max",
        with_cls_token=False,
        dropout=None,
        activation=None,
        window_stride=None,
        **kwargs,
    ):
        if head not in HEADS:
            raise ValueError(
                f"`head` must be one of {HEADS}. Received: head={head!r}"
            )
        if with_cls_token and head == "cls":
            raise ValueError(
                'with_cls_token=True would give head="cls" its [CLS] vector '
                "twice. Pass with_cls_token=False, or another head."
            )
        if window_stride is not None and head == "seed":
            raise ValueError(
                'head="seed" flattens one fixed-length window, so it cannot pool over a '
                "document's windows. Use head='cnn' (or 'cls', 'mean', 'max') with "
                "window_stride, or leave window_stride out."
            )
        sequence_length = None
        if head == "seed":
            sequence_length = getattr(preprocessor, "sequence_length", None)
            if not sequence_length:
                raise ValueError(
                    'head="seed" flattens a fixed-length feature map, so the '
                    "model needs one sequence length, but no preprocessor "
                    "with a `sequence_length` was given. Pass "
                    "`preprocessor=make_preprocessor(tokenizer, "
                    "sequence_length=128)`, or use head='cnn', which works "
                    "with any length."
                )
        freeze_pooler(backbone)
        self._fixed_sequence_length = sequence_length

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.head_layer = make_head(
            head, kernel_sizes, filters, pooling, dtype=backbone.dtype_policy
        )
        self.cls_token_layer = (
            ClsTokenPooling(dtype=backbone.dtype_policy, name="cls_token")
            if with_cls_token
            else None
        )
        self.output_dropout = keras.layers.Dropout(
            default_dropout(head) if dropout is None else dropout,
            dtype=backbone.dtype_policy,
            name="output_dropout",
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            activation=activation,
            dtype=backbone.dtype_policy,
            name="logits",
        )

        # === Functional Model ===
        shape = (sequence_length,) if window_stride is None else (None, None)
        inputs = {
            name: keras.Input(shape=shape, dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        if window_stride is None:
            sequence = backbone(inputs)["sequence_output"]
            features = self.head_layer(sequence, padding_mask=inputs["padding_mask"])
            cls_vector = self.cls_token_layer(sequence) if self.cls_token_layer else None
        else:
            to_rows = WindowsToRows(dtype=backbone.dtype_policy, name="windows_to_rows")
            sequence = backbone({name: to_rows(value) for name, value in inputs.items()})["sequence_output"]
            self.windowed_pooling = WindowedPooling(
                self.head_layer, window_stride, dtype=backbone.dtype_policy, name="windowed_pooling"
            )
            features = self.windowed_pooling(sequence, padding_mask=inputs["padding_mask"])
            self.windowed_cls_token = None
            cls_vector = None
            if self.cls_token_layer is not None:
                self.windowed_cls_token = WindowedPooling(
                    self.cls_token_layer, window_stride, dtype=backbone.dtype_policy, name="windowed_cls_token"
                )
                cls_vector = self.windowed_cls_token(sequence, padding_mask=inputs["padding_mask"])
        if cls_vector is not None:
            features = keras.layers.Concatenate(
                dtype=backbone.dtype_policy, name="head_and_cls_token"
            )([features, cls_vector])
        outputs = self.output_dense(self.output_dropout(features))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.head = head
        self.kernel_sizes = tuple(kernel_sizes)
        self.filters = filters
        self.pooling = pooling
        self.with_cls_token = with_cls_token
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.window_stride = window_stride

    @property
    def preprocessor(self):
        return self._preprocessor

    @preprocessor.setter
    def preprocessor(self, value):
        fixed = getattr(self, "_fixed_sequence_length", None)
        length = getattr(value, "sequence_length", None)
        if fixed and value is not None and length != fixed:
            raise ValueError(
                f'This head="seed" model was built for sequences of {fixed} '
                f"tokens; a preprocessor with sequence_length={length} would "
                "feed it another length. Use a preprocessor with "
                f"sequence_length={fixed}, or rebuild the model."
            )
        self._preprocessor = value

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures training; like `TextClassifier.compile`, with AdamW.

        `optimizer="auto"` is AdamW at 5e-5 with weight decay 0.01, not
        applied to biases and LayerNorm scales, and 20x that rate for every
        trainable weight outside the backbone (the head starts from random;
        `bertcnn_tf.training` does the same, with a warm-up and decay
        schedule). Compile after changing `backbone.trainable`: the head is
        what is trainable outside the backbone at compile time. Compiling
        also re-freezes the backbone's unused pooler, which
        `backbone.trainable = True` unfreezes, so that Keras never warns
        that its gradients do not exist.

        Example:
        ```python
        classifier.compile()  # backbone 5e-5, head 1e-3
        classifier.fit(texts, labels, epochs=3)
        ```
        """
        freeze_pooler(self.backbone)
        if optimizer == "auto":
            optimizer = GlobalClipAdamW(
                5e-5,
                weight_decay=0.01,
                learning_rate_multipliers=head_learning_rate_multipliers(
                    self, HEAD_LEARNING_RATE_MULTIPLIER
                ),
            )
            optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def explain(self, texts, top_k=5, label=None, text_pairs=None, batch_size=32):
        """The spans of each text that decided its label: an exact split of its score.

        Every head but `"cls"` is explained exactly: `bias + sum of the
        spans' contributions + rest` (+ `cls_token` with `with_cls_token`)
        equals `score`, the class's logit minus the mean logit. Classes are
        named by their index; `bertcnn_tf.explain` over a run names them by
        their labels and applies its temperature (`bertcnn_tf.explanations`).

        Example:
        ```python
        why = classifier.explain(["the quick fox"], top_k=2)
        why[0]["evidence"][0]  # {"start": 4, "end": 13, "text": "quick fox", "contribution": 0.8, ...}
        ```
        """
        from bertcnn_tf.explanations import explain_texts

        return explain_texts(self, texts, text_pairs=text_pairs, top_k=top_k, label=label, batch_size=batch_size)

    def reading_documents(self, max_document_length, window_stride=None):
        """This classifier, its weights shared, reading documents in windows of its sequence length.

        Texts up to `max_document_length` tokens are cut into windows
        (`bertcnn_tf.preprocessing.make_window_packer`) and the head pools
        over all of them (`bertcnn_tf.layers.WindowedPooling`). A classifier
        trained on truncated texts can so read whole documents; a windowed
        one can read longer ones, or with another stride. A text that fits
        in one window gets the same logits as before. The backbone is shared
        (not copied), and the head and output weights are copied.

        Example:
        ```python
        documents = classifier.reading_documents(max_document_length=2048)
        documents.predict(["a review of two thousand words ..."])
        ```
        """
        if self.head == "seed":
            raise ValueError(
                'head="seed" flattens one fixed-length window, so it cannot pool over a document\'s '
                "windows. Train with head='cnn' (or 'cls', 'mean', 'max') to read documents."
            )
        preprocessor = make_preprocessor(
            self.preprocessor.tokenizer, self.preprocessor.sequence_length, max_document_length, window_stride
        )
        documents = type(self)(
            backbone=self.backbone, num_classes=self.num_classes, preprocessor=preprocessor, head=self.head,
            kernel_sizes=self.kernel_sizes, filters=self.filters, pooling=self.pooling,
            with_cls_token=self.with_cls_token, dropout=self.dropout, activation=self.activation,
            window_stride=preprocessor.window_stride,
        )
        documents.head_layer.set_weights(self.head_layer.get_weights())
        documents.output_dense.set_weights(self.output_dense.get_weights())
        return documents

    def get_compile_config(self):
        # keras-hub compiles every task on construction; an optimizer that
        # never ran has no state worth saving, and restoring its settings
        # would build it and then fail to match the empty saved state.
        if self.compiled and self.optimizer.built:
            return super().get_compile_config()
        return None

    def compile_from_config(self, config):
        # Keras skips this for models with a custom `compile()`; ours takes
        # the same arguments, so a reloaded `.keras` file comes back compiled
        # and its optimizer state can be restored.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @classmethod
    def from_preset(
        cls,
        preset,
        load_weights=True,
        sequence_length=DEFAULT_SEQUENCE_LENGTH,
        max_document_length=None,
        window_stride=None,
        **kwargs,
    ):
        """Builds a classifier from any backbone source, or reloads a saved one.

        Args:
            preset: A directory written by `save_to_preset` (the classifier
                comes back whole, head weights included), or any backbone
                source `bertcnn_tf.load_backbone` takes: `"offline"`, a local
                keras-hub preset or Hugging Face BERT directory, a keras-hub
                preset name.
            load_weights: bool. `False` gives random weights.
            sequence_length: int. For a new classifier: the preprocessor's
                longest input in tokens (with `max_document_length`: a window's).
            max_document_length: int or `None`. For a new classifier: cut
                texts into windows, up to this many tokens, instead of
                truncating them at `sequence_length`.
            window_stride: int or `None`. Tokens between window starts
                (default: windows share 8 tokens).
            **kwargs: Constructor arguments (`num_classes`, `head`, ...).
        """
        if is_saved_task(preset, cls):
            return load_saved_task(preset, cls, load_weights, **kwargs)
        backbone, preprocessor = load_backbone(
            preset,
            sequence_length=sequence_length,
            load_weights=load_weights,
            dtype=kwargs.pop("dtype", None),
            max_document_length=max_document_length,
            window_stride=window_stride,
        )
        kwargs.setdefault("preprocessor", preprocessor)
        if max_document_length is not None:
            kwargs.setdefault("window_stride", preprocessor.window_stride)
        return cls(backbone=backbone, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "head": self.head,
                "kernel_sizes": list(self.kernel_sizes),
                "filters": self.filters,
                "pooling": self.pooling,
                "with_cls_token": self.with_cls_token,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "window_stride": self.window_stride,
            }
        )
        return config


def freeze_pooler(backbone):
    """Makes the backbone's pooler (unused by every head here) untrainable.

    Keras warns "Gradients do not exist for pooled_dense" when a trainable
    pooler feeds nothing the loss reads.

    Example:
    ```python
    backbone, preprocessor = bertcnn_tf.load_backbone("offline")
    bertcnn_tf.freeze_pooler(backbone)
    ```
    """
    backbone.get_layer(POOLER_LAYER).trainable = False
