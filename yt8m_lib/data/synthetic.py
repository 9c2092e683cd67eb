"""Synthetic YouTube-8M: the official formats, both levels, with structure we know and document.

``yt8m synth OUT --profile smoke|default|paper --seed N`` writes::

    OUT/video/train0000.tfrecord …   tf.train.Example (id, labels, mean_rgb, mean_audio)
    OUT/frame/train0000.tfrecord …   tf.train.SequenceExample (id, labels; rgb, audio frames)
    OUT/video/validate0000… test0000…  and the same under OUT/frame/
    OUT/vocabulary.csv               the official columns; Vertical1 = genre
    OUT/manifest.json                every parameter, the evidence of every class, the files

The two levels hold the **same videos in the same order**; a video's ``mean_rgb`` /
``mean_audio`` is the mean of its *dequantized* frames (computed in float64, stored as
float32), so video- and frame-level models see the same information. Same seed, same bytes;
the per-video random streams depend only on (seed, split, video number), so ``--min-seconds``
keeps the other videos bit-for-bit identical. Unlike the real test partition, the synthetic
test split has labels (so notebooks can score it).

How the data makes the thesis's comparisons meaningful:

* **Long tail**: class ``c`` (vocabulary ``Index``) is drawn with probability ∝ 1/(c+1)^s,
  s = ``zipf_exponent`` = 1.0 (the real 2018 TrainVideoCount falls ~5600-fold over 3862
  classes, log 5600 / log 3862 ≈ 1.04). Index 0 is the most frequent, as in the real file.
* **~3 labels per video, mostly one genre**: 1 + Poisson(``extra_labels_mean`` = 2) labels;
  the first is drawn from the whole vocabulary and fixes the video's genre, each further label
  comes from that genre with probability ``same_genre_prob`` (0.85), else from everywhere.
* **Genres** (``Vertical1``): 24 categories + "(Unknown)", with the number of classes per
  genre proportional to the entity counts of the real vocabulary (``REAL_GENRE_ENTITIES``),
  at least one class each when there are enough classes; genres are spread over frequency
  ranks by a seeded permutation.
* **Features**: per frame, a per-video offset (``video_std``) + a per-scene offset
  (scenes of ~``scene_frames`` frames, ``scene_std``) + frame noise (``frame_std``), so
  values are centred with std ≈ 0.4 per dimension, well inside [-2, 2] after quantization,
  and neighbouring frames are correlated as in real video.
* **Difficulty** (the default profile, seed 0, with the default training profile of
  ``yt8m_lib.config``, 6 epochs, model seeds 0-2, both frameworks; ``make reproduce``):
  test GAP ≈ 0.62 for ``logistic``, ≈ 0.71-0.73 for ``fc`` and ``moe``, ≈ 0.79-0.80 for
  ``hybrid``, ≈ 0.69-0.70 for ``bilstm`` and ≈ 0.67 for ``stream_lstm``. On the temporal
  classes every frame-level model beats ``fc`` (AP ≈ 0.59-0.78 against ≈ 0.48-0.50: ``fc``
  at best gives each twin ~1/2). The per-video offset (``video_std`` = 0.2 in the default
  and paper profiles) does not average away, so video means stay noisy while a frame model
  can contrast frames within a video: room above the video-level models, and no metric
  saturates.
* **Evidence in one stream**: every class has a pattern, a random direction with norm
  ``rgb_strength`` in the 1024-d rgb space *or* ``audio_strength`` in the 128-d audio space
  (``rgb_share`` of the non-temporal classes use rgb, the rest audio), so a model that ignores
  a stream misses that stream's classes.
* **Evidence in a limited span**: a label's pattern is added only to a contiguous span of
  ``span_min``–``span_max`` of the video's frames, at a random place; the video mean holds it
  diluted by the span fraction, frame models can find it, and frame sampling can miss it.
* **Order of events**: ``temporal_share`` of the classes (drawn among the
  ``temporal_top_share`` most frequent ones) come in twin pairs sharing two
  events A and B (own patterns in one stream): the first twin means "A, later B", the second
  "B, later A". Span lengths are drawn independently of the order, so the frame mean has the
  *same distribution* for both twins: averaging frames cannot tell them apart (a video-level
  model at best gives each twin ~1/2), a temporal model can. Twins never label one video.
* **Lengths**: ``min_frames``–``max_frames`` one-second frames (uniform; 120–300 by
  default, as real clips of 120–500 s capped at 300 frames); ``min_seconds`` drops shorter
  videos (the thesis kept videos of at least 100 s).

All the numbers are the fields of ``SynthConfig`` below; ``manifest.json`` records every one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yt8m_lib.config import AUDIO_DIM, NUM_CLASSES_2018, RGB_DIM
from yt8m_lib.errors import ConfigError

SPLITS = ("train", "validate", "test")
FORMAT_VERSION = 1
UNKNOWN_GENRE = "(Unknown)"

# Entities per Vertical1 genre in the real 2018 vocabulary.csv (3862 rows; counted in its
# column Vertical1). Only these proportions are used.
REAL_GENRE_ENTITIES = {
    "Games": 734, "Arts & Entertainment": 525, "Autos & Vehicles": 466,
    "Computers & Electronics": 302, "Food & Drink": 278, "Business & Industrial": 259,
    "Sports": 167, "Pets & Animals": 150, "Hobbies & Leisure": 132, "Home & Garden": 120,
    "Shopping": 116, "Science": 116, "Beauty & Fitness": 86, "Travel": 48,
    "People & Society": 46, "Reference": 41, "Law & Government": 32, "Internet & Telecom": 26,
    "Books & Literature": 20, "News": 18, "Health": 14, "Jobs & Education": 12, "Finance": 10,
    "Real Estate": 6, UNKNOWN_GENRE: 138,
}


@dataclass(frozen=True)
class SynthConfig:
    num_classes: int = NUM_CLASSES_2018  # vocabulary size
    train_videos: int = 1500  # videos generated per split (before --min-seconds)
    validate_videos: int = 400
    test_videos: int = 400
    train_shards: int = 6
    validate_shards: int = 2
    test_shards: int = 2
    min_frames: int = 120  # frames (one per second) per video, uniform in [min, max]
    max_frames: int = 300
    min_seconds: int | None = None  # drop videos with fewer frames (thesis: 100)
    zipf_exponent: float = 1.0  # class frequency ∝ 1/(index+1)^s
    extra_labels_mean: float = 2.0  # labels per video = 1 + Poisson(this), capped
    max_labels: int = 8
    same_genre_prob: float = 0.85  # a further label comes from the first label's genre
    temporal_share: float = 0.2  # share of classes that are order-of-events twins
    temporal_top_share: float = 1.0  # twins come from this most frequent share of the ranks
    rgb_share: float = 0.6  # share of the other classes whose evidence is in rgb (rest: audio)
    video_std: float = 0.10  # per-video offset, per dimension (default/paper: 0.2)
    scene_std: float = 0.28  # per-scene offset
    scene_frames: float = 15.0  # mean scene length in frames
    frame_std: float = 0.25  # per-frame noise
    rgb_strength: float = 10.0  # norm of an rgb pattern in a frame of its span
    audio_strength: float = 6.0  # norm of an audio pattern
    strength_jitter: float = 0.3  # a video's pattern strength varies by ±this fraction
    span_min: float = 0.10  # evidence span, as a fraction of the video's frames
    span_max: float = 0.30


PROFILES: dict[str, SynthConfig] = {
    # seconds to generate: unit tests and notebook smoke runs
    "smoke": SynthConfig(num_classes=30, train_videos=160, validate_videos=48, test_videos=48,
                         train_shards=2, validate_shards=2, test_shards=2,
                         min_frames=20, max_frames=60, scene_frames=8.0),
    # what `make reproduce` trains on (6 models x 2 frameworks x 3 seeds on 2 CPU cores):
    # ~2300 videos, ~0.6 GB on disk, well under a minute to generate
    # (video_std 0.2: a per-video offset that video means keep and frame models can contrast
    # away; with 0.1 the video-level models nearly saturated and left nothing to compare)
    # temporal_top_share 0.4: the twins are among the 40 % most frequent classes, so each
    # has enough training videos (>= ~20) to learn an order from; at any rank most twins had
    # fewer than 15 and no frame model could beat fc on them in the default budget
    "default": SynthConfig(num_classes=150, train_videos=1500, validate_videos=400,
                           test_videos=400, train_shards=6, validate_shards=2, test_shards=2,
                           video_std=0.2, temporal_top_share=0.4),
    # full vocabulary for a GPU: ~56k videos, ~14 GB frame level
    "paper": SynthConfig(num_classes=NUM_CLASSES_2018, train_videos=40000,
                         validate_videos=8000, test_videos=8000, train_shards=100,
                         validate_shards=20, test_shards=20, video_std=0.2,
                         temporal_top_share=0.4),
}


def get_config(profile: str = "default", **overrides) -> SynthConfig:
    if profile not in PROFILES:
        raise ConfigError(f"unknown synthetic profile {profile!r}; choose from {', '.join(PROFILES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(SynthConfig)}
    if unknown:
        raise ConfigError(f"unknown synthetic parameter(s): {', '.join(sorted(unknown))}")
    config = dataclasses.replace(PROFILES[profile],
                                 **{k: v for k, v in overrides.items() if v is not None})
    if config.num_classes < 2:
        raise ConfigError(f"--num-classes {config.num_classes}: need at least 2 classes")
    if not 1 <= config.min_frames <= config.max_frames <= 300:
        raise ConfigError(f"frames {config.min_frames}-{config.max_frames}: need 1 <= min <= max <= 300")
    if config.min_seconds is not None and config.min_seconds > config.max_frames:
        raise ConfigError(f"--min-seconds {config.min_seconds} keeps no video: the profile's "
                          f"videos have at most {config.max_frames} frames")
    return config


# --------------------------------------------------------------------------- the world

@dataclass
class World:
    """Everything shared by all videos: classes, genres, evidence patterns."""

    class_prob: np.ndarray  # (C,) label-draw probabilities (Zipf)
    class_genre: np.ndarray  # (C,) index into genre_names
    genre_names: list[str]
    kind: list[str]  # per class: 'rgb', 'audio' or 'temporal'
    stream: list[str]  # per class: 'rgb' or 'audio' (where its evidence lives)
    twin: np.ndarray  # (C,) the other class of a temporal pair, -1 otherwise
    first_event: np.ndarray  # (C,) for temporal classes: 0 = A first, 1 = B first
    patterns: np.ndarray  # (C, 1152) float32 pattern of each non-temporal class
    events: np.ndarray  # (C, 2, 1152) float32 events A, B of temporal classes (twins share)


def allocate_genres(num_classes: int) -> dict[str, int]:
    """Classes per genre ∝ the real entity counts (largest remainder); with at least 50
    classes every genre gets one, taken from the largest genre."""
    names = list(REAL_GENRE_ENTITIES)
    weights = np.array([REAL_GENRE_ENTITIES[n] for n in names], dtype=np.float64)
    share = weights / weights.sum() * num_classes
    counts = np.floor(share).astype(np.int64)
    remainder = share - counts
    for i in np.argsort(-remainder, kind="stable")[: num_classes - counts.sum()]:
        counts[i] += 1
    if num_classes >= 2 * len(names):
        for i in np.flatnonzero(counts == 0):
            counts[i] = 1
            counts[np.argmax(counts)] -= 1
    return {n: int(c) for n, c in zip(names, counts) if c > 0}


def _unit_rows(rng, rows: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((rows, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def build_world(config: SynthConfig, seed: int) -> World:
    rng = np.random.default_rng([seed, 0xC1A55])
    c = config.num_classes
    prob = 1.0 / np.arange(1, c + 1) ** config.zipf_exponent
    prob /= prob.sum()

    counts = allocate_genres(c)
    genre_names = sorted(counts, key=lambda n: (n == UNKNOWN_GENRE, n))
    genre_of_slot = np.repeat([genre_names.index(n) for n in counts], list(counts.values()))
    class_genre = genre_of_slot[rng.permutation(c)]

    # temporal twins: adjacent frequency ranks (2k, 2k+1), so both twins are about as common
    num_pairs = int(round(config.temporal_share * c / 2))
    pair_slots = max(num_pairs, int(round(config.temporal_top_share * c)) // 2)
    pair_starts = np.sort(rng.choice(min(pair_slots, c // 2), size=num_pairs, replace=False)) * 2
    twin = np.full(c, -1, dtype=np.int64)
    first_event = np.zeros(c, dtype=np.int64)
    for a in pair_starts:
        twin[a], twin[a + 1] = a + 1, a
        first_event[a + 1] = 1
    # twins belong to one genre: swap genres with an unpaired class (keeps the genre sizes)
    for a in pair_starts:
        for moved, target in ((a + 1, class_genre[a]), (a, class_genre[a + 1])):
            if class_genre[a] == class_genre[a + 1]:
                break
            donors = np.flatnonzero((twin < 0) & (class_genre == target))
            if donors.size:
                k = donors[0]
                class_genre[k], class_genre[moved] = class_genre[moved], class_genre[k]
        class_genre[a + 1] = class_genre[a]  # no donor at all (tiny vocabularies): just join

    kind, stream = [], []
    for i in range(c):
        s = "rgb" if rng.random() < config.rgb_share else "audio"
        stream.append(s)
        kind.append("temporal" if twin[i] >= 0 else s)
    for a in pair_starts:  # both twins see the same events, so the same stream
        stream[a + 1] = stream[a]

    dim = RGB_DIM + AUDIO_DIM
    patterns = np.zeros((c, dim), dtype=np.float32)
    events = np.zeros((c, 2, dim), dtype=np.float32)
    rgb_dirs = _unit_rows(rng, 3 * c, RGB_DIM) * config.rgb_strength
    audio_dirs = _unit_rows(rng, 3 * c, AUDIO_DIM) * config.audio_strength
    for i in range(c):
        dirs, lo, hi = ((rgb_dirs, 0, RGB_DIM) if stream[i] == "rgb"
                        else (audio_dirs, RGB_DIM, dim))
        if twin[i] < 0:
            patterns[i, lo:hi] = dirs[3 * i]
        elif twin[i] > i:  # the first twin defines the pair's events A and B
            events[i, 0, lo:hi] = dirs[3 * i + 1]
            events[i, 1, lo:hi] = dirs[3 * i + 2]
            events[twin[i]] = events[i]
    return World(prob, class_genre, genre_names, kind, stream, twin, first_event, patterns, events)


# --------------------------------------------------------------------------- videos

def draw_labels(rng, world: World, config: SynthConfig) -> np.ndarray:
    """1 + Poisson labels: the first from everywhere, the rest mostly from its genre."""
    c = len(world.class_prob)
    n = min(1 + rng.poisson(config.extra_labels_mean), config.max_labels, c)
    first = int(rng.choice(c, p=world.class_prob))
    labels = [first]
    allowed = np.ones(c, dtype=bool)
    allowed[first] = False
    if world.twin[first] >= 0:
        allowed[world.twin[first]] = False  # "A then B" and "B then A" cannot both hold
    genre = world.class_genre[first]
    in_genre = world.class_genre == genre
    for _ in range(n - 1):
        pool = allowed & in_genre if rng.random() < config.same_genre_prob else allowed
        if not pool.any():
            pool = allowed
        if not pool.any():
            break
        p = np.where(pool, world.class_prob, 0.0)
        label = int(rng.choice(c, p=p / p.sum()))
        labels.append(label)
        allowed[label] = False
        if world.twin[label] >= 0:
            allowed[world.twin[label]] = False
    return np.array(sorted(labels), dtype=np.int64)


def _span(rng, n: int, config: SynthConfig) -> int:
    frac = rng.uniform(config.span_min, config.span_max)
    return int(min(n, max(1, round(frac * n))))


def video_features(rng, n: int, labels: np.ndarray, world: World, config: SynthConfig):
    """Float features (n, 1152) of one video: offsets + noise + each label's evidence span."""
    from yt8m_lib.data.features import quantize

    dim = RGB_DIM + AUDIO_DIM
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= config.frame_std
    x += rng.standard_normal(dim, dtype=np.float32) * config.video_std
    # scenes: piecewise-constant offsets with boundaries at random frames
    cuts = rng.random(n) < 1.0 / config.scene_frames
    cuts[0] = False
    scene = np.cumsum(cuts)
    x += rng.standard_normal((scene[-1] + 1, dim), dtype=np.float32)[scene] * config.scene_std

    for label in labels:
        strength = np.float32(1.0 + config.strength_jitter * rng.uniform(-1, 1))
        if world.twin[label] < 0:
            length = _span(rng, n, config)
            start = int(rng.integers(0, n - length + 1))
            x[start:start + length] += strength * world.patterns[label]
        else:
            # two spans, one after the other; which event goes first is the class
            first_len, second_len = _span(rng, n, config), _span(rng, n, config)
            if first_len + second_len > n:
                first_len = second_len = max(1, n // 2)
            gap_room = n - first_len - second_len
            start1 = int(rng.integers(0, gap_room + 1))
            start2 = start1 + first_len + int(rng.integers(0, gap_room - start1 + 1))
            order = (0, 1) if world.first_event[label] == 0 else (1, 0)
            x[start1:start1 + first_len] += strength * world.events[label, order[0]]
            x[start2:start2 + second_len] += strength * world.events[label, order[1]]
    q = quantize(x)
    return q[:, :RGB_DIM], q[:, RGB_DIM:]


def video_means(rgb_q: np.ndarray, audio_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The video-level features: float32 of the float64 mean of the dequantized frames."""
    from yt8m_lib.data.features import dequantize

    return (dequantize(rgb_q).mean(axis=0, dtype=np.float64).astype(np.float32),
            dequantize(audio_q).mean(axis=0, dtype=np.float64).astype(np.float32))


def split_plan(config: SynthConfig, world: World, seed: int, split: str):
    """(numbers, frame counts, labels) of a split's videos, after the min_seconds filter."""
    split_id = SPLITS.index(split)
    count = getattr(config, f"{split}_videos")
    rng = np.random.default_rng([seed, 0x5B117, split_id])
    frames = rng.integers(config.min_frames, config.max_frames + 1, size=count)
    labels = [draw_labels(rng, world, config) for _ in range(count)]
    keep = np.arange(count)
    if config.min_seconds is not None:
        keep = keep[frames >= config.min_seconds]
    return keep, frames, labels


def video_id(split: str, number: int) -> str:
    return f"{split[:2]}{number:06d}"


# --------------------------------------------------------------------------- files

def vocabulary_rows(world: World, train_counts: np.ndarray) -> list[dict]:
    rows = []
    for i in range(len(world.class_prob)):
        genre = world.genre_names[world.class_genre[i]]
        if world.twin[i] >= 0:
            a_first = world.first_event[i] == 0
            what = (f"Temporal class ({world.stream[i]} stream): event A "
                    f"{'before' if a_first else 'after'} event B; its twin class "
                    f"{world.twin[i]} has the opposite order and the same frame mean.")
        else:
            what = (f"Evidence in the {world.stream[i]} stream, in a span of "
                    f"frames of the video.")
        rows.append({"Index": i, "TrainVideoCount": int(train_counts[i]),
                     "KnowledgeGraphId": f"/synthetic/{i:04d}",
                     "Name": f"synthetic-{i:04d} ({genre})", "WikiUrl": "",
                     "Vertical1": genre, "Vertical2": "", "Vertical3": "",
                     "WikiDescription": f"Synthetic class. {what}"})
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    from yt8m_lib.evaluation.genres import VOCABULARY_COLUMNS

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(VOCABULARY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def generate(out_dir, profile: str = "default", seed: int = 0, num_classes: int | None = None,
             min_seconds: int | None = None, progress: bool = True, **overrides) -> dict:
    """Write the synthetic dataset of a profile into out_dir; returns the manifest.

    ``overrides`` replace other ``SynthConfig`` fields (tests use them for tiny datasets).
    """
    from tqdm.auto import tqdm

    from yt8m_lib import __version__
    from yt8m_lib.data.records import FrameExample, VideoExample, write_shard

    config = get_config(profile, num_classes=num_classes, min_seconds=min_seconds, **overrides)
    out = Path(out_dir)
    (out / "video").mkdir(parents=True, exist_ok=True)
    (out / "frame").mkdir(parents=True, exist_ok=True)
    world = build_world(config, seed)
    plans = {split: split_plan(config, world, seed, split) for split in SPLITS}

    files, splits = [], {}
    total = sum(len(keep) for keep, _, _ in plans.values())
    with tqdm(total=total, desc=f"synth {profile}", unit="video", disable=not progress) as bar:
        for split in SPLITS:
            keep, frames, labels = plans[split]
            if len(keep) == 0:
                raise ConfigError(f"no {split} video has at least {config.min_seconds} frames")
            num_shards = min(getattr(config, f"{split}_shards"), len(keep))
            for shard, numbers in enumerate(np.array_split(keep, num_shards)):
                frame_examples, video_examples = [], []
                for number in numbers:
                    rng = np.random.default_rng([seed, 0xF3A3E, SPLITS.index(split), int(number)])
                    rgb, audio = video_features(rng, int(frames[number]), labels[number],
                                                world, config)
                    vid = video_id(split, int(number))
                    frame_examples.append(FrameExample(vid, labels[number], rgb, audio))
                    video_examples.append(VideoExample(vid, labels[number], *video_means(rgb, audio)))
                    bar.update(1)
                for level, examples in (("frame", frame_examples), ("video", video_examples)):
                    path = out / level / f"{split}{shard:04d}.tfrecord"
                    write_shard(path, examples)
                    files.append({"path": f"{level}/{path.name}", "level": level, "split": split,
                                  "videos": len(examples), "bytes": path.stat().st_size,
                                  "md5": _md5(path)})
            kept_labels = [labels[i] for i in keep]
            splits[split] = {
                "videos": int(len(keep)), "videos_generated": int(len(frames)),
                "shards": int(num_shards),
                "frames_min": int(frames[keep].min()), "frames_max": int(frames[keep].max()),
                "frames_mean": round(float(frames[keep].mean()), 2),
                "labels_per_video": round(float(np.mean([len(x) for x in kept_labels])), 3),
            }

    train_keep, _, train_labels = plans["train"]
    train_counts = np.bincount(np.concatenate([train_labels[i] for i in train_keep]),
                               minlength=config.num_classes)
    _write_csv(out / "vocabulary.csv", vocabulary_rows(world, train_counts))
    files.append({"path": "vocabulary.csv", "bytes": (out / "vocabulary.csv").stat().st_size,
                  "md5": _md5(out / "vocabulary.csv")})

    classes = range(config.num_classes)
    manifest = {
        "format": "yt8m-synthetic", "format_version": FORMAT_VERSION,
        "generator": "yt8m_lib.data.synthetic", "package_version": __version__,
        "profile": profile, "seed": seed, "parameters": dataclasses.asdict(config),
        "num_classes": config.num_classes, "rgb_dim": RGB_DIM, "audio_dim": AUDIO_DIM,
        "genres": {name: int(np.sum(world.class_genre == g))
                   for g, name in enumerate(world.genre_names)},
        "classes": {
            "rgb": [i for i in classes if world.kind[i] == "rgb"],
            "audio": [i for i in classes if world.kind[i] == "audio"],
            "temporal": [i for i in classes if world.kind[i] == "temporal"],
            "temporal_pairs": [{"a_then_b": i, "b_then_a": int(world.twin[i]),
                                "stream": world.stream[i]}
                               for i in classes if world.twin[i] > i],
            "stream": world.stream,
            "genre": [world.genre_names[g] for g in world.class_genre],
        },
        "splits": splits,
        "files": files,
        "total_bytes": int(sum(f["bytes"] for f in files)),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def cli_main(args) -> int:
    start = time.perf_counter()
    manifest = generate(args.out_dir, profile=args.profile, seed=args.seed,
                        num_classes=args.num_classes, min_seconds=args.min_seconds)
    videos = ", ".join(f"{s} {v['videos']}" for s, v in manifest["splits"].items())
    print(f"wrote {args.out_dir}: {manifest['num_classes']} classes, videos {videos}, "
          f"{manifest['total_bytes'] / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
    return 0
