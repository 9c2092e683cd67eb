"""Shared, generic test fixtures: small random YouTube-8M examples and shards."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

# Quieter TensorFlow start-up in tests that import it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The checkout these tests belong to (where the notebooks, Makefile and pyproject.toml are),
# whatever project root yt8m_lib.paths would choose.
CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """The slow tests (notebook runs, several processes) first, in their own order: under
    `pytest -n 2` the long ones then overlap instead of leaving one worker alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def random_video_examples(n: int, *, num_classes: int = 50, seed: int = 0, prefix: str = "v"):
    """``n`` VideoExamples with 0-4 labels each and values in the dequantized range."""
    from yt8m_lib.data.records import VideoExample

    rng = np.random.default_rng(seed)
    return [
        VideoExample(
            id=f"{prefix}{i:04d}",
            labels=np.sort(rng.choice(num_classes, size=int(rng.integers(0, 5)), replace=False)),
            mean_rgb=rng.uniform(-2, 2, 1024).astype(np.float32),
            mean_audio=rng.uniform(-2, 2, 128).astype(np.float32),
        )
        for i in range(n)
    ]


def random_frame_examples(
    n: int,
    *,
    num_classes: int = 50,
    seed: int = 0,
    prefix: str = "f",
    min_frames: int = 3,
    max_frames: int = 12,
):
    """``n`` FrameExamples with 0-4 labels and ``min_frames..max_frames`` quantized frames."""
    from yt8m_lib.data.records import FrameExample

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        frames = int(rng.integers(min_frames, max_frames + 1))
        out.append(
            FrameExample(
                id=f"{prefix}{i:04d}",
                labels=np.sort(
                    rng.choice(num_classes, size=int(rng.integers(0, 5)), replace=False)
                ),
                rgb=rng.integers(0, 256, (frames, 1024), dtype=np.uint8),
                audio=rng.integers(0, 256, (frames, 128), dtype=np.uint8),
            )
        )
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


def empty_dataset(
    folder,
    splits=("train", "validate", "test"),
    level="video",
    shards=2,
    num_classes=5,
    manifest=True,
):
    """A dataset folder in the synthetic layout with empty shard files, for code that only
    looks for files (a fake trainer never reads them)."""
    for split in splits:
        for i in range(shards):
            path = folder / level / f"{split}{i:04d}.tfrecord"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    if manifest:
        (folder / "manifest.json").write_text(
            json.dumps({"profile": "smoke", "num_classes": num_classes})
        )
    return folder


def sample_run_record(framework="torch", model="fc", seed=0, gap=0.5):
    """A run record as the trainers write it: 3 epochs of history, validate and test
    metrics (the test mAP NaN), timings, a hardware summary and samples, numpy values."""
    from yt8m_lib.runs.run_record import new_run_record

    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / (e + 1),
            "val_loss": np.float32(0.9 / (e + 1)),
            "val_gap": gap * e / 2,
            "epoch_seconds": 1.5,
        }
        for e in range(3)
    ]
    return new_run_record(
        framework=framework,
        model=model,
        seed=seed,
        profile="smoke",
        config={
            "model": {"num_classes": 10, "fc_hidden": (64, 32)},
            "train": {"batch_size": 32, "learning_rate": 1e-3},
        },
        data={"train": "data/video/train*.tfrecord", "level": "video", "num_classes": 10},
        history=history,
        best_epoch=2,
        parameters=np.int64(1234),
        evaluations={
            "validate": {"gap": np.float64(gap), "hit_at_1": 0.6, "num_videos": 40},
            "test": {
                "gap": gap - 0.1,
                "map": float("nan"),
                "num_videos": 50,
                "genre_confusion": [[1, 0], [0, 1]],
                "genres": ["a", "b"],
                "data": "data/video/test*.tfrecord",
            },
        },
        timings={"train_examples_per_s": 1000.0, "median_step_s": 0.01},
        hardware={
            "summary": {"rss_mb_peak": 300.0, "gpu_present": False, "gpu_names": []},
            "samples": [{"t_s": 0.5, "rss_mb": 290.0}],
        },
    )


# --------------------------------------------------------------------------- trainer tests

TINY_NUM_CLASSES = 30  # the smoke profile's vocabulary


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny synthetic dataset in both levels (30 classes, 64/24/16 videos of 10-20
    frames), generated once per test module that asks for it."""
    from yt8m_lib.data.synthetic import generate

    out = tmp_path_factory.mktemp("synth")
    generate(
        out,
        profile="smoke",
        seed=0,
        progress=False,
        train_videos=64,
        validate_videos=24,
        test_videos=16,
        train_shards=2,
        validate_shards=1,
        test_shards=1,
        min_frames=10,
        max_frames=20,
    )
    return out


def files(data, level, split):
    """The shards of one split and level of a synthetic dataset, in name order."""
    return sorted((data / level).glob(f"{split}*.tfrecord"))


def train_tiny(trainer, data, out, model="fc", level="video", **kwargs):
    """``trainer.train`` (either framework's) on the tiny dataset, smoke profile, CPU."""
    settings = dict(
        model=model,
        train_paths=files(data, level, "train"),
        val_paths=files(data, level, "validate"),
        out_dir=out,
        profile="smoke",
        seed=0,
        num_classes=TINY_NUM_CLASSES,
        vocabulary=data / "vocabulary.csv",
        device="cpu",
        progress=False,
    )
    settings.update(kwargs)
    return trainer.train(**settings)
