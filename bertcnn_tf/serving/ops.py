"""Which TF Serving can run an export: the ops outside core TensorFlow, and the oldest server that links them.

`tf_text_op_names` asks tf-text's op libraries through `pywrap_tf_session`,
TensorFlow's private binding of the C API's `TF_GetOpList`: Python has no
public way to read the op registry (tensorflow/tensorflow#48514). This
module is the package's only use of it.
"""

import functools
import glob
import os

import tensorflow_text  # also registers tf-text's ops for the C API loader
from tensorflow.core.framework import op_def_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session

# TF Serving 2.12 to 2.19 link TF-Text 2.12.1, 2.20 links TF-Text 2.20. Of
# the 38 ops TF-Text 2.21 registers, these are the only ones missing from
# 2.12.1 (measured, see DESIGN.md; tensorflow/serving#2267).
TF_TEXT_OPS_NOT_IN_2_12_1 = frozenset(
    {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks", "TFText>Utf8Binarize"}
)
OLDEST_SERVING = "2.12"
SERVING_WITH_NEW_TF_TEXT = "2.20"


@functools.lru_cache(maxsize=None)
def tf_text_op_names():
    """The names of the ops that tensorflow-text registers (38 in 2.21).

    "Non-core" ops are found by asking each tf-text op library which ops it
    registered: `TF_LoadLibrary` on an already loaded library returns the op
    list recorded when it was first loaded (the same call `tf.load_op_library`
    makes). A snapshot of the registry taken before `import tensorflow_text`
    would be fragile: keras-hub imports tensorflow_text on its own import.
    """
    directory = os.path.dirname(tensorflow_text.__file__)
    names = set()
    for path in glob.glob(os.path.join(directory, "python", "**", "_*.so"), recursive=True):
        handle = pywrap_tf_session.TF_LoadLibrary(path)
        try:
            ops = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetOpList(handle))
        finally:
            pywrap_tf_session.TF_DeleteLibraryHandle(handle)
        names.update(op.name for op in ops.op)
    return frozenset(names)


def non_core_ops(op_names):
    """The ops of `op_names` that core TensorFlow does not register (tf-text's).

    >>> non_core_ops(["MatMul", "CaseFoldUTF8"])
    ['CaseFoldUTF8']
    """
    return sorted(set(op_names) & tf_text_op_names())


def min_tf_serving_version(non_core):
    """The oldest stock TF Serving that links every op of `non_core`.

    >>> min_tf_serving_version(["CaseFoldUTF8"]), min_tf_serving_version(["TFText>RoundRobinTrim"])
    ('2.12', '2.20')
    """
    return SERVING_WITH_NEW_TF_TEXT if set(non_core) & TF_TEXT_OPS_NOT_IN_2_12_1 else OLDEST_SERVING


def saved_model_ops(path):
    """Op names in a SavedModel's graph and its function library, from saved_model.pb."""
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    names = set()
    for meta_graph in saved_model.meta_graphs:
        names.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            names.update(node.op for node in function.node_def)
    return sorted(names)
