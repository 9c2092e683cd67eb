"""The Keras input pipeline and trainer: the same batches as the numpy (PyTorch) path, run
records, checkpoints, exact resume, evaluation, the autoencoder features, bad input, and a
clear message when TensorFlow is missing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from yt8m_lib.data import features as F  # noqa: E402
from yt8m_lib.errors import DataError  # noqa: E402
from yt8m_lib.keras import data as kdata  # noqa: E402
from yt8m_lib.keras import train as trainer  # noqa: E402
from yt8m_lib.data.records import iter_examples, write_shard  # noqa: E402
from conftest import files, train_tiny  # noqa: E402

pytestmark = pytest.mark.xdist_group("keras_train")
REPO = Path(__file__).resolve().parents[1]


def run_train(data, out, model="fc", level="video", **kwargs):
    return train_tiny(trainer, data, out, model, level, **kwargs)


def tf_batches(paths, level, **kwargs):
    dataset = kdata.make_dataset(paths, level, num_classes=30, batch_size=7, **kwargs)
    batches = list(kdata.iterate(dataset))
    out = {k: np.concatenate([b[k] for b in batches]) for k in batches[0] if k != "id"}
    out["id"] = sum((kdata.ids_to_str(b["id"]) for b in batches), [])
    return out


# ------------------------------------------------------------------ input pipeline

@pytest.mark.parametrize("mode", ["uniform", "random", "all"])
@pytest.mark.parametrize("readers", [1, 3])
def test_frame_batches_equal_the_numpy_path(data, mode, readers):
    """Same videos, same order (shuffle buffer off), same frames, same values."""
    paths = files(data, "frame", "train")
    for reader in range(readers):
        got = tf_batches(paths, "frame", seed=5, epoch=2, frames_per_video=8,
                         frame_sampling=mode, reader_index=reader, num_readers=readers)
        examples = list(iter_examples(paths, "frame", seed=5, epoch=2, reader_index=reader,
                                      num_readers=readers, max_frames=300))
        # the PyTorch pipeline's batch (yt8m_lib.torch.data collates with frame_batch)
        ref = F.frame_batch(examples, 30, 8, mode, [F.frame_rng(5, 2, ex.id) for ex in examples])
        assert got["id"] == ref["id"]
        np.testing.assert_array_equal(got["num_frames"], ref["num_frames"])
        np.testing.assert_array_equal(got["labels"], ref["labels"])
        for key in ("rgb", "audio", "mean_rgb", "mean_audio"):
            np.testing.assert_allclose(got[key], ref[key], atol=1e-6, err_msg=key)


def test_frame_batches_without_the_video_means(data):
    """video_means=False (every frame-level model but hybrid): the same batches, no means."""
    paths = files(data, "frame", "validate")
    full = tf_batches(paths, "frame", seed=None, frames_per_video=8)
    lean = tf_batches(paths, "frame", seed=None, frames_per_video=8, video_means=False)
    assert set(full) - set(lean) == {"mean_rgb", "mean_audio"}
    for key in ("rgb", "audio", "num_frames", "labels"):
        np.testing.assert_array_equal(lean[key], full[key], err_msg=key)


def test_video_batches_equal_the_numpy_path_and_shuffling_keeps_the_set(data):
    paths = files(data, "video", "train")
    got = tf_batches(paths, "video", seed=1, epoch=0)
    ref = F.video_batch(list(iter_examples(paths, "video", seed=1, epoch=0)), 30)
    assert got["id"] == ref["id"]
    np.testing.assert_allclose(got["rgb"], ref["rgb"], atol=1e-6)
    np.testing.assert_array_equal(got["labels"], ref["labels"])
    shuffled = tf_batches(paths, "video", seed=1, epoch=0, shuffle_buffer=32)["id"]
    assert shuffled != got["id"] and sorted(shuffled) == sorted(got["id"])
    assert tf_batches(paths, "video", seed=1, epoch=0, shuffle_buffer=32)["id"] == shuffled
    assert tf_batches(paths, "video", seed=1, epoch=1, shuffle_buffer=32)["id"] != shuffled


def test_a_label_outside_the_classes_names_the_file_and_record(tmp_path):
    from conftest import random_video_examples

    path = tmp_path / "bad.tfrecord"
    examples = random_video_examples(4, num_classes=5)
    examples[2].labels = np.array([1, 7])  # record 2, inside the batch of 4 parsed at once
    write_shard(path, examples)
    with pytest.raises(DataError) as info:
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))
    assert info.value.path == str(path) and info.value.record == 2
    assert "label outside 0..4" in info.value.problem


def _frame_record_with(change) -> bytes:
    """A frame-level record of 3 frames, with ``change(SequenceExample)`` applied."""
    from yt8m_lib.data.records import SequenceExample, serialize_frame_example
    from conftest import random_frame_examples

    message = SequenceExample()
    message.ParseFromString(serialize_frame_example(
        random_frame_examples(1, num_classes=5, min_frames=3, max_frames=3)[0]))
    change(message)
    return message.SerializeToString()


def _drop_last_audio_frame(message):
    del message.feature_lists.feature_list["audio"].feature[-1]


def _shorten_an_rgb_frame(message):
    frame = message.feature_lists.feature_list["rgb"].feature[1].bytes_list
    frame.value[0] = frame.value[0][:1000]


def _no_frames(message):
    for key in ("rgb", "audio"):
        del message.feature_lists.feature_list[key].feature[:]


@pytest.mark.parametrize("bad_record, problem", [
    (lambda: _frame_record_with(lambda m: None)[:-60], "Invalid protocol message"),
    (lambda: _frame_record_with(_drop_last_audio_frame), "different numbers of frames"),
    (lambda: _frame_record_with(_shorten_an_rgb_frame), "rgb frame is not 1024 bytes"),
    (lambda: _frame_record_with(_no_frames), "no frames"),
], ids=["truncated", "frame counts", "frame size", "no frames"])
def test_a_bad_frame_record_inside_a_batch_names_its_file_and_record(tmp_path, bad_record,
                                                                     problem):
    """Frame-level records are parsed a batch at a time; the error still names record 2."""
    from conftest import random_frame_examples
    from yt8m_lib.data.records import serialize_frame_example
    from yt8m_lib.data.tfrecord import write_records

    good = [serialize_frame_example(ex) for ex in random_frame_examples(4, num_classes=5)]
    path = tmp_path / "bad.tfrecord"
    write_records(path, good[:2] + [bad_record()] + good[3:])
    with pytest.raises(DataError) as info:
        list(kdata.iterate(kdata.make_dataset(path, "frame", num_classes=5, batch_size=4,
                                              frames_per_video=2)))
    assert (info.value.path, info.value.record) == (str(path), 2)
    assert problem in info.value.problem


def test_a_video_record_without_a_feature_names_its_file_and_record(tmp_path):
    from conftest import random_video_examples
    from yt8m_lib.data.records import serialize_video_example
    from yt8m_lib.data.tfrecord import write_records

    payloads = [serialize_video_example(ex) for ex in random_video_examples(4, num_classes=5)]
    payloads[1] = payloads[1].replace(b"mean_rgb", b"mean_xyz")
    path = tmp_path / "bad.tfrecord"
    write_records(path, payloads)
    with pytest.raises(DataError) as info:
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))
    assert (info.value.path, info.value.record) == (str(path), 1)
    assert "mean_rgb" in info.value.problem


def test_a_truncated_video_record_is_a_clear_data_error(tmp_path):
    """TensorFlow's message quotes the record's bytes (not text): still a DataError."""
    from conftest import random_video_examples
    from yt8m_lib.data.records import serialize_video_example
    from yt8m_lib.data.tfrecord import write_records

    payloads = [serialize_video_example(ex) for ex in random_video_examples(4, num_classes=5)]
    payloads[2] = payloads[2][:-50]
    path = tmp_path / "bad.tfrecord"
    write_records(path, payloads)
    with pytest.raises(DataError, match="not a valid tf.train.Example"):
        list(kdata.iterate(kdata.make_dataset(path, "video", num_classes=5, batch_size=4)))


def test_frame_records_read_as_video_level_are_refused(data):
    with pytest.raises(DataError, match="mean_"):
        list(kdata.iterate(kdata.make_dataset(files(data, "frame", "validate"), "video",
                                              num_classes=30, batch_size=4)))


# ------------------------------------------------------------------ trainer

@pytest.mark.parametrize("level", ["video", "frame"])
def test_the_trainer_trains_on_the_pytorch_batches_in_the_same_order(data, level):
    """Both trainers read with yt8m_lib.data.batches: same videos, order, frames and values."""
    pytest.importorskip("torch")
    import tensorflow as tf

    from yt8m_lib.config import get_profile, with_overrides
    from yt8m_lib.torch.data import YT8MDataset, make_loader

    config = with_overrides(get_profile("smoke").train, frames_per_video=4,
                            frame_sampling="random", shuffle_buffer=16)
    paths = files(data, level, "train")
    keras_batches = list(trainer._train_batches_fn(
        paths, level, 30, config, 3, 7, True, True, tf.distribute.get_strategy(), 0, 1)(2))
    dataset = YT8MDataset(paths, level, num_classes=30, train_config=config, shuffle_seed=3)
    dataset.set_epoch(2)
    torch_batches = list(make_loader(dataset, 7))
    assert len(keras_batches) == len(torch_batches) == 10  # 64 videos, batches of 7
    for ours, theirs in zip(keras_batches, torch_batches):
        assert ours["id"] == theirs["id"]
        assert set(ours) == set(theirs)
        for key in set(ours) - {"id"}:
            np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy(), err_msg=key)
    if level == "frame":
        assert keras_batches[0]["num_frames"].dtype == tf.int32  # as keras.data's batches


def test_a_batch_is_split_over_local_replicas_in_consecutive_slices():
    """MirroredStrategy over two (logical) CPU devices: replica i gets slice i of 7 videos."""
    script = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from yt8m_lib.keras.train import distribute_batch
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
batch = {"id": list("abcdefg"), "labels": tf.reshape(tf.range(14.0), [7, 2])}
parts = strategy.experimental_local_results(
    strategy.run(lambda b: b["labels"][:, 0], args=(distribute_batch(strategy, batch, 2),)))
print([p.numpy().tolist() for p in parts])
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0, 12.0]]"


def test_training_writes_the_run_record_checkpoints_and_logs(data, tmp_path):
    out = tmp_path / "run"
    record = run_train(data, out, epochs=2)
    saved = json.loads((out / "run.json").read_text())
    for key in ("schema", "run_id", "framework", "framework_version", "model", "features",
                "profile", "seed", "config", "data", "history", "best_epoch", "evaluations",
                "timings", "hardware", "parameters", "distributed", "environment", "git"):
        assert key in saved, key
    assert saved["framework"] == "keras" and saved["model"] == "fc"
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    for key in ("train_loss", "val_loss", "val_gap", "val_hit_at_1", "val_perr", "val_map",
                "epoch_seconds"):
        assert isinstance(saved["history"][0][key], float), key
    assert saved["data"]["num_train_videos"] == 64 and saved["data"]["num_val_videos"] == 24
    validate = saved["evaluations"]["validate"]
    assert validate["num_videos"] == 24 and 0 <= validate["gap"] <= 1
    assert "genre_accuracy" in validate  # the vocabulary was given
    best = max(saved["history"], key=lambda h: h["val_gap"])
    assert saved["best_epoch"] == best["epoch"] and validate["gap"] == best["val_gap"]
    for key in ("train_examples_per_s", "median_step_s", "inference_videos_per_s",
                "total_train_s"):
        assert saved["timings"][key] > 0, key
    assert record["parameters"] == saved["parameters"] > 0
    assert (out / "best.npz").is_file() and (out / "last.npz").is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    # evaluate: the best checkpoint, metrics into the record, a Kaggle predictions file
    predictions = tmp_path / "predictions.csv"
    metrics = trainer.evaluate(out, files(data, "video", "validate"),
                               predictions_path=predictions)
    assert metrics["gap"] == pytest.approx(validate["gap"], abs=1e-6)
    lines = predictions.read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) == 25
    assert json.loads((out / "run.json").read_text())["evaluations"]["test"]["gap"] \
        == pytest.approx(metrics["gap"])


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(data, tmp_path,
                                                                     monkeypatch):
    """fc has dropout and BatchNorm: the dropout RNG and the running statistics resume too."""
    straight = tmp_path / "straight"
    run_train(data, straight, epochs=3)
    broken = tmp_path / "broken"
    monkeypatch.setenv(trainer.STOP_AFTER_ENV, "1")
    run_train(data, broken, epochs=3)  # "killed" after its first epoch
    assert json.loads((broken / "run.json").read_text())["epochs_trained"] == 1
    monkeypatch.delenv(trainer.STOP_AFTER_ENV)
    record = run_train(data, broken, epochs=3)
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    with np.load(straight / "last.npz") as a, np.load(broken / "last.npz") as b:
        weights = [k for k in a.files if k.startswith("v")]
        assert weights
        for key in weights:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert record["history"][-1]["val_gap"] == pytest.approx(
        json.loads((straight / "run.json").read_text())["history"][-1]["val_gap"], abs=0)
    # resuming a finished run trains nothing and keeps its record
    again = run_train(data, broken, epochs=3)
    assert again["history"] == record["history"] and again["best_epoch"] == record["best_epoch"]


def test_frame_level_model_with_autoencoder_features(data, tmp_path):
    ae_dir = tmp_path / "ae"
    ae = trainer.train_autoencoder(level="frame", train_paths=files(data, "frame", "train"),
                                   val_paths=files(data, "frame", "validate"), out_dir=ae_dir,
                                   profile="smoke", seed=0, num_classes=30, device="cpu",
                                   progress=False, epochs=2)
    assert ae["model"] == "autoencoder" and len(ae["history"]) == 2
    errors = [h["val_loss"] for h in ae["history"]]
    assert all(e > 0 for e in errors)
    assert ae["history"][0]["val_rgb_mse"] + ae["history"][0]["val_audio_mse"] \
        == pytest.approx(errors[0])
    record = run_train(data, tmp_path / "hybrid", model="hybrid", level="frame", epochs=1,
                       features="autoencoder", autoencoder_dir=ae_dir)
    smoke = ae["config"]["model"]
    assert record["config"]["model"]["rgb_dim"] == smoke["ae_rgb_code"]
    assert record["config"]["model"]["audio_dim"] == smoke["ae_audio_code"]
    assert 0 <= record["evaluations"]["validate"]["gap"] <= 1


def test_keras_command_without_tensorflow_says_so(data, tmp_path):
    """With TensorFlow unimportable, `yt8m train --framework keras` exits 2 naming it."""
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "from yt8m_lib.cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    args = ["train", "--framework", "keras", "--model", "fc",
            "--train-data", str(data / "video" / "train*.tfrecord"),
            "--val-data", str(data / "video" / "validate*.tfrecord"),
            "--out", str(tmp_path / "run"), "--profile", "smoke"]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120, env=dict(os.environ))
    assert done.returncode == 2, done.stderr
    assert "tensorflow" in done.stderr and "not installed" in done.stderr
    assert "Traceback" not in done.stderr


def test_evaluating_many_models_in_one_process_traces_without_retracing_warnings(data, caplog):
    # a notebook evaluates one model after another; batches of 7 leave a smaller last batch
    import logging

    from yt8m_lib.config import get_profile, with_overrides
    from yt8m_lib.keras.models import build_model

    dataset = kdata.make_dataset(files(data, "frame", "validate"), "frame", num_classes=30,
                                 batch_size=7, seed=None, frames_per_video=8)
    config = with_overrides(get_profile("smoke").model, num_classes=30)
    with caplog.at_level(logging.WARNING):
        for _ in range(7):
            out = trainer.predict(build_model("bilstm", config), dataset)
            assert out["num_videos"] == 24
            assert out["inference_batch_latency_ms"] > 0
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
