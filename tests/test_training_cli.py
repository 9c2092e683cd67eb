"""`yt8m train / autoencoder / evaluate`: bad input fails with one clear line (exit 2) before
any training starts; good input is handed to the framework's trainer."""

import json
import shutil
from pathlib import Path

import pytest

from yt8m_lib import commands, training
from yt8m_lib.cli import main
from yt8m_lib.errors import MissingFrameworkError
from yt8m_lib.evaluation.genres import report_summary
from yt8m_lib.evaluation.predictions import read_genre_predictions, read_predictions

pytestmark = pytest.mark.xdist_group("training_cli")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from yt8m_lib.data.synthetic import generate

    out = tmp_path_factory.mktemp("synth")
    generate(
        out,
        profile="smoke",
        seed=0,
        progress=False,
        train_videos=32,
        validate_videos=16,
        test_videos=8,
        train_shards=1,
        validate_shards=1,
        test_shards=1,
        min_frames=10,
        max_frames=16,
    )
    return out


def train_args(data, *extra, model="fc", level="video", out="run"):
    return [
        "train",
        "--framework",
        "torch",
        "--model",
        model,
        "--profile",
        "smoke",
        "--train-data",
        str(data / level / "train*"),
        "--val-data",
        str(data / level / "validate*"),
        "--out",
        str(data.parent / out),
        "--no-progress",
        "--device",
        "cpu",
        *extra,
    ]


