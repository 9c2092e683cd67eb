"""Shared, generic test fixtures: small random YouTube-8M examples and shards."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Quieter TensorFlow start-up in tests that import it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def random_video_examples(n: int, *, num_classes: int = 50, seed: int = 0, prefix: str = "v"):
    """``n`` VideoExamples with 0-4 labels each and values in the dequantized range."""
    from yt8m_lib.data.records import VideoExample

    rng = np.random.default_rng(seed)
    return [VideoExample(
        id=f"{prefix}{i:04d}",
        labels=np.sort(rng.choice(num_classes, size=int(rng.integers(0, 5)), replace=False)),
        mean_rgb=rng.uniform(-2, 2, 1024).astype(np.float32),
        mean_audio=rng.uniform(-2, 2, 128).astype(np.float32),
    ) for i in range(n)]


def random_frame_examples(n: int, *, num_classes: int = 50, seed: int = 0, prefix: str = "f",
                          min_frames: int = 3, max_frames: int = 12):
    """``n`` FrameExamples with 0-4 labels and ``min_frames..max_frames`` quantized frames."""
    from yt8m_lib.data.records import FrameExample

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        frames = int(rng.integers(min_frames, max_frames + 1))
        out.append(FrameExample(
            id=f"{prefix}{i:04d}",
            labels=np.sort(rng.choice(num_classes, size=int(rng.integers(0, 5)), replace=False)),
            rgb=rng.integers(0, 256, (frames, 1024), dtype=np.uint8),
            audio=rng.integers(0, 256, (frames, 128), dtype=np.uint8),
        ))
    return out


@pytest.fixture
def video_shard(tmp_path):
    """A video-level shard of 8 random videos (50 classes): (path, examples)."""
    from yt8m_lib.data.records import write_shard

    examples = random_video_examples(8)
    path = tmp_path / "video0000.tfrecord"
    write_shard(path, examples)
    return path, examples


@pytest.fixture
def frame_shard(tmp_path):
    """A frame-level shard of 6 random videos (50 classes): (path, examples)."""
    from yt8m_lib.data.records import write_shard

    examples = random_frame_examples(6)
    path = tmp_path / "frame0000.tfrecord"
    write_shard(path, examples)
    return path, examples


# --------------------------------------------------------------------------- trainer tests

TINY_NUM_CLASSES = 30  # the smoke profile's vocabulary


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny synthetic dataset in both levels (30 classes, 64/24/16 videos of 10-20
    frames), generated once per test module that asks for it."""
    from yt8m_lib.data.synthetic import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, profile="smoke", seed=0, progress=False, train_videos=64, validate_videos=24,
             test_videos=16, train_shards=2, validate_shards=1, test_shards=1,
             min_frames=10, max_frames=20)
    return out


def files(data, level, split):
    """The shards of one split and level of a synthetic dataset, in name order."""
    return sorted((data / level).glob(f"{split}*.tfrecord"))


def train_tiny(trainer, data, out, model="fc", level="video", **kwargs):
    """``trainer.train`` (either framework's) on the tiny dataset, smoke profile, CPU."""
    settings = dict(model=model, train_paths=files(data, level, "train"),
                    val_paths=files(data, level, "validate"), out_dir=out, profile="smoke",
                    seed=0, num_classes=TINY_NUM_CLASSES, vocabulary=data / "vocabulary.csv",
                    device="cpu", progress=False)
    settings.update(kwargs)
    return trainer.train(**settings)
