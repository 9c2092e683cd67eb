"""The synthetic YouTube-8M: official formats, both levels agree, and the structure it promises."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from yt8m_lib.cli import main
from yt8m_lib.config import AUDIO_DIM, RGB_DIM
from yt8m_lib.data import synthetic as syn
from yt8m_lib.data.features import dequantize
from yt8m_lib.data.records import FrameExample, VideoExample, expand_paths, iter_examples

TINY = dict(
    train_videos=24,
    validate_videos=8,
    test_videos=8,
    train_shards=2,
    validate_shards=1,
    test_shards=1,
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "smoke"
    syn.generate(out, "smoke", seed=3, progress=False)
    return out


def read(out: Path, level: str, split: str = "*"):
    return list(iter_examples(expand_paths(str(out / level / f"{split}*.tfrecord")), level))


def test_layout_mirrors_the_official_partitions(smoke):
    manifest = json.loads((smoke / "manifest.json").read_text())
    for level in ("video", "frame"):
        names = sorted(p.name for p in (smoke / level).iterdir())
        assert names == [
            "test0000.tfrecord",
            "test0001.tfrecord",
            "train0000.tfrecord",
            "train0001.tfrecord",
            "validate0000.tfrecord",
            "validate0001.tfrecord",
        ]
    listed = {f["path"]: f["bytes"] for f in manifest["files"]}
    on_disk = {
        str(p.relative_to(smoke)): p.stat().st_size
        for p in smoke.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert manifest["total_bytes"] == sum(on_disk.values())


def test_shards_parse_with_plain_tensorflow(smoke):
    tf = pytest.importorskip("tensorflow")
    video_spec = {
        "id": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.VarLenFeature(tf.int64),
        "mean_rgb": tf.io.FixedLenFeature([RGB_DIM], tf.float32),
        "mean_audio": tf.io.FixedLenFeature([AUDIO_DIM], tf.float32),
    }
    ours = {ex.id: ex for ex in read(smoke, "video", "train")}
    seen = 0
    for record in tf.data.TFRecordDataset(str(smoke / "video" / "train0000.tfrecord")):
        parsed = tf.io.parse_single_example(record, video_spec)
        ex = ours[parsed["id"].numpy().decode()]
        np.testing.assert_array_equal(tf.sparse.to_dense(parsed["labels"]).numpy(), ex.labels)
        np.testing.assert_array_equal(parsed["mean_rgb"].numpy(), ex.mean_rgb)
        np.testing.assert_array_equal(parsed["mean_audio"].numpy(), ex.mean_audio)
        seen += 1
    assert seen > 0

    context = {"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}
    sequence = {
        "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
        "audio": tf.io.FixedLenSequenceFeature([], tf.string),
    }
    frames = {ex.id: ex for ex in read(smoke, "frame", "train")}
    seen = 0
    for record in tf.data.TFRecordDataset(str(smoke / "frame" / "train0001.tfrecord")):
        ctx, seq = tf.io.parse_single_sequence_example(record, context, sequence)
        ex = frames[ctx["id"].numpy().decode()]
        rgb = tf.io.decode_raw(seq["rgb"], tf.uint8).numpy()
        audio = tf.io.decode_raw(seq["audio"], tf.uint8).numpy()
        assert rgb.shape == (ex.num_frames, RGB_DIM) and audio.shape == (ex.num_frames, AUDIO_DIM)
        np.testing.assert_array_equal(rgb, ex.rgb)
        np.testing.assert_array_equal(audio, ex.audio)
        np.testing.assert_array_equal(tf.sparse.to_dense(ctx["labels"]).numpy(), ex.labels)
        seen += 1
    assert seen > 0


def test_both_levels_hold_the_same_videos_and_the_means_of_the_frames(smoke):
    for split in syn.SPLITS:
        videos, frames = read(smoke, "video", split), read(smoke, "frame", split)
        assert [v.id for v in videos] == [f.id for f in frames]
        assert len({v.id for v in videos}) == len(videos)
        for v, f in zip(videos, frames):
            assert isinstance(v, VideoExample) and isinstance(f, FrameExample)
            np.testing.assert_array_equal(v.labels, f.labels)
            assert len(v.labels) >= 1  # synthetic test videos keep their labels
            for mean, q in ((v.mean_rgb, f.rgb), (v.mean_audio, f.audio)):
                exact = dequantize(q).astype(np.float64).mean(axis=0).astype(np.float32)
                np.testing.assert_array_equal(mean, exact)
                np.testing.assert_allclose(mean, dequantize(q).mean(axis=0), atol=1e-6)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        syn.generate(tmp_path / name, "smoke", seed=seed, progress=False, **TINY)
        runs[name] = {
            str(p.relative_to(tmp_path / name)): p.read_bytes()
            for p in sorted((tmp_path / name).rglob("*"))
            if p.is_file()
        }
    assert runs["a"] == runs["b"]
    assert runs["a"].keys() == runs["c"].keys()
    assert runs["a"]["frame/train0000.tfrecord"] != runs["c"]["frame/train0000.tfrecord"]


def test_values_are_realistic_after_quantization(smoke):
    frames = read(smoke, "frame", "train")
    for stream in ("rgb", "audio"):
        x = dequantize(np.concatenate([getattr(f, stream) for f in frames]))
        assert abs(float(x.mean())) < 0.1
        assert 0.3 < float(x.std()) < 0.5
        clipped = np.mean((x <= -1.99) | (x >= 2.0))
        assert clipped < 5e-3  # a handful of saturated bytes, as in real data


def test_frame_counts_vary_within_the_profile_range(smoke):
    counts = [f.num_frames for f in read(smoke, "frame")]
    config = syn.PROFILES["smoke"]
    assert config.min_frames <= min(counts) and max(counts) <= config.max_frames
    assert len(set(counts)) > 15
    default = syn.PROFILES["default"]
    assert (default.min_frames, default.max_frames) == (120, 300)


def test_label_statistics_long_tail_three_per_video_mostly_one_genre():
    config = syn.get_config("default")
    world = syn.build_world(config, seed=0)
    keep, _, labels = syn.split_plan(config, world, 0, "train")
    counts = np.bincount(np.concatenate(labels), minlength=config.num_classes)
    per_video = np.array([len(x) for x in labels])
    assert 2.7 < per_video.mean() < 3.3
    assert per_video.min() >= 1
    # long tail: the head class is far more common than the median class, and counts fall
    assert counts[0] > 10 * np.median(counts)
    assert np.corrcoef(np.log1p(np.arange(config.num_classes)), np.log1p(counts))[0, 1] < -0.8
    # mostly one genre: the share of a video's labels in its most common genre
    majority = [Counter(world.class_genre[x]).most_common(1)[0][1] / len(x) for x in labels]
    assert np.mean(majority) > 0.75
    assert np.mean([len(set(world.class_genre[x])) == 1 for x in labels]) > 0.5


def test_genres_follow_the_real_vocabulary_proportions():
    assert len(syn.REAL_GENRE_ENTITIES) == 25 and sum(syn.REAL_GENRE_ENTITIES.values()) == 3862
    full = syn.allocate_genres(3862)
    assert all(abs(full[g] - n) <= 1 for g, n in syn.REAL_GENRE_ENTITIES.items())
    small = syn.allocate_genres(150)
    assert sum(small.values()) == 150 and len(small) == 25  # every genre present
    assert max(small, key=small.get) == "Games"
    world = syn.build_world(syn.get_config("default"), seed=0)
    assert sorted(Counter(world.class_genre).values()) == sorted(small.values())


def test_evidence_kinds_partition_the_classes_and_twins_share_a_genre():
    world = syn.build_world(syn.get_config("default"), seed=0)
    kinds = Counter(world.kind)
    assert set(kinds) == {"rgb", "audio", "temporal"} and sum(kinds.values()) == 150
    assert kinds["rgb"] > kinds["audio"] > 0 and kinds["temporal"] == 30
    for c in np.flatnonzero(world.twin >= 0):
        t = world.twin[c]
        assert world.twin[t] == c and world.class_genre[t] == world.class_genre[c]
        assert world.first_event[c] != world.first_event[t]
        np.testing.assert_array_equal(world.events[c], world.events[t])
    # a pattern lives in exactly one stream
    for c in np.flatnonzero(world.twin < 0):
        in_rgb = np.any(world.patterns[c, :RGB_DIM] != 0)
        in_audio = np.any(world.patterns[c, RGB_DIM:] != 0)
        assert in_rgb != in_audio and in_rgb == (world.stream[c] == "rgb")


def test_twins_come_from_the_most_frequent_classes_when_asked():
    """temporal_top_share: twin pairs are drawn among that share of the most frequent ranks
    (enough training videos to learn an order from); 1.0 draws them from every rank."""
    top = syn.build_world(syn.get_config("default", temporal_top_share=0.4), seed=0)
    assert np.flatnonzero(top.twin >= 0).max() < 60 and (top.twin >= 0).sum() == 30
    anywhere = syn.build_world(syn.get_config("default", temporal_top_share=1.0), seed=0)
    assert np.flatnonzero(anywhere.twin >= 0).max() >= 60 and (anywhere.twin >= 0).sum() == 30


def test_twin_classes_have_the_same_frame_mean_but_opposite_order():
    config = syn.get_config("default")
    world = syn.build_world(config, seed=0)
    a = int(np.flatnonzero((world.twin >= 0) & (world.first_event == 0))[0])
    b = int(world.twin[a])
    event_a, event_b = world.events[a]
    unit_a, unit_b = event_a / np.linalg.norm(event_a), event_b / np.linalg.norm(event_b)
    summary = {}
    for label in (a, b):
        means, a_first = [], []
        for i in range(300):
            rng = np.random.default_rng([42, label, i])
            rgb, audio = syn.video_features(rng, 150, np.array([label]), world, config)
            x = dequantize(np.concatenate([rgb, audio], axis=1))
            proj_a, proj_b = x @ unit_a, x @ unit_b
            means.append((proj_a.mean(), proj_b.mean()))
            a_first.append(np.argmax(proj_a) < np.argmax(proj_b))
        summary[label] = (np.array(means), np.mean(a_first))
    (means_a, a_first_a), (means_b, a_first_b) = summary[a], summary[b]
    # same distribution of the frame mean along both events (two-sample, 4 standard errors)
    for k in range(2):
        se = np.sqrt(means_a[:, k].var() / len(means_a) + means_b[:, k].var() / len(means_b))
        assert abs(means_a[:, k].mean() - means_b[:, k].mean()) < 4 * se
        assert means_a[:, k].mean() > 0.3  # the events are there, in the mean too
        assert 0.7 < means_a[:, k].std() / means_b[:, k].std() < 1.4
    # but opposite order in time
    assert a_first_a > 0.95 and a_first_b < 0.05


def test_min_seconds_drops_short_videos_and_keeps_the_others_identical(tmp_path):
    syn.generate(tmp_path / "all", "smoke", seed=1, progress=False)
    manifest = syn.generate(tmp_path / "long", "smoke", seed=1, min_seconds=40, progress=False)
    every = {f.id: f for f in read(tmp_path / "all", "frame")}
    kept = read(tmp_path / "long", "frame")
    assert 0 < len(kept) < len(every)
    assert all(f.num_frames >= 40 for f in kept)
    assert {f.id for f in kept} == {i for i, f in every.items() if f.num_frames >= 40}
    for f in kept:
        np.testing.assert_array_equal(f.rgb, every[f.id].rgb)
        np.testing.assert_array_equal(f.labels, every[f.id].labels)
    assert manifest["parameters"]["min_seconds"] == 40
    assert manifest["splits"]["train"]["videos"] < manifest["splits"]["train"]["videos_generated"]


def test_vocabulary_has_the_official_columns_and_train_counts(smoke):
    with open(smoke / "vocabulary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
        header = rows and list(rows[0])
    assert header == [
        "Index",
        "TrainVideoCount",
        "KnowledgeGraphId",
        "Name",
        "WikiUrl",
        "Vertical1",
        "Vertical2",
        "Vertical3",
        "WikiDescription",
    ]
    assert [int(r["Index"]) for r in rows] == list(range(30))
    counts = Counter(int(c) for ex in read(smoke, "video", "train") for c in ex.labels)
    assert [int(r["TrainVideoCount"]) for r in rows] == [counts[i] for i in range(30)]
    assert {r["Vertical1"] for r in rows} <= set(syn.REAL_GENRE_ENTITIES)
    manifest = json.loads((smoke / "manifest.json").read_text())
    assert all(r["Vertical1"] == g for r, g in zip(rows, manifest["classes"]["genre"]))
    for pair in manifest["classes"]["temporal_pairs"]:
        assert "Temporal" in rows[pair["a_then_b"]]["WikiDescription"]


def test_manifest_records_every_parameter_and_the_evidence(smoke):
    manifest = json.loads((smoke / "manifest.json").read_text())
    fields = {f.name for f in dataclasses.fields(syn.SynthConfig)}
    assert set(manifest["parameters"]) == fields
    assert manifest["profile"] == "smoke" and manifest["seed"] == 3
    classes = manifest["classes"]
    together = classes["rgb"] + classes["audio"] + classes["temporal"]
    assert sorted(together) == list(range(manifest["num_classes"]))
    assert len(classes["temporal"]) == 2 * len(classes["temporal_pairs"]) > 0


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        main(["synth", str(out), "--profile", "smoke", "--seed", "2", "--num-classes", "40"]) == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_classes"] == 40 and manifest["seed"] == 2
    assert max(int(c) for ex in read(out, "video") for c in ex.labels) < 40
    assert "wrote" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "x"), "--profile", "smoke", "--min-seconds", "500"]) == 2
    assert "min-seconds" in capsys.readouterr().err


def test_paper_profile_uses_the_real_vocabulary_size():
    assert syn.get_config("paper").num_classes == 3862
    assert syn.get_config("paper", num_classes=500).num_classes == 500