def fails(capsys, argv, *words):
    """main(argv) exits with 2 and one error line containing every word; no run was started."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"yt8m {argv[0]}: error:"), err
    for word in words:
        assert word in err, (word, err)
    return err


def test_unknown_model(data, capsys):
    fails(capsys, train_args(data, model="transformer"), "unknown model", "'transformer'", "fc")


def test_empty_glob(data, capsys):
    argv = train_args(data)
    argv[argv.index("--train-data") + 1] = str(data / "video" / "nothing*")
    fails(capsys, argv, "nothing*", "no files match")


def test_frame_level_data_for_a_video_level_model(data, capsys):
    fails(
        capsys, train_args(data, level="frame"), "train0000.tfrecord", "frame-level", "video-level"
    )


def test_video_level_data_for_a_frame_level_model(data, capsys):
    fails(capsys, train_args(data, model="bilstm"), "video-level", "frame-level")


def test_validation_data_of_the_wrong_level(data, capsys):
    argv = train_args(data)
    argv[argv.index("--val-data") + 1] = str(data / "frame" / "validate*")
    fails(capsys, argv, "validation data", "frame-level")


def test_vocabulary_rows_differ_from_num_classes(data, capsys):
    fails(capsys, train_args(data, "--num-classes", "40"), "30 classes", "--num-classes is 40")


def test_vocabulary_differs_from_the_manifest(data, tmp_path, capsys):
    vocabulary = tmp_path / "vocabulary.csv"
    lines = (data / "vocabulary.csv").read_text().splitlines()
    vocabulary.write_text("\n".join(lines[:11]) + "\n")  # header + 10 classes
    fails(
        capsys, train_args(data, "--vocabulary", str(vocabulary)), "10 classes", "manifest says 30"
    )


def test_labels_outside_the_classes(data, tmp_path, capsys):
    bare = tmp_path / "bare"  # shards without vocabulary or manifest beside them
    bare.mkdir()
    for path in (data / "video").glob("*.tfrecord"):
        shutil.copy(path, bare / path.name)
    argv = train_args(data, "--num-classes", "3")
    argv[argv.index("--train-data") + 1] = str(bare / "train*")
    fails(capsys, argv, "train0000.tfrecord", "record")


def test_missing_vocabulary_file(data, capsys):
    fails(
        capsys,
        train_args(data, "--vocabulary", str(data / "missing.csv")),
        "missing.csv",
        "not found",
    )


def test_autoencoder_features_need_an_autoencoder_run(data, capsys):
    fails(capsys, train_args(data, "--features", "autoencoder"), "--autoencoder")
    fails(
        capsys,
        train_args(data, "--features", "autoencoder", "--autoencoder", str(data)),
        "no run record",
    )


def test_a_missing_framework_is_named(monkeypatch):
    def missing(name):
        error = ModuleNotFoundError("No module named 'tensorflow'")
        error.name = "tensorflow"
        raise error

    monkeypatch.setattr(commands.importlib, "import_module", missing)
    with pytest.raises(MissingFrameworkError, match="tensorflow"):
        commands.load_framework("keras")


def test_vocabulary_is_found_beside_the_data(data):
    from yt8m_lib.data.datasets import resolve_vocabulary

    files = [data / "video" / "train0000.tfrecord"]
    assert resolve_vocabulary(None, files) == data / "vocabulary.csv"
    assert commands.resolve_num_classes(data / "vocabulary.csv", None, files) == 30


def test_step_statistics_skip_warm_up():
    stats = training.step_statistics([9.0, 9.0, 9.0, 1.0, 2.0, 3.0], warmup=3)
    assert stats["median_step_s"] == 2.0
    assert stats["step_s_p10"] < 2.0 < stats["step_s_p90"] <= 3.0


def test_train_then_evaluate_from_the_command_line(data, capsys, tmp_path):
    pytest.importorskip("torch")
    assert main(train_args(data, "--epochs", "1", out="cli_run")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "fc" and summary["best_epoch"] == 1
    assert 0 <= summary["validate"]["gap"] <= 1
    predictions = tmp_path / "p.csv"
    assert (
        main(
            [
                "evaluate",
                str(data.parent / "cli_run"),
                "--data",
                str(data / "video" / "test*"),
                "--predictions",
                str(predictions),
                "--split-name",
                "heldout",
            ]
        )
        == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_videos"] == 8 and "genre_accuracy" in metrics  # vocabulary beside data
    assert predictions.read_text().startswith("VideoId,LabelConfidencePairs\n")
    record = json.loads((data.parent / "cli_run" / "run.json").read_text())
    assert record["evaluations"]["heldout"]["gap"] == metrics["gap"]
    # the genre block: the headline numbers, baselines from the training labels, per genre
    genre = metrics["genre"]
    saved = record["evaluations"]["heldout"]
    assert genre == report_summary(saved["genre"])  # printed: the summary of the record's report
    assert {"strict_accuracy", "lenient_accuracy", "macro_f1", "micro_f1"} <= set(genre)
    assert genre["micro_f1"] == genre["strict_accuracy"] <= genre["lenient_accuracy"]
    assert genre["lenient_accuracy"] == metrics["genre_accuracy"]  # the max rule
    base = genre["baselines"]
    assert base["source"] == "training labels" and base["num_source_videos"] == 32
    assert set(base["most_frequent_genre"]) >= {"genre", "frequency", "strict_accuracy"}
    assert len(genre["per_genre"]) == len(metrics["genres"])
    assert saved["genre"]["macro"]["f1"] == genre["macro_f1"]  # the record keeps it all
    assert saved["genre_predictions"] == str(tmp_path / "p.genres.csv")
    rows = read_genre_predictions(tmp_path / "p.genres.csv")
    assert list(rows) == list(read_predictions(predictions)) and len(rows) == 8
    assert {genre for genre, _, _ in rows.values()} <= set(metrics["genres"])


def test_evaluate_without_the_training_files_uses_the_evaluated_set_and_says_so(
    data, capsys, tmp_path
):
    pytest.importorskip("torch")
    run = data.parent / "cli_run"
    if not (run / "run.json").is_file():
        assert main(train_args(data, "--epochs", "1", out="cli_run")) == 0
    moved = tmp_path / "moved_run"
    shutil.copytree(run, moved)
    record = json.loads((moved / "run.json").read_text())
    record["data"]["train"] = [str(tmp_path / "elsewhere" / "train0000.tfrecord")]
    (moved / "run.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["evaluate", str(moved), "--data", str(data / "video" / "test*")]) == 0
    out = capsys.readouterr()
    base = json.loads(out.out)["genre"]["baselines"]
    assert base["source"].startswith("evaluated set") and base["num_source_videos"] == 8
    assert "training files are not on this machine" in out.err


def test_metrics_json_is_valid_json_one_key_per_line_with_nan_as_null():
    metrics = {
        "gap": 0.5,
        "genre_accuracy": float("nan"),
        "genre_confusion": [[1, 0], [0, 1]],
        "genre": {
            "strict_accuracy": None,
            "baselines": {"source": "training labels", "label_prior": {"genre": "A"}},
            "per_genre": [{"genre": "A", "f1": 0.5}, {"genre": "B", "f1": None}],
        },
        "empty": {},
    }
    text = commands.metrics_json(metrics)
    assert json.loads(text) == {**metrics, "genre_accuracy": None}
    lines = text.splitlines()
    assert ' "genre_confusion": [[1, 0], [0, 1]],' in lines  # a matrix stays on one line
    assert '   "label_prior": {"genre": "A"}' in lines  # a baseline's numbers: one line
    assert '   {"genre": "B", "f1": null}' in lines  # one per-genre row per line
    assert "NaN" not in text


def test_evaluate_refuses_data_of_the_wrong_level(data, capsys):
    pytest.importorskip("torch")
    run = data.parent / "cli_run"
    if not (run / "run.json").is_file():
        assert main(train_args(data, "--epochs", "1", out="cli_run")) == 0
        capsys.readouterr()
    fails(capsys, ["evaluate", str(run), "--data", str(data / "frame" / "test*")], "frame-level")
