"""`yt8m train / autoencoder / evaluate`: bad input fails with one clear line (exit 2) before
any training starts; good input is handed to the framework's trainer."""

import json
import shutil
from pathlib import Path

import pytest

from yt8m_lib import commands, training
from yt8m_lib.cli import main
from yt8m_lib.errors import MissingFrameworkError

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


def test_evaluate_refuses_data_of_the_wrong_level(data, capsys):
    pytest.importorskip("torch")
    run = data.parent / "cli_run"
    if not (run / "run.json").is_file():
        assert main(train_args(data, "--epochs", "1", out="cli_run")) == 0
        capsys.readouterr()
    fails(capsys, ["evaluate", str(run), "--data", str(data / "frame" / "test*")], "frame-level")
