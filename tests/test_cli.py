"""The `bertcnn` command starts at once and keeps TensorFlow's C++ start-up log out of the way."""

import os
import re
import subprocess
import sys

from bertcnn_tf.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ log lines: "I0000 00:00:1796576584.910616    4828 port.cc:153] ...".
CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog", re.M)


def run_bertcnn(*args, **environment):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TF_CPP", "BERTCNN"))}
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "bertcnn_tf", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_parsing_the_command_line_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from bertcnn_tf.cli import build_parser\n"
        "build_parser().parse_args(['train', '--train', 't.csv', '--output', 'run'])\n"
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_help_answers_without_starting_tensorflow():
    for args in (["--help"], ["train", "--help"], ["export", "--help"]):
        result = run_bertcnn(*args)
        assert result.returncode == 0 and result.stdout.startswith("usage: bertcnn")
        assert result.stderr == ""


def test_a_command_hides_the_cpp_start_up_log_unless_verbose(tmp_path):
    missing = str(tmp_path / "no-run")
    quiet = run_bertcnn("evaluate", "--model", missing, "--data", "test.csv")
    assert quiet.returncode == 2
    assert quiet.stderr.startswith("error: ") and "is not a run folder" in quiet.stderr
    assert not CPP_LOG_LINE.search(quiet.stderr), quiet.stderr
    # --verbose leaves stderr alone: the same error, after whatever TensorFlow printed.
    verbose = run_bertcnn("evaluate", "--model", missing, "--data", "test.csv", "--verbose")
    assert verbose.returncode == 2 and "is not a run folder" in verbose.stderr


def test_verbose_is_accepted_before_or_after_the_command_and_from_the_environment(monkeypatch):
    parse = build_parser().parse_args
    assert parse(["--verbose", "evaluate", "--model", "m", "--data", "d"]).verbose
    assert parse(["evaluate", "--model", "m", "--data", "d", "--verbose"]).verbose
    assert not parse(["evaluate", "--model", "m", "--data", "d"]).verbose
    monkeypatch.setenv("BERTCNN_VERBOSE", "1")
    assert build_parser().parse_args(["evaluate", "--model", "m", "--data", "d"]).verbose
