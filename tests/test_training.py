import json
import os

import keras
import numpy as np
import pytest
from conftest import quick_config
from conftest import sentiment_rows
from conftest import tiny_backbone
from conftest import tiny_classifier
from conftest import write_csv

import bertcnn_tf.training.evaluation
import bertcnn_tf.training.trainer
from bertcnn_tf.cli import build_parser
from bertcnn_tf.cli import main
from bertcnn_tf.cli.training import training_config
from bertcnn_tf.data.files import LabelVocabulary
from bertcnn_tf.data.files import read_examples
from bertcnn_tf.data.files import stratified_split
from bertcnn_tf.inference import predict_probabilities
from bertcnn_tf.optimizers import GlobalClipAdamW
from bertcnn_tf.optimizers import LinearWarmupDecay
from bertcnn_tf.optimizers import head_learning_rate_multipliers
from bertcnn_tf.optimizers import layer_decay_learning_rate_multipliers
from bertcnn_tf.optimizers import make_optimizer
from bertcnn_tf.training.evaluation import best_threshold
from bertcnn_tf.training.evaluation import correct_per_example
from bertcnn_tf.training.runs import load_run
from bertcnn_tf.training.trainer import balanced_sample_weights
from bertcnn_tf.training.trainer import train


def test_linear_warmup_then_decay():
    schedule = LinearWarmupDecay(1.0, total_steps=100, warmup_steps=10)
    values = [float(schedule(step)) for step in (0, 5, 10, 55, 100, 150)]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    assert LinearWarmupDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_no_weight_decay_on_biases_and_layer_norm():
    import keras

    optimizer = make_optimizer(1e-3, total_steps=10)
    bias = keras.Variable(np.ones(2), name="bias")
    gamma = keras.Variable(np.ones(2), name="gamma")
    kernel = keras.Variable(np.ones(2), name="kernel")
    optimizer.build([bias, gamma, kernel])
    assert not optimizer._use_weight_decay(bias)
    assert not optimizer._use_weight_decay(gamma)
    assert optimizer._use_weight_decay(kernel)
    assert optimizer.global_clipnorm == 1.0


def test_learning_rate_multipliers_scale_only_the_named_variables():
    import keras

    backbone_weight = keras.Variable(np.zeros(3), name="backbone_weight")
    head_weight = keras.Variable(np.zeros(3), name="head_weight")
    optimizer = GlobalClipAdamW(0.01, weight_decay=0.0, learning_rate_multipliers={head_weight.path: 10.0})
    gradient = np.array([1.0, -2.0, 0.5], dtype="float32")
    optimizer.apply_gradients([(gradient, backbone_weight), (gradient, head_weight)])
    # Adam's first step moves each weight by about the learning rate, against the gradient.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backbone_weight), -0.01 * np.sign(gradient), rtol=1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head_weight), -0.1 * np.sign(gradient), rtol=1e-3)
    restored = GlobalClipAdamW.from_config(optimizer.get_config())
    assert restored.learning_rate_multipliers == {head_weight.path: 10.0}


def test_head_learning_rate_multipliers_name_every_head_variable_and_no_backbone_one():
    model = tiny_classifier()
    multipliers = head_learning_rate_multipliers(model, 20)
    backbone_paths = {v.path for v in model.backbone.trainable_variables}
    all_paths = {v.path for v in model.trainable_variables}
    assert set(multipliers) == all_paths - backbone_paths and multipliers
    assert set(multipliers.values()) == {20.0}
    assert head_learning_rate_multipliers(model, 1) == {}


def test_output_factor_gives_the_classifier_dense_a_rate_of_its_own():
    model = tiny_classifier()
    output_paths = {v.path for v in model.output_dense.trainable_variables}
    head_paths = set(head_learning_rate_multipliers(model, 20))
    assert output_paths and output_paths < head_paths
    # The convolutions at the backbone's rate, the classifier at 20x.
    assert head_learning_rate_multipliers(model, 1, output_factor=20) == dict.fromkeys(output_paths, 20.0)
    split = head_learning_rate_multipliers(model, 5, output_factor=1)
    assert set(split) == head_paths - output_paths and set(split.values()) == {5.0}
    assert head_learning_rate_multipliers(model, 20, output_factor=None) == dict.fromkeys(head_paths, 20.0)


