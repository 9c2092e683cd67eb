"""The Keras side of the trainer contract that is Keras' own: its batches are PyTorch's
(tensors of the same values), a batch split over local replicas, the traced functions, and a
clear message when TensorFlow is missing. Records, checkpoints and resuming:
test_trainer_contract."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import files  # noqa: E402

from yt8m_lib.data.batches import InputSpec  # noqa: E402
from yt8m_lib.keras import train as trainer  # noqa: E402
from yt8m_lib.keras.data import make_loader  # noqa: E402

pytestmark = pytest.mark.xdist_group("keras_train")
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ trainer


@pytest.mark.parametrize("level", ["video", "frame"])
def test_the_trainer_trains_on_the_pytorch_batches_in_the_same_order(data, level):
    """Both trainers read with yt8m_lib.data.batches: same videos, order, frames and values."""
    pytest.importorskip("torch")
    import tensorflow as tf

    from yt8m_lib.config import get_profile, with_overrides
    from yt8m_lib.torch.data import YT8MDataset
    from yt8m_lib.torch.data import make_loader as torch_loader

    config = with_overrides(
        get_profile("smoke").train, frames_per_video=4, frame_sampling="random", shuffle_buffer=16
    )
    spec = InputSpec.for_training(
        files(data, level, "train"), level, config, num_classes=30, seed=3, batch_size=7
    )
    keras_batches = list(make_loader(spec, epoch=2))
    dataset = YT8MDataset(spec)
    dataset.set_epoch(2)
    torch_batches = list(torch_loader(dataset, 7))
    assert len(keras_batches) == len(torch_batches) == 10  # 64 videos, batches of 7
    for ours, theirs in zip(keras_batches, torch_batches):
        assert ours["id"] == theirs["id"]
        assert set(ours) == set(theirs)
        for key in set(ours) - {"id"}:
            np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy(), err_msg=key)
    if level == "frame":
        assert keras_batches[0]["num_frames"].dtype == tf.int32


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
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[[0.0, 2.0, 4.0], [6.0, 8.0, 10.0, 12.0]]"


def test_keras_command_without_tensorflow_says_so(data, tmp_path):
    """With TensorFlow unimportable, `yt8m train --framework keras` exits 2 naming it."""
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from yt8m_lib.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    args = [
        "train",
        "--framework",
        "keras",
        "--model",
        "fc",
        "--train-data",
        str(data / "video" / "train*.tfrecord"),
        "--val-data",
        str(data / "video" / "validate*.tfrecord"),
        "--out",
        str(tmp_path / "run"),
        "--profile",
        "smoke",
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 2, done.stderr
    assert "tensorflow" in done.stderr and "not installed" in done.stderr
    assert "Traceback" not in done.stderr


def test_evaluating_many_models_in_one_process_traces_without_retracing_warnings(data, caplog):
    # a notebook evaluates one model after another; batches of 7 leave a smaller last batch
    import logging

    from yt8m_lib.config import get_profile, with_overrides
    from yt8m_lib.keras.models import build_model

    train = with_overrides(get_profile("smoke").train, frames_per_video=8, eval_batch_size=7)
    spec = InputSpec.for_evaluation(
        files(data, "frame", "validate"), "frame", train, num_classes=30, video_means=False
    )
    config = with_overrides(get_profile("smoke").model, num_classes=30)
    with caplog.at_level(logging.WARNING):
        for _ in range(7):
            out = trainer.predict(build_model("bilstm", config), make_loader(spec))
            assert out["num_videos"] == 24
            assert out["inference_batch_latency_ms"] > 0
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
