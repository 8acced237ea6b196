"""Pure Keras 3 layers that turn BERT's token vectors into features.

Each takes `(sequence, padding_mask=mask)` and ignores padded positions:

```python
import bertcnn_tf

backbone, preprocessor = bertcnn_tf.load_backbone("offline")
sequence = backbone(backbone.input)["sequence_output"]
features = bertcnn_tf.layers.TextCNN()(sequence, padding_mask=backbone.input["padding_mask"])
```
"""

from bertcnn_tf.layers.cls_token_pooling import ClsTokenPooling
from bertcnn_tf.layers.fixed_length_cnn import FixedLengthCNN
from bertcnn_tf.layers.masked_global_average_pooling import (
    MaskedGlobalAveragePooling1D,
)
from bertcnn_tf.layers.masked_global_max_pooling import MaskedGlobalMaxPooling1D
from bertcnn_tf.layers.text_cnn import TextCNN
from bertcnn_tf.layers.windowed_pooling import WindowedPooling
from bertcnn_tf.layers.windowed_pooling import WindowsToRows

__all__ = [
    "ClsTokenPooling",
    "FixedLengthCNN",
    "MaskedGlobalAveragePooling1D",
    "MaskedGlobalMaxPooling1D",
    "TextCNN",
    "WindowedPooling",
    "WindowsToRows",
]