def test_layer_decay_slows_each_layer_below_the_top_and_leaves_the_pooler_alone():
    backbone = tiny_backbone()  # two transformer layers
    multipliers = layer_decay_learning_rate_multipliers(backbone, 0.5)
    by_layer = {}
    for path, factor in multipliers.items():
        by_layer.setdefault(path.split("/")[0], set()).add(factor)
    assert by_layer == {
        "transformer_layer_1": {0.5},
        "transformer_layer_0": {0.25},
        "token_embedding": {0.125},
        "position_embedding": {0.125},
        "segment_embedding": {0.125},
        "embeddings_layer_norm": {0.125},
    }
    pooler = {v.path for v in backbone.pooled_dense.trainable_variables}
    assert set(multipliers) == {v.path for v in backbone.trainable_variables} - pooler
    assert layer_decay_learning_rate_multipliers(backbone, 1) == {}
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match=r"layer_decay must be in \(0, 1\]"):
            layer_decay_learning_rate_multipliers(backbone, bad)


def test_training_gives_the_head_its_multiplied_learning_rate(tmp_path, tiny_preset, monkeypatch):
    built = []

    def spy(*args, **kwargs):
        built.append(make_optimizer(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(bertcnn_tf.training.trainer, "make_optimizer", spy)
    examples = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(2)))
    config = quick_config(
        tiny_preset, epochs=1, head_learning_rate_multiplier=5, output_learning_rate_multiplier=30,
        layer_decay=0.8,
    )
    run, _ = train(examples, str(tmp_path / "run"), config)
    head_paths = {v.path for v in run.model.trainable_variables} - {v.path for v in run.model.backbone.trainable_variables}
    output_paths = {v.path for v in run.model.output_dense.trainable_variables}
    layers = layer_decay_learning_rate_multipliers(run.model.backbone, 0.8)
    assert built[0].learning_rate_multipliers == {
        **{path: 5.0 for path in head_paths - output_paths},
        **{path: 30.0 for path in output_paths},
        **layers,
    }
    # The defaults, as `bertcnn train` without the flags gets them: the head at 20x, no layer decay.
    args = build_parser().parse_args(["train", "--train", "train.csv", "--output", "run"])
    assert training_config(args).head_learning_rate_multiplier == 20
    assert training_config(args).layer_decay == 1
    assert training_config(args).output_learning_rate_multiplier is None
    args = build_parser().parse_args(["train", "--train", "t.csv", "--output", "r", "--layer-decay", "0.9"])
    assert training_config(args).layer_decay == 0.9
    args = build_parser().parse_args(
        ["train", "--train", "t.csv", "--output", "r", "--output-learning-rate-multiplier", "20"]
    )
    assert training_config(args).output_learning_rate_multiplier == 20
    with pytest.raises(ValueError, match="layer_decay must be in"):
        train(examples, str(tmp_path / "bad_decay"), quick_config(tiny_preset, layer_decay=2))
    with pytest.raises(ValueError, match="head_learning_rate_multiplier must be positive"):
        train(examples, str(tmp_path / "bad"), quick_config(tiny_preset, head_learning_rate_multiplier=0))
    with pytest.raises(ValueError, match="output_learning_rate_multiplier must be positive"):
        train(examples, str(tmp_path / "bad_output"), quick_config(tiny_preset, output_learning_rate_multiplier=-1))


def test_ema_momentum_keeps_the_best_epochs_average_of_the_weights(tmp_path, tiny_preset):
    examples = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(2)))
    run, _ = train(examples, str(tmp_path / "run"), quick_config(tiny_preset, epochs=2, ema_momentum=0.9))
    # The best checkpoint was written with the average in the model; the
    # optimizer state saved with it holds the same average.
    averages = run.model.optimizer._model_variables_moving_average
    assert run.model.optimizer.use_ema and run.model.optimizer.ema_momentum == 0.9
    for variable, average in zip(run.model.optimizer._trainable_variables, averages):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(average))
    assert run.settings["ema_momentum"] == 0.9
    args = build_parser().parse_args(["train", "--train", "t.csv", "--output", "r", "--ema-momentum", "0.99"])
    assert training_config(args).ema_momentum == 0.99
    assert training_config(build_parser().parse_args(["train", "--train", "t.csv", "--output", "r"])).ema_momentum is None


