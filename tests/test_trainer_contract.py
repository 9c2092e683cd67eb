"""The trainer contract, stated once and run for both frameworks: one epoch loop
(``yt8m_lib.training.fit``) drives a PyTorch or a Keras adapter with the same names, so a
run folder, its record, its checkpoints, resuming, skipped batches, the lock of a run
folder and bad input behave the same in both."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_NUM_CLASSES, files, train_tiny

from yt8m_lib import training
from yt8m_lib.errors import ConfigError, DataError

FRAMEWORKS = ["torch", "keras"]
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("trainer_contract")


def framework_module(name):
    pytest.importorskip("torch" if name == "torch" else "tensorflow")
    from yt8m_lib.commands import load_framework

    return load_framework(name)


def weights(path: Path) -> dict:
    """Every saved model array of a checkpoint of either framework, by name."""
    if path.suffix == ".pt":
        import torch

        return {k: v.numpy() for k, v in torch.load(path, weights_only=False)["model"].items()}
    with np.load(path) as saved:
        return {k: saved[k] for k in saved.files if k.startswith("v")}


def saved_epoch(path: Path) -> int:
    if path.suffix == ".pt":
        import torch

        return torch.load(path, weights_only=False)["epoch"]
    with np.load(path) as saved:
        return json.loads(str(saved["meta"]))["epoch"]


@pytest.fixture(scope="module", params=FRAMEWORKS)
def fc_run(request, data, tmp_path_factory):
    trainer = framework_module(request.param)
    out = tmp_path_factory.mktemp(f"runs_{request.param}") / "fc"
    return request.param, trainer, out, train_tiny(trainer, data, out, epochs=2)


RECORD_KEYS = (
    "schema",
    "run_id",
    "created",
    "framework",
    "model",
    "features",
    "profile",
    "seed",
    "config",
    "data",
    "history",
    "best_epoch",
    "epochs_trained",
    "evaluations",
    "timings",
    "timing_definitions",
    "hardware",
    "parameters",
    "distributed",
    "skipped_batches",
    "environment",
    "git",
)


def test_a_run_writes_its_record_checkpoints_and_logs(fc_run):
    name, trainer, out, record = fc_run
    saved = json.loads((out / "run.json").read_text())
    for key in RECORD_KEYS:
        assert key in saved, key
    assert saved["run_id"] == record["run_id"]
    assert saved["framework"] == name and saved["model"] == "fc"
    assert [h["epoch"] for h in saved["history"]] == [1, 2] and saved["epochs_trained"] == 2
    for key in (
        "train_loss",
        "val_loss",
        "val_gap",
        "val_hit_at_1",
        "val_perr",
        "val_map",
        "epoch_seconds",
    ):
        assert all(np.isfinite(h[key]) for h in saved["history"]), key
    assert saved["data"]["num_train_videos"] == 64 and saved["data"]["num_val_videos"] == 24
    assert saved["data"]["num_classes"] == TINY_NUM_CLASSES
    assert saved["distributed"]["world_size"] == 1
    assert saved["skipped_batches"] == {"single_video": 0, "uneven_shards": 0}
    for key in (
        "train_examples_per_s",
        "median_step_s",
        "step_s_p10",
        "step_s_p90",
        "inference_videos_per_s",
        "inference_batch_latency_ms",
        "total_train_s",
    ):
        assert saved["timings"][key] > 0, key
    assert "summary" in saved["hardware"] and saved["parameters"] > 0
    assert (out / trainer.BEST).is_file() and (out / trainer.LAST).is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert not (out / training.LOCK_FILE).exists()  # released at the end


def test_the_best_checkpoint_is_the_epoch_of_the_best_validation_gap(fc_run):
    _, trainer, out, record = fc_run
    best = max(record["history"], key=lambda h: h["val_gap"])
    assert record["best_epoch"] == best["epoch"] == saved_epoch(out / trainer.BEST)
    validate = record["evaluations"]["validate"]
    assert validate["gap"] == pytest.approx(best["val_gap"])
    assert validate["epoch"] == best["epoch"] and validate["num_videos"] == 24
    assert "genre_accuracy" in validate  # the vocabulary was given


def test_evaluate_scores_the_best_weights_and_writes_predictions(fc_run, data, tmp_path):
    _, trainer, out, record = fc_run
    from yt8m_lib.evaluation.predictions import read_genre_predictions, read_predictions

    predictions = tmp_path / "validate.csv"
    metrics = trainer.evaluate(
        out,
        files(data, "video", "validate"),
        predictions_path=predictions,
        vocabulary=data / "vocabulary.csv",
        split_name="again",
    )
    # the same data as the validation of the best epoch: the same numbers
    assert metrics["gap"] == pytest.approx(record["evaluations"]["validate"]["gap"], abs=1e-6)
    assert metrics["num_videos"] == 24 and "genre_accuracy" in metrics
    rows = read_predictions(predictions)
    assert len(rows) == 24 and all(len(pairs) == 20 for pairs in rows.values())
    saved = json.loads((out / "run.json").read_text())
    assert saved["evaluations"]["again"]["gap"] == metrics["gap"]
    assert saved["evaluations"]["again"]["predictions"] == str(predictions)
    assert "validate" in saved["evaluations"]
    # genre baselines from the 64 training videos (validation during training: its own set)
    base = metrics["genre"]["baselines"]
    assert base["source"] == "training labels" and base["num_source_videos"] == 64
    assert record["evaluations"]["validate"]["genre"]["baselines"]["source"].startswith(
        "evaluated set"
    )
    genres_path = tmp_path / "validate.genres.csv"
    assert saved["evaluations"]["again"]["genre_predictions"] == str(genres_path)
    assert list(read_genre_predictions(genres_path)) == list(rows)


def _training_labels(data, level):
    from yt8m_lib.data import records

    examples = records.iter_examples(files(data, level, "train"), level)
    rows = [np.isin(np.arange(TINY_NUM_CLASSES), ex.labels) for ex in examples]
    return np.array(rows)


@pytest.mark.parametrize("level", ["video", "frame"])
def test_the_evaluator_of_evaluate_takes_its_genre_baselines_from_the_training_labels(
    level, data, monkeypatch
):
    """Both trainers' ``evaluate`` score through ``training.evaluation_evaluator``."""
    from yt8m_lib.evaluation.genres import GenrePrior, Vocabulary, genre_report

    vocab = Vocabulary.load(data / "vocabulary.csv")
    record = {
        "data": {
            "num_classes": TINY_NUM_CLASSES,
            "level": level,
            "train": [str(f) for f in files(data, level, "train")],
        }
    }
    monkeypatch.setattr(training, "GENRE_PRIOR_BATCH", 5)  # 64 videos: 13 label batches
    evaluator = training.evaluation_evaluator(record, data / "vocabulary.csv")
    rng = np.random.default_rng(0)
    p = rng.random((20, TINY_NUM_CLASSES))
    y = rng.random((20, TINY_NUM_CLASSES)) < 0.1
    evaluator.add(p, y)
    prior = GenrePrior.from_labels(_training_labels(data, level), vocab)
    assert evaluator.result()["genre"] == genre_report(p, y, vocab, genre_prior=prior)
    assert evaluator.result()["genre"]["baselines"]["num_source_videos"] == 64


