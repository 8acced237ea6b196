"""A model's base path as TF Serving sees it: numbered version directories."""

import os

def numeric_versions(base_path):
    """The version numbers under a model's base path, as TF Serving sees them.

    TF Serving loads only children whose names are numbers, so hidden
    staging directories (`.NAME-tmp-...`) are never candidates.
    """
    if not os.path.isdir(base_path):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base_path)
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name))
    )


def resolve_version_dir(path):
    """`path` if it holds a SavedModel, else its highest numeric version directory."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = numeric_versions(path)
    if not versions:
        raise FileNotFoundError(
            f"no SavedModel at {path!r}: it has no saved_model.pb and no numeric "
            "version directory. Pass saved_models/NAME or saved_models/NAME/VERSION."
        )
    return os.path.join(path, str(versions[-1]))