def test_label_smoothing_reaches_the_loss_the_settings_and_the_command_line(tmp_path, tiny_preset):
    examples = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(2)))
    run, _ = train(examples, str(tmp_path / "run"), quick_config(tiny_preset, epochs=1, label_smoothing=0.2))
    assert run.model.loss.get_config()["label_smoothing"] == 0.2
    assert run.settings["label_smoothing"] == 0.2
    args = build_parser().parse_args(["train", "--train", "t.csv", "--output", "r", "--label-smoothing", "0.1"])
    assert training_config(args).label_smoothing == 0.1
    assert training_config(build_parser().parse_args(["train", "--train", "t.csv", "--output", "r"])).label_smoothing is None


def test_label_smoothing_by_default_is_0_1_single_label_and_off_multi_label(tmp_path, tiny_preset):
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.config import with_resolved_defaults

    examples = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(2)))
    run, _ = train(examples, str(tmp_path / "run"), quick_config(tiny_preset, epochs=1))
    assert run.model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert run.settings["label_smoothing"] == 0.1  # recorded as run, not as "default"
    assert with_resolved_defaults(TrainingConfig(multi_label=True)).label_smoothing == 0.0
    # A value set, 0 included, is kept.
    assert with_resolved_defaults(TrainingConfig(label_smoothing=0.0)).label_smoothing == 0.0


@pytest.mark.parametrize("multi_label", [False, True])
def test_label_smoothing_stops_rewarding_ever_more_confident_logits(multi_label):
    from bertcnn_tf.training.metrics import loss_and_metrics

    target = np.array([[1.0, 0.0]], dtype="float32")
    confident, more_confident = np.array([[4.0, -4.0]]), np.array([[40.0, -40.0]])
    plain = loss_and_metrics(multi_label)[0]
    smoothed = loss_and_metrics(multi_label, label_smoothing=0.2)[0]
    assert float(plain(target, more_confident)) < float(plain(target, confident))
    assert float(smoothed(target, more_confident)) > float(smoothed(target, confident))


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_label_smoothing_out_of_range_is_refused(share):
    from bertcnn_tf.training.config import TrainingConfig
    from bertcnn_tf.training.trainer import check_config

    with pytest.raises(ValueError, match="label_smoothing must be in"):
        check_config(TrainingConfig(label_smoothing=share))


def test_balanced_weights_make_classes_count_equally():
    targets = np.eye(2, dtype="float32")[[0, 0, 0, 1]]
    weights = balanced_sample_weights(targets)
    np.testing.assert_allclose(weights, [2 / 3, 2 / 3, 2 / 3, 2.0])
    assert weights[:3].sum() == pytest.approx(weights[3:].sum())


