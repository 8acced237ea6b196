"""The `>>>` examples in the package's docstrings run and print what they say."""

import doctest
import importlib
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bertcnn_tf")


def modules_with_examples():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.endswith(".py") and ">>> " in open(path, encoding="utf-8").read():
                module = os.path.relpath(path, os.path.dirname(PACKAGE))[: -len(".py")]
                yield module.replace(os.sep, ".").removesuffix(".__init__")


@pytest.mark.parametrize("name", sorted(modules_with_examples()))
def test_docstring_examples(name):
    results = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0 and results.failed == 0
