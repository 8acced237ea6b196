"""The `bertcnn export` and `bertcnn check-serving` commands.

    bertcnn export --model runs/feedback --export-dir saved_models/feedback [--version N] \
        [--precision bfloat16] [--jit-compile] [--max-document-length N [--window-stride S]]
    bertcnn check-serving saved_models/feedback [--model runs/feedback]

Handlers return the exit code (0 or 1) and print `error: ...` to stderr on
failure, without a traceback. `check-serving` prints its report as one JSON
object on the last line of stdout, after a failed check too.
"""

import json
import sys

from bertcnn_tf.choices import EXPLAIN_TOP_K
from bertcnn_tf.choices import INFERENCE_DTYPES
from bertcnn_tf.cli.training import add_document_flags
from bertcnn_tf.cli.training import reading_documents


def add_serving_commands(subparsers):
    """Registers `export` and `check-serving` on an argparse subparsers object."""
    export = subparsers.add_parser(
        "export",
        help="write a SavedModel for TF Serving, check it, and publish it as a new version",
        description="Writes saved_models/NAME/VERSION with raw-text signatures, checks it with "
        "TensorFlow's C++ loader and publishes it only if the check passes.",
    )
    export.add_argument("--model", required=True, help="the run folder written by `bertcnn train`")
    export.add_argument(
        "--export-dir", required=True, help="the model's base path for TF Serving, e.g. saved_models/NAME"
    )
    export.add_argument(
        "--version",
        type=int,
        help="version number (default: the highest existing one + 1); never overwritten",
    )
    export.add_argument(
        "--precision",
        choices=INFERENCE_DTYPES,
        help="serve in this dtype (default: the model's own); bfloat16 is about 1.3x faster on "
        "CPUs with AVX512-BF16 and moves probabilities by about 1e-2",
    )
    export.add_argument(
        "--abstain-below", type=float,
        help="answer label_id -1 and the run's unknown label where the top probability is below this "
        "(default: the run's own, from `bertcnn train --abstain`)",
    )
    export.add_argument(
        "--explain-top-k", type=int, default=EXPLAIN_TOP_K,
        help="evidence spans per text of the explain signature (every head but cls has one)",
    )
    add_document_flags(export)
    export.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the model's call with XLA: faster on CPUs (single texts in about half "
        "the time), about a second of compiling per new input shape; TF Serving must then run "
        "with --xla_cpu_compilation_enabled=true",
    )
    export.set_defaults(handler=export_command)

    check = subparsers.add_parser(
        "check-serving",
        help="load an export the way TF Serving does and check its signatures, ops and outputs",
    )
    check.add_argument("path", help="a version directory, or a base path (its highest version is checked)")
    check.add_argument(
        "--model",
        help="run folder to compare with (default: the Keras outputs recorded at export)",
    )
    check.set_defaults(handler=check_serving_command)


def export_command(args):
    from bertcnn_tf.serving.check import ServingCheckError
    from bertcnn_tf.serving.export import ExportError
    from bertcnn_tf.serving.export import export_for_serving
    from bertcnn_tf.serving.model_card import read_model_card
    from bertcnn_tf.training.runs import load_run

    try:
        path = export_for_serving(
            reading_documents(load_run(args.model), args),
            args.export_dir,
            version=args.version,
            precision=args.precision,
            jit_compile=args.jit_compile,
            abstain_below=args.abstain_below,
            explain_top_k=args.explain_top_k,
        )
    except ServingCheckError as error:
        return _fail(f"the export failed its serving check, nothing was published: {error}")
    except (ExportError, OSError, ValueError) as error:
        return _fail(error)
    card = read_model_card(path)
    print(f"published {path}")
    print(f"  labels: {', '.join(card['labels'])}")
    print(f"  signatures: {', '.join(card['signatures'])}")
    print(f"  temperature: {card['temperature']}")
    if card["abstain_below"] is not None:
        print(f"  answers {card['unknown_label']!r} (label_id -1) below a top probability of {card['abstain_below']}")
    if card["explain_top_k"]:
        print(f"  explain signature: the top {card['explain_top_k']} spans behind each label")
    ops = ", ".join(card["non_core_ops"])
    print(f"  minimum TF Serving: {card['min_tf_serving_version']} (tf-text ops: {ops})")
    if card["tf_serving_flags"]:
        print(f"  run tensorflow_model_server with: {' '.join(card['tf_serving_flags'])}")
    return 0


def check_serving_command(args):
    from bertcnn_tf.serving.check import ServingCheckError
    from bertcnn_tf.serving.check import check_serving
    from bertcnn_tf.training.runs import load_run

    try:
        run = load_run(args.model) if args.model else None
        report = check_serving(args.path, run=run)
    except ServingCheckError as error:
        _fail(f"check-serving failed at step {error.step!r}: {error.message}")
        print(json.dumps(error.report, ensure_ascii=False))
        return 1
    except (OSError, ValueError) as error:  # a run folder that does not load
        return _fail(error)
    print(f"ok: {report['path']}")
    print(f"  checks passed: {', '.join(report['passed'])}")
    print(f"  compared with {report['reference']}: max abs difference {report['max_abs_diff']:.2g}")
    print(f"  non-core ops: {', '.join(report['non_core_ops'])}")
    print(f"  minimum TF Serving: {report['min_tf_serving_version']}")
    print(json.dumps(report, ensure_ascii=False))
    return 0


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 1