def test_train_writes_a_complete_run_folder(tmp_path, tiny_preset):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(8))
    run_dir = str(tmp_path / "run")
    run, report = train(read_examples(data), run_dir, quick_config(tiny_preset, head_warmup_epochs=1, class_weight="balanced"))
    for name in ("model.keras", "labels.txt", "settings.json", "report.json", "report.md",
                 "best.weights.h5", "training_log.csv", "training_curves.png",
                 "confusion_matrix_validation.png"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert os.listdir(os.path.join(run_dir, "logs"))  # TensorBoard
    assert run.labels == ["bad", "good", "service"]
    assert report["splits"]["validation"]["accuracy"] > 0.6
    reloaded = load_run(run_dir)
    assert reloaded.labels == run.labels and reloaded.settings["head_warmup_epochs"] == 1
    with open(os.path.join(run_dir, "training_log.csv")) as f:
        assert len(f.readlines()) == 1 + 1 + 3  # header, warm-up epoch, 3 epochs


def test_multi_label_trains_with_sigmoid_and_tunes_its_threshold(tmp_path, tiny_preset, monkeypatch):
    rows = [(text, label if label != "service" else "service|bad") for text, label in sentiment_rows(8)]
    data = write_csv(tmp_path / "train.csv", rows)
    examples = read_examples(data, label_separator="|")
    seen = {}

    def spy(targets, probabilities):
        seen.update(targets=targets, probabilities=probabilities)
        return 0.35  # not the default, so the test sees whether the tuned value is used

    monkeypatch.setattr(bertcnn_tf.training.trainer, "best_threshold", spy)
    config = quick_config(tiny_preset, multi_label=True, label_separator="|", tune_threshold=True)
    run, report = train(examples, str(tmp_path / "run"), config, validation_examples=examples)
    metrics = report["splits"]["validation"]
    assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(metrics)
    assert run.multi_label and metrics["micro_f1"] > 0.6
    # Tuned on the validation rows' sigmoid probabilities at the fitted temperatures, used everywhere after.
    targets = LabelVocabulary(run.labels).encode(examples)
    np.testing.assert_array_equal(seen["targets"], targets)
    assert len(run.temperature) == len(run.labels)  # one per label
    np.testing.assert_allclose(
        seen["probabilities"],
        predict_probabilities(run.model, examples, multi_label=True, temperature=run.temperature),
        atol=1e-6,
    )
    assert run.threshold == metrics["threshold"] == 0.35
    assert load_run(str(tmp_path / "run")).threshold == 0.35
    # Per example: right when every label is, at the tuned threshold.
    correct = correct_per_example(run, examples)
    assert correct.shape == (len(examples),) and correct.mean() == pytest.approx(metrics["subset_accuracy"])


def test_best_threshold_maximizes_macro_f1_and_breaks_ties_towards_half():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probabilities = np.array([[0.4, 0.1], [0.2, 0.35], [0.45, 0.3], [0.1, 0.15]])
    assert best_threshold(targets, probabilities) == 0.3  # 0.25 and 0.3 are both perfect
    assert best_threshold(targets, probabilities, candidates=(0.5, 0.05)) == 0.05
    with pytest.raises(ValueError, match="same"):
        best_threshold(targets, probabilities[:, :1])


def test_tune_threshold_is_refused_for_single_label_runs(tmp_path, tiny_preset):
    examples = read_examples(write_csv(tmp_path / "train.csv", sentiment_rows(2)))
    with pytest.raises(ValueError, match="multi-label runs only.*--tune-threshold"):
        train(examples, str(tmp_path / "run"), quick_config(tiny_preset, tune_threshold=True))


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_sets_the_cnn_head_shape_and_the_run_keeps_it(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    run_dir = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "train", "--train", train_csv, "--output", run_dir, "--backbone", tiny_preset,
        "--epochs", 1, "--batch-size", 8, "--sequence-length", 32,
        "--kernel-sizes", "2,3", "--filters", 6, "--pooling", "max_mean", "--with-cls-token",
    )
    assert code == 0, out + err
    run = load_run(str(run_dir))
    assert run.model.get_layer("text_cnn").get_config()["kernel_sizes"] == [2, 3]
    assert (run.model.filters, run.model.pooling) == (6, "max_mean")
    assert run.model.get_layer("text_cnn").output.shape[-1] == 6 * 2 * 2  # 2 widths, max and mean
    assert (run.settings["kernel_sizes"], run.settings["filters"]) == ([2, 3], 6)
    assert run.model.with_cls_token and run.settings["with_cls_token"] is True
    with pytest.raises(SystemExit):
        main(["train", "--train", str(train_csv), "--output", str(tmp_path / "bad"), "--kernel-sizes", "3,x"])
    assert "positive integers joined by commas" in capsys.readouterr().err
    code, _, err = run_cli(
        capsys, "train", "--train", train_csv, "--output", tmp_path / "bad", "--backbone", tiny_preset,
        "--filters", 0,
    )
    assert code == 2 and "filters must be at least 1" in err


def test_cli_train_evaluate_predict_reload(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(8))
    test_csv = write_csv(tmp_path / "test.csv", sentiment_rows(1))
    run_dir = tmp_path / "run"
    code, out, _ = run_cli(
        capsys, "train", "--train", train_csv, "--test", test_csv, "--output", run_dir,
        "--backbone", tiny_preset, "--epochs", 3, "--batch-size", 8,
        "--learning-rate", 3e-3, "--sequence-length", 32, "--warmup-ratio", 0,
    )
    assert code == 0, out
    assert "test: accuracy" in out

    code, out, _ = run_cli(capsys, "evaluate", "--model", run_dir, "--data", test_csv)
    metrics = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and metrics["examples"] == 9
    assert metrics["accuracy"] > 0.6 and "macro_f1" in metrics and "per_class" in metrics

    code, out, _ = run_cli(capsys, "predict", "--model", run_dir, "the movie was great !", "late delivery")
    predictions = [json.loads(line) for line in out.strip().splitlines()]
    assert [p["label"] for p in predictions] == ["good", "service"]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in predictions)
    code, out, _ = run_cli(
        capsys, "predict", "--model", run_dir, "--precision", "bfloat16", "the movie was great !", "late delivery"
    )
    fast = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and [p["label"] for p in fast] == ["good", "service"]
    for slow_row, fast_row in zip(predictions, fast):
        for label, p in slow_row["probabilities"].items():
            assert abs(fast_row["probabilities"][label] - p) < 3e-2

    output = tmp_path / "predictions.jsonl"
    inputs = write_csv(tmp_path / "new.csv", [("hated the film",), ("",), ("a good film",)], header=("text",))
    code, out, _ = run_cli(capsys, "predict", "--model", run_dir, "--input", inputs, "--output", output)
    assert code == 0 and "rejected 1 rows" in out  # the empty text, with its line, in the rejects file
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["label"] for r in rows] == ["bad", "good"]
    assert [json.loads(line)["line"] for line in open(f"{output}.rejects.jsonl")] == [3]