def test_the_evaluator_of_evaluate_without_training_files_or_vocabulary(data, tmp_path, capsys):
    record = {
        "data": {
            "num_classes": TINY_NUM_CLASSES,
            "level": "video",
            "train": [str(tmp_path / "gone.tfrecord"), str(files(data, "video", "train")[0])],
        }
    }
    evaluator = training.evaluation_evaluator(record, data / "vocabulary.csv")
    assert "not on this machine" in capsys.readouterr().err
    rng = np.random.default_rng(1)
    evaluator.add(rng.random((6, TINY_NUM_CLASSES)), rng.random((6, TINY_NUM_CLASSES)) < 0.2)
    base = evaluator.result()["genre"]["baselines"]
    assert base["source"].startswith("evaluated set") and base["num_source_videos"] == 6
    plain = training.evaluation_evaluator(record, None)  # no vocabulary: no genres, no cost
    assert plain.vocabulary is None and capsys.readouterr().err == ""


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_run_stopped_and_resumed_ends_with_the_same_weights_and_run_id(name, data, tmp_path):
    """fc has dropout and BatchNorm: the random state and the statistics resume too."""
    trainer = framework_module(name)
    straight = train_tiny(trainer, data, tmp_path / "straight", epochs=3)
    broken = tmp_path / "broken"
    train_tiny(trainer, data, broken, epochs=3, callbacks=[training.StopAfterEpochs(1)])
    first = json.loads((broken / "run.json").read_text())
    assert first["epochs_trained"] == 1 and len(first["history"]) == 1
    resumed = train_tiny(trainer, data, broken, epochs=3)
    assert resumed["run_id"] == first["run_id"] and resumed["created"] == first["created"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    a, b = weights(tmp_path / "straight" / trainer.LAST), weights(broken / trainer.LAST)
    assert a and a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert resumed["history"][-1]["val_gap"] == straight["history"][-1]["val_gap"]
    # a finished run resumed trains nothing and keeps its record
    again = train_tiny(trainer, data, broken, epochs=3)
    assert again["history"] == resumed["history"] and again["run_id"] == first["run_id"]
    # and a fresh start on request
    fresh = train_tiny(trainer, data, broken, epochs=1, resume=False)
    assert len(fresh["history"]) == 1 and fresh["run_id"] != first["run_id"]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_batch_of_one_video_is_skipped_and_counted_for_batchnorm(name, data, tmp_path):
    """64 training videos in batches of 63 end on a batch of one, which BatchNorm cannot
    normalise: fc (BatchNorm) skips it and says so; logistic (no BatchNorm) trains on it."""
    trainer = framework_module(name)
    seen = training.RecordTrainedIds()
    record = train_tiny(trainer, data, tmp_path / "fc", batch_size=63, epochs=2, callbacks=[seen])
    assert record["skipped_batches"] == {"single_video": 2, "uneven_shards": 0}
    assert len(seen.seen) == 2 * 63
    record = train_tiny(trainer, data, tmp_path / "logistic", "logistic", batch_size=63, epochs=1)
    assert record["skipped_batches"]["single_video"] == 0


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_both_frameworks_train_on_the_same_videos_in_the_same_order(name, data, tmp_path):
    trainer = framework_module(name)
    seen = training.RecordTrainedIds()
    train_tiny(trainer, data, tmp_path / "run", "bilstm", "frame", epochs=2, callbacks=[seen])
    from yt8m_lib.config import get_profile
    from yt8m_lib.data.batches import InputSpec

    spec = InputSpec.for_training(
        files(data, "frame", "train"),
        "frame",
        get_profile("smoke").train,
        num_classes=TINY_NUM_CLASSES,
        seed=0,
        video_means=False,
    )
    expected = [(e, ex.id) for e in range(2) for ex in spec.examples(e)]
    assert seen.seen == expected


def train_tiny_autoencoder(trainer, data, out, level, *, epochs):
    """An autoencoder of the smoke profile on the tiny dataset's ``level``."""
    return trainer.train_autoencoder(
        level=level,
        train_paths=files(data, level, "train"),
        val_paths=files(data, level, "validate"),
        out_dir=out,
        profile="smoke",
        seed=0,
        num_classes=TINY_NUM_CLASSES,
        device="cpu",
        progress=False,
        epochs=epochs,
    )


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_autoencoder_codes_feed_a_frame_model(name, data, tmp_path):
    trainer = framework_module(name)
    ae = train_tiny_autoencoder(trainer, data, tmp_path / "ae", "frame", epochs=2)
    assert ae["model"] == "autoencoder" and len(ae["history"]) == 2
    for entry in ae["history"]:
        assert entry["val_loss"] == pytest.approx(entry["val_rgb_mse"] + entry["val_audio_mse"])
    best = min(ae["history"], key=lambda h: h["val_loss"])
    assert ae["best_epoch"] == best["epoch"]  # lower is better for the autoencoder
    record = train_tiny(
        trainer,
        data,
        tmp_path / "hybrid",
        "hybrid",
        "frame",
        epochs=1,
        features="autoencoder",
        autoencoder_dir=tmp_path / "ae",
    )
    assert record["features"] == "autoencoder"
    assert record["config"]["model"]["rgb_dim"] == ae["config"]["model"]["ae_rgb_code"]
    assert record["config"]["model"]["audio_dim"] == ae["config"]["model"]["ae_audio_code"]
    metrics = trainer.evaluate(tmp_path / "hybrid", files(data, "frame", "test"))
    assert metrics["num_videos"] == 16


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_second_run_into_a_locked_folder_is_refused_and_loses_nothing(name, data, tmp_path):
    trainer = framework_module(name)
    out = tmp_path / "run"
    train_tiny(trainer, data, out, epochs=1)
    before = (out / "run.json").read_text()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / training.LOCK_FILE).write_text(
            json.dumps({"pid": holder.pid, "host": os.uname().nodename, "since": "earlier"})
        )
        with pytest.raises(
            ConfigError,
            match=rf"being written by another run \(pid "
            rf"{holder.pid} on .* since earlier\)",
        ):
            train_tiny(trainer, data, out, epochs=2)
        assert (out / "run.json").read_text() == before
        assert (out / training.LOCK_FILE).exists()  # still the holder's
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its stale lock is taken over and the run resumes
    record = train_tiny(trainer, data, out, epochs=2)
    assert len(record["history"]) == 2 and not (out / training.LOCK_FILE).exists()


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_corrupt_training_record_stops_the_run_naming_file_and_record(name, data, tmp_path):
    trainer = framework_module(name)
    broken = tmp_path / "data"
    broken.mkdir()
    for path in files(data, "video", "train"):
        (broken / path.name).write_bytes(path.read_bytes())
    shard = sorted(broken.glob("train*"))[-1]
    payload = bytearray(shard.read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # a flipped byte inside a record: its CRC fails
    shard.write_bytes(bytes(payload))
    with pytest.raises(DataError, match=rf"{shard.name}.*record \d+"):
        trainer.train(
            model="fc",
            train_paths=sorted(broken.glob("train*")),
            val_paths=files(data, "video", "validate"),
            out_dir=tmp_path / "run",
            profile="smoke",
            seed=0,
            num_classes=TINY_NUM_CLASSES,
            device="cpu",
            progress=False,
            epochs=1,
        )
    assert not (tmp_path / "run" / training.LOCK_FILE).exists()  # released on the error


def test_test_switches_are_callbacks_not_environment_variables():
    """Production code reads no test-only environment variable."""
    sources = "".join(p.read_text() for p in (REPO / "yt8m_lib").rglob("*.py"))
    for name in ("YT8M_STOP_AFTER_EPOCHS", "YT8M_DEBUG_"):
        assert name not in sources, name


# the public functions of every trainer module (torch, Keras on TensorFlow, Keras on torch)
TRAINER_FUNCTIONS = (
    "train",
    "train_autoencoder",
    "evaluate",
    "run",
    "predict",
    "make_optimizer",
    "load_trained",
    "predict_scores",
)


def test_the_two_adapters_implement_the_same_names():
    """The PyTorch and Keras trainers read side by side: the names the loop calls, and the
    same public functions."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from yt8m_lib.keras import train as keras_train
    from yt8m_lib.torch import train as torch_train

    contract = {n for n in vars(training.Trainer) if not n.startswith("_")}
    for module in (torch_train, keras_train):
        implemented = {
            n
            for n in contract
            if getattr(module.Trainer, n) is not getattr(training.Trainer, n, None)
        }
        assert implemented >= contract - {
            "rank",
            "world_size",
            "skips_single_video_batches",
            "lower_is_better",
            "is_main",
            "barrier",
            "hardware_monitor",
            "batch_ids",
            "end_epoch",
            "close",
            "framework",
            "LAST",
            "BEST",
        }
        for function in TRAINER_FUNCTIONS:
            assert callable(getattr(module, function)), (module.__name__, function)


def test_keras_on_torch_implements_the_loop_and_the_public_names():
    """The third adapter (``yt8m_lib.keras.torch_train``, Keras on the torch backend): every
    name the loop calls, and the public functions of the other two (the autoencoder
    included). Its runs are tested end to end in tests/test_keras_torch_train.py."""
    pytest.importorskip("torch")
    from yt8m_lib.keras import torch_train

    contract = {n for n in vars(training.Trainer) if not n.startswith("_")}
    implemented = {
        n
        for n in contract
        if getattr(torch_train.Trainer, n) is not getattr(training.Trainer, n, None)
    }
    assert implemented >= {
        "epoch_batches",
        "examples_in_step",
        "train_step",
        "validate",
        "save_weights",
        "save_checkpoint",
        "load_checkpoint",
    }
    assert callable(torch_train.Trainer.new_record)
    for function in TRAINER_FUNCTIONS:
        assert callable(getattr(torch_train, function)), function


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_early_stopping_ends_a_run_without_progress_and_a_resume_keeps_it_ended(
    name, data, tmp_path, monkeypatch
):
    """With patience 1 a run whose validation GAP cannot improve (learning rate 0, no
    BatchNorm) stops after epoch 2, keeps epoch 1 as its best, says so in the record, and a
    resumed run trains nothing more."""
    import dataclasses

    from yt8m_lib import config

    smoke = config.PROFILE_SETTINGS["smoke"]
    patient = dataclasses.replace(
        smoke, train=dataclasses.replace(smoke.train, early_stopping_patience=1)
    )
    monkeypatch.setitem(config.PROFILE_SETTINGS, "smoke", patient)
    trainer = framework_module(name)
    out = tmp_path / "run"
    record = train_tiny(trainer, data, out, "logistic", epochs=5, learning_rate=0.0)
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["best_epoch"] == 1 and record["stopped_early"] == 2
    assert record["epochs_trained"] == 2 and record["config"]["train"]["learning_rate"] == 0.0
    again = train_tiny(trainer, data, out, "logistic", epochs=5, learning_rate=0.0)
    assert again["history"] == record["history"] and again["stopped_early"] == 2
    # without patience the same run trains every epoch
    monkeypatch.setitem(config.PROFILE_SETTINGS, "smoke", smoke)
    full = train_tiny(trainer, data, tmp_path / "full", "logistic", epochs=3, learning_rate=0.0)
    assert full["epochs_trained"] == 3 and full["stopped_early"] is None


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_an_autoencoder_stops_when_its_loss_falls_by_less_than_its_margin(
    name, data, tmp_path, monkeypatch
):
    """The autoencoder's convergence rule: with patience 1 and a margin no drop can clear,
    its loss still falls (the best epoch moves on, its weights are kept) but no epoch after
    the first counts as progress, so it stops after epoch 2 of 6. Without the margin the
    same run counts every drop as progress."""
    import dataclasses

    from yt8m_lib import config

    smoke = config.PROFILE_SETTINGS["smoke"]

    def autoencoder(margin, out):
        profile = dataclasses.replace(
            smoke,
            train=dataclasses.replace(
                smoke.train, early_stopping_patience=1, ae_min_improvement=margin
            ),
        )
        monkeypatch.setitem(config.PROFILE_SETTINGS, "smoke", profile)
        return train_tiny_autoencoder(framework_module(name), data, out, "video", epochs=6)

    strict = autoencoder(10.0, tmp_path / "strict")
    losses = [h["val_loss"] for h in strict["history"]]
    assert len(losses) == 2 and strict["stopped_early"] == 2
    assert losses[1] < losses[0] and strict["best_epoch"] == 2  # it fell, but by under 1000 %
    plain = autoencoder(0.0, tmp_path / "plain")
    plain_losses = [h["val_loss"] for h in plain["history"]]
    assert plain_losses[:2] == losses  # the same run up to where the margin stopped it
    assert plain_losses[2] < plain_losses[1], "the tiny autoencoder should still be learning"
    assert plain["epochs_trained"] > 2


def test_a_profile_sets_learning_rates_per_model():
    from yt8m_lib.config import Profile, TrainConfig

    profile = Profile("p", train=TrainConfig(learning_rate=1e-3), learning_rates=(("fc", 3e-3),))
    assert profile.train_for("fc").learning_rate == 3e-3
    assert profile.train_for("logistic").learning_rate == 1e-3
    assert profile.train_for("fc").batch_size == profile.train.batch_size


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("model", ["logistic", "moe", "fc", "stream_lstm"])
def test_output_biases_start_at_the_class_prior_when_the_config_asks(name, model, data):
    """Every output layer of the model starts at the log-odds of the training frequencies
    (moe: every expert of a class), in both frameworks; without the option they are 0."""
    import dataclasses

    trainer_module = framework_module(name)
    level = "video" if model != "stream_lstm" else "frame"
    train_paths = files(data, level, "train")
    spec = training.RunSpec.create(model, profile="smoke", seed=0, num_classes=TINY_NUM_CLASSES)
    prior = training.class_prior_logits(train_paths, level, TINY_NUM_CLASSES)
    assert prior.shape == (TINY_NUM_CLASSES,) and np.isfinite(prior).all()
    with_prior = dataclasses.replace(
        spec, model_config=dataclasses.replace(spec.model_config, output_bias_prior=True)
    )
    repeat = spec.model_config.moe_mixtures if model == "moe" else 1
    for run_spec, expected in ((with_prior, np.repeat(prior, repeat)), (spec, None)):
        trainer = trainer_module.Trainer(
            run_spec, train_paths, files(data, level, "validate"), device="cpu"
        )
        try:
            for keras_name, torch_path in training.OUTPUT_BIAS_LAYERS[model]:
                if name == "torch":
                    bias = trainer.model.get_submodule(torch_path).bias.detach().numpy()
                else:
                    bias = np.asarray(trainer.model.get_layer(keras_name).bias)
                want = np.zeros_like(bias) if expected is None else expected
                np.testing.assert_allclose(bias, want, rtol=1e-6, err_msg=keras_name)
        finally:
            trainer.close()


def test_the_class_prior_counts_half_a_video_for_unseen_classes(data):
    from yt8m_lib.data.records import iter_examples

    paths = files(data, "video", "train")
    examples = list(iter_examples([str(p) for p in paths], "video", num_classes=TINY_NUM_CLASSES))
    counts = np.zeros(TINY_NUM_CLASSES)
    for ex in examples:
        counts[ex.labels] += 1
    p = (counts + 0.5) / (len(examples) + 1)
    np.testing.assert_allclose(
        training.class_prior_logits(paths, "video", TINY_NUM_CLASSES),
        np.log(p / (1 - p)),
        rtol=1e-5,
    )
