"""Benchmark shards: random YouTube-8M-format records of a known size.

Speed depends only on the record format and sizes, not on what the features mean, so the
benchmarks write their own shards (sizes fixed by the mode) instead of needing a generated
dataset: frame-level videos of 120-300 frames (YouTube-8M clips are 120-500 s, at most 300
frames kept), 1-5 labels of 3862 classes, and video-level records with the same labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yt8m_lib.config import AUDIO_DIM, NUM_CLASSES_2018, RGB_DIM
from yt8m_lib.data.records import FrameExample, VideoExample, write_shard

MIN_FRAMES, MAX_FRAMES = 120, 300
# the checkout holding benchmarks/: its build/ folder, and the working folder and import
# path of the benchmark's child processes (which import benchmarks.*)
CHECKOUT = Path(__file__).resolve().parents[1]


def _labels(rng, num_classes):
    return np.sort(rng.choice(num_classes, size=int(rng.integers(1, 6)), replace=False))


def frame_examples(
    n: int,
    seed: int,
    prefix: str,
    num_classes: int = NUM_CLASSES_2018,
    frames: tuple[int, int] = (MIN_FRAMES, MAX_FRAMES),
):
    rng = np.random.default_rng(seed)
    for i in range(n):
        count = int(rng.integers(frames[0], frames[1] + 1))
        yield FrameExample(
            id=f"{prefix}{i:06d}",
            labels=_labels(rng, num_classes),
            rgb=rng.integers(0, 256, (count, RGB_DIM), dtype=np.uint8),
            audio=rng.integers(0, 256, (count, AUDIO_DIM), dtype=np.uint8),
            segments=None,
        )


def video_examples(n: int, seed: int, prefix: str, num_classes: int = NUM_CLASSES_2018):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield VideoExample(
            id=f"{prefix}{i:06d}",
            labels=_labels(rng, num_classes),
            mean_rgb=rng.uniform(-2, 2, RGB_DIM).astype(np.float32),
            mean_audio=rng.uniform(-2, 2, AUDIO_DIM).astype(np.float32),
        )


def make_shards(
    folder: Path,
    level: str,
    *,
    shards: int,
    per_shard: int,
    seed: int = 0,
    frames: tuple[int, int] = (MIN_FRAMES, MAX_FRAMES),
) -> list[Path]:
    """``shards`` files of ``per_shard`` records each in ``folder/level`` (reused when the
    same files already exist: the name holds every size parameter)."""
    out = Path(folder) / level
    out.mkdir(parents=True, exist_ok=True)
    tag = f"n{per_shard}" + (f"_f{frames[0]}-{frames[1]}" if level == "frame" else "")
    paths = []
    for s in range(shards):
        path = out / f"bench_{tag}_s{seed}_{s:04d}.tfrecord"
        if not path.is_file():
            examples = (
                frame_examples(per_shard, seed * 1000 + s, f"f{s}_", frames=frames)
                if level == "frame"
                else video_examples(per_shard, seed * 1000 + s, f"v{s}_")
            )
            write_shard(path, examples)
        paths.append(path)
    return paths


def data_folder() -> Path:
    """Where benchmark shards live: build/bench_data (ignored by git, removed by make clean)."""
    return CHECKOUT / "build" / "bench_data"