def test_cli_bad_input_is_one_clear_line(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", [("a", "x"), ("b", "x")])
    code, _, err = run_cli(capsys, "train", "--train", train_csv, "--output", tmp_path / "r", "--backbone", tiny_preset)
    assert code == 2 and err.startswith("error: ") and "at least two classes" in err
    assert "Traceback" not in err
    code, _, err = run_cli(capsys, "evaluate", "--model", tmp_path / "missing", "--data", train_csv)
    assert code == 2 and "not a run folder" in err
    code, _, err = run_cli(capsys, "train", "--train", tmp_path / "none.csv", "--output", tmp_path / "r")
    assert code == 2 and "No such file" in err


def test_cli_compare_trains_each_head_with_the_same_budget(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(4))
    code, out, _ = run_cli(
        capsys, "compare", "--train", train_csv, "--output", tmp_path / "cmp", "--heads", "cnn,mean",
        "--backbone", tiny_preset, "--epochs", 1, "--batch-size", 8, "--sequence-length", 32,
    )
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert summary["split"] == "validation" and summary["seeds"] == [42] and set(summary["heads"]) == {"cnn", "mean"}
    for head in ("cnn", "mean"):
        settings = json.loads((tmp_path / "cmp" / head / "settings.json").read_text())
        assert settings["head"] == head and settings["epochs"] == 1 and settings["seed"] == 42
    # Both heads scored on the same rows: their accuracy gap is the discordant counts' gap.
    [pair] = summary["paired"]
    assert (pair["first"], pair["second"], pair["seed"]) == ("cnn", "mean", 42)
    gap = summary["heads"]["cnn"]["accuracy"] - summary["heads"]["mean"]["accuracy"]
    assert gap == pytest.approx((pair["first_only"] - pair["second_only"]) / pair["examples"])
    _, held_out = stratified_split(read_examples(train_csv), 0.1, 42)
    assert pair["examples"] == len(held_out)
    assert 0 < pair["p"] <= 1 and "McNemar's exact test" in out and "seed 42, cnn vs mean:" in out


def test_cli_compare_over_seeds_reports_mean_std_and_a_test_per_seed(tmp_path, tiny_preset, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(3))
    test_csv = write_csv(tmp_path / "test.csv", sentiment_rows(1))
    code, out, _ = run_cli(
        capsys, "compare", "--train", train_csv, "--test", test_csv, "--output", tmp_path / "cmp",
        "--heads", "cnn,cls", "--seeds", "1,2", "--backbone", tiny_preset, "--epochs", 1,
        "--batch-size", 8, "--sequence-length", 32, "--with-cls-token",
    )
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["split"] == "test" and summary["seeds"] == [1, 2]
    for head in ("cnn", "cls"):
        result = summary["heads"][head]
        accuracies = [run["accuracy"] for run in result["per_seed"]]
        assert [run["seed"] for run in result["per_seed"]] == [1, 2]
        assert result["accuracy"] == pytest.approx(np.mean(accuracies))
        assert result["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
        for seed in (1, 2):
            settings = json.loads((tmp_path / "cmp" / head / f"seed-{seed}" / "settings.json").read_text())
            assert settings["head"] == head and settings["seed"] == seed
            # The flag reshapes the heads it fits; "cls" is the [CLS] vector already.
            assert settings["with_cls_token"] is (None if head == "cls" else True)
    assert [(p["seed"], p["examples"]) for p in summary["paired"]] == [(1, 9), (2, 9)]
    assert "mean ± std over 2 seeds" in out


@pytest.mark.parametrize(
    "flag, values, field, runs",
    [
        ("--head-learning-rate-multipliers", "1,20", "head_learning_rate_multiplier", {"cnn-1x": 1, "cnn-20x": 20}),
        ("--label-smoothings", "0,0.1", "label_smoothing", {"cnn-ls0": 0.0, "cnn-ls0.1": 0.1}),
    ],
)
def test_cli_compare_trains_each_head_at_each_value_given(tmp_path, tiny_preset, capsys, flag, values, field, runs):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(3))
    code, out, _ = run_cli(
        capsys, "compare", "--train", train_csv, "--output", tmp_path / "cmp", "--heads", "cnn",
        flag, values, "--backbone", tiny_preset, "--epochs", 1, "--batch-size", 8, "--sequence-length", 32,
    )
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert list(summary["heads"]) == list(runs)
    for name, value in runs.items():
        settings = json.loads((tmp_path / "cmp" / name / "settings.json").read_text())
        assert settings["head"] == "cnn" and settings[field] == value
    [pair] = summary["paired"]
    assert (pair["first"], pair["second"]) == tuple(runs)
    assert f"seed 42, {' vs '.join(runs)}:" in out


def test_compare_candidates_cross_multipliers_with_smoothings():
    from bertcnn_tf.training.compare import compare_candidates

    assert compare_candidates(["cnn", "cls"]) == [("cnn", "cnn", {}), ("cls", "cls", {})]
    candidates = compare_candidates(["cnn", "cls"], [1, 20], [0, 0.1])
    assert [name for name, _, _ in candidates] == [
        f"{head}-{rate}-{share}" for head in ("cnn", "cls") for rate in ("1x", "20x") for share in ("ls0", "ls0.1")
    ]
    assert candidates[3] == (
        "cnn-20x-ls0.1", "cnn", {"head_learning_rate_multiplier": 20.0, "label_smoothing": 0.1}
    )


@pytest.mark.parametrize(
    "flag, values, example",
    [("--head-learning-rate-multipliers", bad, "such as 1,20") for bad in ("1,x", "1,1", "0,20", "nan")]
    + [("--label-smoothings", bad, "such as 0,0.1") for bad in ("0,x", "0,0", "1", "-0.1", "nan")],
)
def test_cli_compare_refuses_bad_lists_of_settings(tmp_path, capsys, flag, values, example):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    code, _, err = run_cli(capsys, "compare", "--train", train_csv, "--output", tmp_path / "cmp", flag, values)
    assert code == 2 and flag in err and example in err
    assert "Traceback" not in err and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("seeds", ["1,x", "1,1", ","])
def test_cli_compare_refuses_bad_seeds(tmp_path, seeds, capsys):
    train_csv = write_csv(tmp_path / "train.csv", sentiment_rows(2))
    code, _, err = run_cli(capsys, "compare", "--train", train_csv, "--output", tmp_path / "cmp", "--seeds", seeds)
    assert code == 2 and "--seeds" in err and "such as 1,2,3" in err and "Traceback" not in err
    assert not (tmp_path / "cmp").exists()


def test_float16_with_xla_trains_and_reloads_in_float16(tmp_path, tiny_preset):
    data = write_csv(tmp_path / "train.csv", sentiment_rows(8))
    run_dir = str(tmp_path / "run")
    config = quick_config(tiny_preset, precision="mixed_float16", xla=True)
    run, report = train(read_examples(data), run_dir, config)
    assert run.model.optimizer.__class__.__name__ == "LossScaleOptimizer"
    assert report["splits"]["validation"]["accuracy"] > 0.6
    assert load_run(run_dir).model.backbone.compute_dtype == "float16"
