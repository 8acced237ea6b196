"""Reloading a task saved with `save_to_preset`: the one use of keras-hub's private preset API.

keras-hub's public `Task.from_preset` picks the task class by the preset's
backbone class (`backbone_cls`, keras-team/keras-hub#1800), so a second task
over `BertBackbone` is loaded as `BertTextClassifier`. Until keras-hub can
load a registered task subclass by the class its `task.json` names, these
two functions use `keras_hub.src.utils.preset_utils`.
"""

import os

from keras_hub.src.utils.preset_utils import TASK_CONFIG_FILE
from keras_hub.src.utils.preset_utils import check_config_class
from keras_hub.src.utils.preset_utils import get_preset_loader
from keras_hub.src.utils.preset_utils import load_json


def is_saved_task(preset, cls):
    """Whether `preset` is a local directory saved from `cls` by `save_to_preset`."""
    task_file = os.path.join(os.fspath(preset), TASK_CONFIG_FILE)
    if not os.path.exists(task_file):
        return False
    return issubclass(check_config_class(load_json(preset, TASK_CONFIG_FILE)), cls)


def load_saved_task(preset, cls, load_weights=True, **kwargs):
    """The task saved in `preset`, head weights included."""
    return get_preset_loader(preset).load_task(cls, load_weights, True, **kwargs)
