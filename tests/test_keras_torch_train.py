"""Keras on the PyTorch backend as a third trainer (``yt8m train --framework keras
--keras-backend torch``): the same Keras model code, the one epoch loop, the same run folder
and record as the other two, and the backend written into the record. Keras fixes its backend
when it is first imported, so every run here is a fresh process, as on the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("keras_torch_train")]


def yt8m(*args, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)  # --keras-backend decides, as for a user
    return subprocess.run(
        [sys.executable, "-m", "yt8m_lib", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def train(data, out, *extra):
    return yt8m(
        "train",
        "--framework",
        "keras",
        "--keras-backend",
        "torch",
        "--profile",
        "smoke",
        "--train-data",
        data / "video" / "train*.tfrecord",
        "--val-data",
        data / "video" / "validate*.tfrecord",
        "--out",
        out,
        "--no-progress",
        "--device",
        "cpu",
        *extra,
    )


def test_keras_on_torch_trains_resumes_and_evaluates_like_the_other_trainers(data, tmp_path):
    out = tmp_path / "fc"
    done = train(data, out, "--model", "fc", "--epochs", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert record["framework"] == "keras" and record["keras_backend"] == "torch"
    assert [e["epoch"] for e in record["history"]] == [1, 2]
    assert (out / "best.npz").is_file() and (out / "last.npz").is_file()
    assert 0 <= record["evaluations"]["validate"]["gap"] <= 1
    # a third epoch resumes the same run: same identity, one more epoch
    again = train(data, out, "--model", "fc", "--epochs", "3")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stderr
    resumed = json.loads((out / "run.json").read_text())
    assert resumed["run_id"] == record["run_id"] and len(resumed["history"]) == 3
    # evaluate picks the backend the run trained on from its record
    scored = yt8m(
        "evaluate",
        out,
        "--data",
        data / "video" / "test*.tfrecord",
        "--predictions",
        tmp_path / "p.csv",
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    metrics = json.loads(scored.stdout)
    assert 0 <= metrics["gap"] <= 1 and (tmp_path / "p.csv").is_file()
    assert metrics["num_videos"] == 16  # the tiny dataset's test videos


def test_a_frame_model_trains_on_keras_on_torch(data, tmp_path):
    done = yt8m(
        "train",
        "--framework",
        "keras",
        "--keras-backend",
        "torch",
        "--profile",
        "smoke",
        "--model",
        "bilstm",
        "--epochs",
        "1",
        "--train-data",
        data / "frame" / "train*.tfrecord",
        "--val-data",
        data / "frame" / "validate*.tfrecord",
        "--out",
        tmp_path / "bilstm",
        "--no-progress",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "bilstm" / "run.json").read_text())
    assert record["keras_backend"] == "torch" and record["model"] == "bilstm"


def test_keras_on_torch_trains_the_autoencoder_and_a_classifier_on_its_codes(data, tmp_path):
    """The autoencoder on the torch backend: trained by `yt8m autoencoder`, validated by its
    reconstruction error (lower is better), its codes fed to a classifier that is then scored;
    and its checkpoint is the Keras file of either backend: TensorFlow reads it and encodes
    the same rows into the same codes."""
    ae = tmp_path / "ae"
    common = ["--profile", "smoke", "--no-progress", "--device", "cpu"]
    video = ["--train-data", data / "video" / "train*.tfrecord",
             "--val-data", data / "video" / "validate*.tfrecord"]  # fmt: skip
    done = yt8m("autoencoder", "--framework", "keras", "--keras-backend", "torch",
                "--level", "video", "--epochs", "3", "--out", ae, *video, *common)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((ae / "run.json").read_text())
    assert record["model"] == "autoencoder" and record["keras_backend"] == "torch"
    history = record["history"]
    for entry in history:
        assert entry["val_loss"] == pytest.approx(entry["val_rgb_mse"] + entry["val_audio_mse"])
    assert record["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learns

    fc = tmp_path / "fc"
    done = train(data, fc, "--model", "fc", "--epochs", "1", "--features", "autoencoder",
                 "--autoencoder", ae)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    classifier = json.loads((fc / "run.json").read_text())
    assert classifier["features"] == "autoencoder"
    assert classifier["config"]["model"]["rgb_dim"] == record["config"]["model"]["ae_rgb_code"]
    scored = yt8m("evaluate", fc, "--data", data / "video" / "test*.tfrecord")
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert 0 <= json.loads(scored.stdout)["gap"] <= 1

    codes = {}
    for backend in ("torch", "tensorflow"):
        code = (
            "import numpy as np; from yt8m_lib import experiments\n"
            "rng = np.random.default_rng(0)\n"
            "rgb, audio = rng.normal(size=(8, 1024)), rng.normal(size=(8, 128))\n"
            f"r, a = experiments.encode_with_autoencoder('keras', {str(ae)!r}, rgb, audio)\n"
            f"np.savez({str(tmp_path / backend)!r}, rgb=r, audio=a)"
        )
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        codes[backend] = np.load(tmp_path / f"{backend}.npz")
    for stream in ("rgb", "audio"):
        np.testing.assert_allclose(codes["torch"][stream], codes["tensorflow"][stream], atol=1e-5)


def test_the_keras_backend_is_refused_where_it_means_nothing(data, tmp_path):
    done = yt8m(
        "train",
        "--framework",
        "torch",
        "--keras-backend",
        "torch",
        "--model",
        "fc",
        "--profile",
        "smoke",
        "--epochs",
        "1",
        "--train-data",
        data / "video" / "train*.tfrecord",
        "--val-data",
        data / "video" / "validate*.tfrecord",
        "--out",
        tmp_path / "x",
    )
    assert done.returncode == 2 and "is for --framework keras" in done.stderr
    assert not (tmp_path / "x").exists()


def test_keras_on_torch_imports_no_tensorflow_to_train(data, tmp_path):
    """What lets it run on the lent GPU machines, which have PyTorch and no TensorFlow, and
    keeps TensorFlow's runtime out of its memory and start-up where TensorFlow is installed
    (``keras.utils.set_random_seed`` would import it): a whole run, trained and scored."""
    code = (
        "import os, sys; os.environ['KERAS_BACKEND'] = 'torch'\n"
        "from yt8m_lib import experiments\n"
        f"experiments.run_one('keras', 'fc', 0, profile='smoke', data_dir={str(data)!r}, "
        f"results_dir={str(tmp_path)!r}, keras_backend='torch', verbose=False)\n"
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_a_notebook_trains_keras_on_torch_in_a_process_of_its_own(data, tmp_path, capsys):
    """`run_suite(..., keras_backend="torch")` from a process whose Keras runs (or may run) on
    TensorFlow, as in notebook 03: the runs are made in a child process with
    KERAS_BACKEND=torch, their lines reach this process's output, and the records land in
    `keras-torch/` as the third column of the tables."""
    from yt8m_lib import experiments
    from yt8m_lib.runs import tables

    results = tmp_path / "results"
    kwargs = dict(profile="smoke", data_dir=data, results_dir=results, keras_backend="torch")
    (record,) = experiments.run_suite("keras", ["logistic"], [0], **kwargs)
    assert record["framework"] == "keras" and record["keras_backend"] == "torch"
    run_dir = results / "runs" / "smoke" / "synthetic-smoke" / "keras-torch" / "logistic-raw-seed0"
    assert record["run_dir"] == str(run_dir) and (run_dir / "test_predictions.csv").is_file()
    assert record["evaluations"]["test"]["gap"] > 0
    printed = capsys.readouterr().out
    assert "keras-torch logistic" in printed and "test GAP" in printed

    again = experiments.run_suite("keras", ["logistic"], [0], **kwargs)
    assert again[0]["run_id"] == record["run_id"] and "reused" in capsys.readouterr().out
    frame = tables.runs_frame(tables.load_records(results_dir=results, keras_torch=True))
    assert tables.load_records(results_dir=results) == []  # not mixed into two-framework tables
    assert frame.engine.tolist() == ["Keras / torch"]


def test_a_failing_keras_on_torch_process_raises_with_its_last_lines(data, tmp_path):
    from yt8m_lib import experiments

    with pytest.raises(RuntimeError, match="(?s)failed in their own process.*no_such_model"):
        experiments.run_suite(
            "keras",
            ["no_such_model"],
            [0],
            profile="smoke",
            data_dir=data,
            results_dir=tmp_path,
            keras_backend="torch",
            verbose=False,
        )
