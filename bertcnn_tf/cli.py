"""The `bertcnn` command: parses flags and calls the package's functions."""

import argparse
import sys


def demo_command(args):
    from bertcnn_tf.demo import run_demo

    run_demo(output_dir=args.output, epochs=args.epochs)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="bertcnn", description="Train, evaluate and serve BERT-CNN text classifiers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train on the bundled customer-feedback data, save, and predict"
    )
    demo.add_argument("--output", default="saved_models/demo", help="where the model is saved")
    demo.add_argument("--epochs", type=int, default=2)
    demo.set_defaults(handler=demo_command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
