"""YouTube-8M records without TensorFlow: round trips of both levels and their 2017/2019
variants, every bad-input case, sharding across readers, and (last section) agreement with
TensorFlow's own reader and parser, on real shards when present and on files written here."""

from __future__ import annotations

import struct
from collections import Counter

import numpy as np
import pytest
from conftest import random_frame_examples, random_video_examples

from yt8m_lib.data import frame_layout, records
from yt8m_lib.data.records import (
    FrameExample,
    VideoExample,
    count_examples,
    detect_level,
    expand_paths,
    iter_examples,
    parse_frame_example,
    parse_video_example,
    serialize_frame_example,
    serialize_video_example,
    write_shard,
)
from yt8m_lib.data.tfrecord import read_records, write_records
from yt8m_lib.errors import DataError
from yt8m_lib.paths import real_dir


def assert_same_video(a: VideoExample, b: VideoExample):
    assert a.id == b.id
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.mean_rgb, b.mean_rgb)
    np.testing.assert_array_equal(a.mean_audio, b.mean_audio)


def assert_same_frames(a: FrameExample, b: FrameExample):
    assert a.id == b.id and a.num_frames == b.num_frames
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.audio, b.audio)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("id_key", ["id", "video_id"])  # 2018 and 2017 releases
def test_video_round_trip(id_key):
    for ex in random_video_examples(5):
        back = parse_video_example(serialize_video_example(ex, id_key=id_key))
        assert_same_video(back, ex)
        assert back.labels.dtype == np.int64 and back.mean_rgb.dtype == np.float32
        assert back.mean_rgb.shape == (1024,) and back.mean_audio.shape == (128,)


@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_frame_round_trip(id_key):
    for ex in random_frame_examples(5):
        back = parse_frame_example(serialize_frame_example(ex, id_key=id_key))
        assert_same_frames(back, ex)
        assert back.rgb.dtype == np.uint8 and back.rgb.shape == (ex.num_frames, 1024)
        assert back.audio.shape == (ex.num_frames, 128) and back.segments is None


def test_2019_segment_fields_round_trip():
    ex = random_frame_examples(1)[0]
    ex.segments = {
        "segment_labels": np.array([7, 7, 12]),
        "segment_start_times": np.array([0, 5, 40]),
        "segment_scores": np.array([1.0, 0.0, 1.0], dtype=np.float32),
    }
    back = parse_frame_example(serialize_frame_example(ex))
    assert set(back.segments) == set(ex.segments)
    for key, values in ex.segments.items():
        np.testing.assert_array_equal(back.segments[key], values)
    assert back.segments["segment_scores"].dtype == np.float32
    assert back.segments["segment_labels"].dtype == np.int64


def test_videos_without_labels_are_valid():
    video = random_video_examples(1)[0]
    video.labels = np.zeros(0, dtype=np.int64)
    assert parse_video_example(serialize_video_example(video), num_classes=10).labels.size == 0
    frames = random_frame_examples(1)[0]
    frames.labels = np.zeros(0, dtype=np.int64)
    assert parse_frame_example(serialize_frame_example(frames), num_classes=10).labels.size == 0


def test_max_frames_keeps_the_first_frames():
    ex = random_frame_examples(1, min_frames=10, max_frames=10)[0]
    back = parse_frame_example(serialize_frame_example(ex), max_frames=4)
    assert back.num_frames == 4
    np.testing.assert_array_equal(back.rgb, ex.rgb[:4])
    np.testing.assert_array_equal(back.audio, ex.audio[:4])


def unpacked_float_feature(values) -> bytes:
    """A Feature whose FloatList is NOT packed (one tag per float): valid protobuf."""
    float_list = b"".join(b"\x0d" + struct.pack("<f", v) for v in values)
    return b"\x12" + records._varint(len(float_list)) + float_list


def test_other_valid_encodings_parse_the_same():
    """The fast paths assume the canonical encoding; anything else must still parse."""
    video = random_video_examples(1)[0]
    message = records.Example.FromString(serialize_video_example(video))
    features = message.features.feature
    del features["mean_rgb"]
    features["mean_rgb"].MergeFromString(unpacked_float_feature(video.mean_rgb))
    assert_same_video(parse_video_example(message.SerializeToString()), video)

    frames = random_frame_examples(1)[0]
    message = records.SequenceExample.FromString(serialize_frame_example(frames))
    # an unknown field inside one frame's Feature breaks the fixed layout, not the meaning
    first = message.feature_lists.feature_list["rgb"].feature[1]
    first.MergeFromString(b"\xf8\x01\x05")  # field 31 = 5
    serialized = message.SerializeToString()
    assert b"\xf8\x01\x05" in serialized
    assert_same_frames(parse_frame_example(serialized), frames)


def test_write_shard_and_detect_level(video_shard, frame_shard):
    (video_path, videos), (frame_path, frames) = video_shard, frame_shard
    assert detect_level(video_path) == "video" and detect_level(frame_path) == "frame"
    for got, ex in zip(iter_examples(video_path, "video"), videos, strict=True):
        assert_same_video(got, ex)
    for got, ex in zip(iter_examples(frame_path, "frame"), frames, strict=True):
        assert_same_frames(got, ex)
    assert count_examples([video_path, frame_path]) == len(videos) + len(frames)


def test_write_shard_refuses_mixed_levels(tmp_path):
    mixed = random_video_examples(1) + random_frame_examples(1)
    with pytest.raises(ValueError, match="one level"):
        write_shard(tmp_path / "mixed.tfrecord", mixed)
    assert not (tmp_path / "mixed.tfrecord").exists()


def test_expand_paths(tmp_path):
    for name in ("b.tfrecord", "a.tfrecord", "c.other"):
        (tmp_path / name).write_bytes(b"")
    a, b = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
    assert expand_paths(str(tmp_path / "*.tfrecord")) == [a, b]
    assert expand_paths([b, str(tmp_path / "*.tfrecord"), a]) == [a, b]  # sorted, no repeats
    assert expand_paths(tmp_path) == [a, b]  # a folder means its *.tfrecord files
    with pytest.raises(DataError, match="no files match") as info:
        expand_paths([a, str(tmp_path / "train*.tfrecord")])
    assert "train*.tfrecord" in str(info.value)
    with pytest.raises(DataError, match="no files match"):
        expand_paths(tmp_path / "missing.tfrecord")


# --------------------------------------------------------------------------- bad input


def write_payloads(path, payloads):
    write_records(path, payloads)
    return path


def good_video_payloads(n=3):
    return [serialize_video_example(ex) for ex in random_video_examples(n)]


def good_frame_payloads(n=3):
    return [serialize_frame_example(ex) for ex in random_frame_examples(n)]


def edit_example(payload: bytes, level: str, edit) -> bytes:
    """A payload with ``edit(features_or_sequence_message)`` applied."""
    cls = records.Example if level == "video" else records.SequenceExample
    message = cls.FromString(payload)
    edit(message)
    return message.SerializeToString()


def video_edit(edit):
    return lambda p: edit_example(p, "video", lambda m: edit(m.features.feature))


def frame_edit(edit):
    return lambda p: edit_example(p, "frame", edit)


def set_floats(key, values):
    def edit(features):
        del features[key]
        features[key].float_list.value.extend(values)

    return edit


def set_labels(values):
    def edit(features):
        del features["labels"]
        features["labels"].int64_list.value.extend(values)

    return edit


def set_frame(key, index, data):
    def edit(message):
        feature = message.feature_lists.feature_list[key].feature[index]
        del feature.bytes_list.value[:]
        feature.bytes_list.value.append(data)

    return edit


BAD_VIDEO = {
    "not an Example": (lambda p: b"\x0a\xff\xff\xff\xff\x0f", "not a tf.train.Example"),
    "missing id": (video_edit(lambda f: f.__delitem__("id")), "missing key 'id'"),
    "missing mean_rgb": (video_edit(lambda f: f.__delitem__("mean_rgb")), "missing key 'mean_rgb'"),
    "mean_rgb of 1000": (
        video_edit(set_floats("mean_rgb", [0.5] * 1000)),
        "'mean_rgb' has 1000 values, expected 1024",
    ),
    "mean_audio of 129": (
        video_edit(set_floats("mean_audio", [0.5] * 129)),
        "'mean_audio' has 129 values, expected 128",
    ),
    "mean_rgb as bytes": (
        video_edit(lambda f: f["mean_rgb"].bytes_list.value.append(b"x")),
        "'mean_rgb' is a bytes list, expected a float list",
    ),
    "label too large": (video_edit(set_labels([3, 50])), "label 50 is outside the vocabulary"),
    "negative label": (video_edit(set_labels([-1, 3])), "label -1 is negative"),
    "labels as floats": (
        video_edit(lambda f: (f.__delitem__("labels"), f["labels"].float_list.value.append(1.0))),
        "'labels' is a float list, expected an int64 list",
    ),
    "frame-level record": (
        lambda p: good_frame_payloads(1)[0],
        "frame-level record .* read as video-level",
    ),
}

BAD_FRAME = {
    "not a SequenceExample": (lambda p: b"\x12\x05abc", "not a tf.train.SequenceExample"),
    "missing id": (frame_edit(lambda m: m.context.feature.__delitem__("id")), "missing key 'id'"),
    "missing rgb": (
        frame_edit(lambda m: m.feature_lists.feature_list.__delitem__("rgb")),
        "missing feature_list 'rgb'",
    ),
    "frame of 1000 bytes": (
        frame_edit(set_frame("rgb", 2, b"\x01" * 1000)),
        "'rgb' frame 2 has 1000 bytes, expected 1024",
    ),
    "audio frame of 129 bytes": (
        frame_edit(set_frame("audio", 0, b"\x01" * 129)),
        "'audio' frame 0 has 129 bytes, expected 128",
    ),
    "fewer audio frames": (
        frame_edit(lambda m: m.feature_lists.feature_list["audio"].feature.pop()),
        "rgb frames but .* audio frames",
    ),
    "no frames": (
        frame_edit(
            lambda m: (
                m.feature_lists.feature_list["rgb"].ClearField("feature"),
                m.feature_lists.feature_list["audio"].ClearField("feature"),
            )
        ),
        "no frames",
    ),
    "label too large": (
        frame_edit(lambda m: set_labels([50])(m.context.feature)),
        "label 50 is outside the vocabulary of 50 classes",
    ),
    "negative label": (
        frame_edit(lambda m: set_labels([-7])(m.context.feature)),
        "label -7 is negative",
    ),
    "video-level record": (
        lambda p: good_video_payloads(1)[0],
        "video-level record .* read as frame-level",
    ),
}


@pytest.mark.parametrize("case", BAD_VIDEO)
def test_bad_video_record_names_file_record_and_problem(tmp_path, case):
    damage, message = BAD_VIDEO[case]
    payloads = good_video_payloads(3)
    payloads[1] = damage(payloads[1])
    path = write_payloads(tmp_path / "bad_video.tfrecord", payloads)
    with pytest.raises(DataError, match=message) as info:
        list(iter_examples(path, "video", num_classes=50))
    assert info.value.record == 1 and info.value.path == str(path)
    assert f"{path}, record 1: " in str(info.value)


@pytest.mark.parametrize("case", BAD_FRAME)
def test_bad_frame_record_names_file_record_and_problem(tmp_path, case):
    damage, message = BAD_FRAME[case]
    payloads = good_frame_payloads(3)
    payloads[2] = damage(payloads[2])
    path = write_payloads(tmp_path / "bad_frame.tfrecord", payloads)
    with pytest.raises(DataError, match=message) as info:
        list(iter_examples(path, "frame", num_classes=50))
    assert info.value.record == 2 and f"{path}, record 2: " in str(info.value)


def test_parse_functions_name_the_caller_file_and_index():
    with pytest.raises(DataError, match=r"^x\.tfrecord, record 7: missing key 'id'"):
        parse_video_example(b"", path="x.tfrecord", index=7)
    with pytest.raises(DataError, match=r"^\?: missing key 'id'") as info:
        parse_frame_example(b"")  # no file given: '?' and no record index
    assert info.value.record is None


def test_labels_are_only_checked_against_a_given_vocabulary(tmp_path):
    payloads = [
        edit_example(p, "video", lambda m: set_labels([3, 5000])(m.features.feature))
        for p in good_video_payloads(1)
    ]
    path = write_payloads(tmp_path / "v.tfrecord", payloads)
    assert list(next(iter_examples(path, "video")).labels) == [3, 5000]
    with pytest.raises(DataError, match="outside the vocabulary of 3862"):
        next(iter_examples(path, "video", num_classes=3862))


def test_damaged_files_through_iter_examples(tmp_path, video_shard):
    path, _ = video_shard
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(DataError, match="truncated") as info:
        list(iter_examples(path, "video"))
    assert info.value.record == 7
    corrupt = bytearray(data)
    corrupt[100] ^= 0x20  # inside the first payload
    path.write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match=r"record 0: bad CRC"):
        list(iter_examples(path, "video"))
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    for call in (lambda: list(iter_examples(empty, "video")), lambda: detect_level(empty)):
        with pytest.raises(DataError, match="empty.tfrecord: empty file"):
            call()
    with pytest.raises(DataError, match="no files match"):
        list(iter_examples(tmp_path / "gone.tfrecord", "video"))


# --------------------------------------------------------------------------- sharding


@pytest.fixture
def many_shards(tmp_path):
    """7 video shards of 1..7 records (28 in all), ids unique."""
    paths = []
    for s in range(7):
        path = tmp_path / f"train{s:04d}.tfrecord"
        write_shard(path, random_video_examples(s + 1, seed=s, prefix=f"s{s}_"))
        paths.append(path)
    return paths


def ids_per_reader(paths, num_readers, **kwargs):
    return [
        [
            ex.id
            for ex in iter_examples(
                paths, "video", reader_index=r, num_readers=num_readers, **kwargs
            )
        ]
        for r in range(num_readers)
    ]


@pytest.mark.parametrize("num_files,num_readers", [(1, 3), (2, 5), (3, 3), (7, 3), (7, 1), (2, 2)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_each_record_read_exactly_once_per_epoch(many_shards, num_files, num_readers, shuffle):
    paths = many_shards[:num_files]
    everything = [ex.id for ex in iter_examples(paths, "video")]
    kwargs = dict(seed=3, epoch=1, shuffle_buffer=4) if shuffle else {}
    per_reader = ids_per_reader(paths, num_readers, **kwargs)
    counts = Counter(video_id for ids in per_reader for video_id in ids)
    assert sorted(counts) == sorted(everything)
    assert set(counts.values()) == {1}
    if num_files >= num_readers:  # whole files: no reader shares a file with another
        files_of = [{i.split("_")[0] for i in ids} for ids in per_reader]
        assert all(not (a & b) for n, a in enumerate(files_of) for b in files_of[n + 1 :])


def test_seeded_order_is_reproducible_and_changes_with_epoch(many_shards):
    kwargs = dict(seed=11, shuffle_buffer=8)
    first = [ex.id for ex in iter_examples(many_shards, "video", epoch=0, **kwargs)]
    again = [ex.id for ex in iter_examples(many_shards, "video", epoch=0, **kwargs)]
    later = [ex.id for ex in iter_examples(many_shards, "video", epoch=1, **kwargs)]
    plain = [ex.id for ex in iter_examples(many_shards, "video")]
    assert first == again
    assert first != later and sorted(first) == sorted(later) == sorted(plain)
    assert first != plain


def test_unseeded_reading_follows_file_order(many_shards):
    ids = [ex.id for ex in iter_examples(list(reversed(many_shards)), "video")]
    assert ids[0] == "s0_0000" and ids[-1] == "s6_0006"


def test_iter_examples_rejects_bad_reader_arguments(many_shards):
    with pytest.raises(ValueError):
        next(iter_examples(many_shards, "video", reader_index=2, num_readers=2))
    with pytest.raises(ValueError):
        next(iter_examples(many_shards, "level"))


# --------------------------------------------------------------------------- TensorFlow


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def tf_video_features(tf):
    return {
        "id": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.VarLenFeature(tf.int64),
        "mean_rgb": tf.io.FixedLenFeature([1024], tf.float32),
        "mean_audio": tf.io.FixedLenFeature([128], tf.float32),
    }


def tf_parse_frames(tf, serialized, id_key="id"):
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={
            id_key: tf.io.FixedLenFeature([], tf.string),
            "labels": tf.io.VarLenFeature(tf.int64),
        },
        sequence_features={
            "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
            "audio": tf.io.FixedLenSequenceFeature([], tf.string),
        },
    )
    return (
        context[id_key].numpy().decode(),
        tf.sparse.to_dense(context["labels"]).numpy(),
        tf.io.decode_raw(sequence["rgb"], tf.uint8).numpy(),
        tf.io.decode_raw(sequence["audio"], tf.uint8).numpy(),
    )


@pytest.mark.xdist_group("tensorflow")
@pytest.mark.real_data
def test_real_shards_parse_like_tensorflow(tf):
    root = real_dir()
    if root is None or not list((root / "video_validate").glob("*.tfrecord")):
        pytest.skip("real YouTube-8M shards not present")
    shards = sorted((root / "video_validate").glob("*.tfrecord"))
    # a spread of shards (all records of each): first, last and a few between
    chosen = shards[:: max(1, len(shards) // 6)] + shards[-1:]
    for path in chosen:
        ours = list(iter_examples(path, "video", num_classes=3862))
        parsed = tf.io.parse_example(
            tf.stack([p for p in tf.data.TFRecordDataset(str(path))]), tf_video_features(tf)
        )
        assert len(ours) == parsed["id"].shape[0] > 0
        assert [ex.id for ex in ours] == [x.decode() for x in parsed["id"].numpy()]
        np.testing.assert_array_equal(
            np.stack([ex.mean_rgb for ex in ours]), parsed["mean_rgb"].numpy()
        )
        np.testing.assert_array_equal(
            np.stack([ex.mean_audio for ex in ours]), parsed["mean_audio"].numpy()
        )
        labels = tf.RaggedTensor.from_sparse(parsed["labels"]).to_list()
        assert [ex.labels.tolist() for ex in ours] == labels


@pytest.mark.xdist_group("tensorflow")
def test_our_video_files_parse_with_plain_tf_io(tf, tmp_path):
    examples = random_video_examples(6)
    path = tmp_path / "video.tfrecord"
    write_shard(path, examples)
    for ex, serialized in zip(examples, tf.data.TFRecordDataset(str(path)), strict=True):
        parsed = tf.io.parse_single_example(serialized, tf_video_features(tf))
        assert parsed["id"].numpy().decode() == ex.id
        np.testing.assert_array_equal(tf.sparse.to_dense(parsed["labels"]).numpy(), ex.labels)
        np.testing.assert_array_equal(parsed["mean_rgb"].numpy(), ex.mean_rgb)
        np.testing.assert_array_equal(parsed["mean_audio"].numpy(), ex.mean_audio)


@pytest.mark.xdist_group("tensorflow")
@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_our_frame_files_parse_with_plain_tf_io(tf, tmp_path, id_key):
    examples = random_frame_examples(5)
    examples[0].labels = np.zeros(0, dtype=np.int64)
    examples[1].segments = {
        "segment_labels": np.array([3]),
        "segment_start_times": np.array([5]),
        "segment_scores": np.array([1.0], np.float32),
    }
    path = tmp_path / "frame.tfrecord"
    write_shard(path, examples, id_key=id_key)
    for ex, serialized in zip(examples, tf.data.TFRecordDataset(str(path)), strict=True):
        video_id, labels, rgb, audio = tf_parse_frames(tf, serialized, id_key)
        assert video_id == ex.id
        np.testing.assert_array_equal(labels, ex.labels)
        np.testing.assert_array_equal(rgb, ex.rgb)
        np.testing.assert_array_equal(audio, ex.audio)
    context, _ = tf.io.parse_single_sequence_example(
        next(iter(tf.data.TFRecordDataset(str(path)).skip(1))),
        context_features={
            "segment_labels": tf.io.VarLenFeature(tf.int64),
            "segment_scores": tf.io.VarLenFeature(tf.float32),
        },
    )
    assert context["segment_labels"].values.numpy().tolist() == [3]
    assert context["segment_scores"].values.numpy().tolist() == [1.0]


@pytest.mark.xdist_group("tensorflow")
def test_we_read_files_written_by_tensorflow(tf, tmp_path):
    examples = random_frame_examples(3)
    path = tmp_path / "tf_written.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ex in examples:
            message = tf.train.SequenceExample()
            message.context.feature["id"].bytes_list.value.append(ex.id.encode())
            message.context.feature["labels"].int64_list.value.extend(ex.labels.tolist())
            for key, frames in (("rgb", ex.rgb), ("audio", ex.audio)):
                for frame in frames:
                    message.feature_lists.feature_list[key].feature.add().bytes_list.value.append(
                        frame.tobytes()
                    )
            writer.write(message.SerializeToString())
    for got, ex in zip(iter_examples(path, "frame"), examples, strict=True):
        assert_same_frames(got, ex)


@pytest.mark.xdist_group("tensorflow")
def test_crc_checks_agree_with_tensorflow_reader(tf, tmp_path, video_shard):
    path, examples = video_shard
    tf_payloads = [x.numpy() for x in tf.data.TFRecordDataset(str(path))]
    assert tf_payloads == list(read_records(path))  # TF accepts our CRCs
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x04  # a bit inside the last payload
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))
    with pytest.raises(DataError, match=f"record {len(examples) - 1}: bad CRC"):
        list(read_records(path))


def test_canonical_frames_take_the_fast_path(monkeypatch):
    """Speed guard: frame lists in the canonical encoding (ours, TensorFlow's) are decoded
    straight from bytes, without building a message per frame."""
    frames = random_frame_examples(2)
    payloads = [serialize_frame_example(ex) for ex in frames]

    class NoSlowPath:
        @staticmethod
        def FromString(_):
            raise AssertionError("slow path used")

    monkeypatch.setattr(records, "FeatureList", NoSlowPath)
    for payload, ex in zip(payloads, frames, strict=True):
        assert_same_frames(parse_frame_example(payload), ex)


def counting_from_string(monkeypatch) -> list[int]:
    """The sizes of everything the protobuf message classes parse from now on."""
    parsed_sizes = []

    def counting(real):
        class Counting:
            @staticmethod
            def FromString(data):
                parsed_sizes.append(len(data))
                return real.FromString(data)

        return Counting

    for name in ("SequenceExample", "_RawSequenceExample", "FeatureList"):
        monkeypatch.setattr(records, name, counting(getattr(records, name)))
    return parsed_sizes


def test_a_canonical_frame_record_is_read_without_the_message_classes(monkeypatch):
    """Speed guard: a canonical SequenceExample is walked in place by compiled code (its
    feature lists are not copied out by protobuf, nor is its context parsed)."""
    frames = random_frame_examples(2)
    payloads = [serialize_frame_example(ex) for ex in frames]
    parsed_sizes = counting_from_string(monkeypatch)
    for ex, payload in zip(frames, payloads):
        assert_same_frames(parse_frame_example(payload), ex)
    assert parsed_sizes == []


def test_only_the_context_is_parsed_when_it_holds_more_than_id_and_labels(monkeypatch):
    """2019 segment fields: protobuf parses the context (in one call), the frames are still
    found in place."""
    ex = random_frame_examples(1)[0]
    ex.segments = {
        "segment_labels": np.array([3, 7]),
        "segment_start_times": np.array([0, 5]),
        "segment_scores": np.array([1.0, 0.0], np.float32),
    }
    payload = serialize_frame_example(ex)
    parsed_sizes = counting_from_string(monkeypatch)
    parsed = parse_frame_example(payload)
    assert_same_frames(parsed, ex)
    assert parsed.segments["segment_labels"].tolist() == [3, 7]
    assert len(parsed_sizes) == 1 and parsed_sizes[0] < 1000 < len(payload)


def test_frames_are_read_only_views_of_the_record_bytes():
    """The reader copies no frame: frames are read-only views into the record's bytes (frame
    sampling then copies only the frames it keeps); writing into them is refused."""
    ex = random_frame_examples(1)[0]
    payload = serialize_frame_example(ex)
    parsed = parse_frame_example(payload)
    assert_same_frames(parsed, ex)
    for frames in (parsed.rgb, parsed.audio):
        assert not frames.flags.writeable and not frames.flags.owndata
        with pytest.raises(ValueError):
            frames[0, 0] = 1


@pytest.mark.parametrize("size", [1024, 128])
def test_a_single_wrong_header_byte_in_any_row_leaves_the_fast_path(size):
    """The in-place frame reader trusts a row only if its whole entry header is canonical:
    any changed header byte, in any row, sends the record to the full parser."""
    header = records._FRAME_HEADERS[size]
    rows = 5
    good = (header + bytes(size)) * rows
    row = len(header) + size

    def rows_start_with(data):
        return frame_layout.rows_start_with(np.frombuffer(data, np.uint8), header, size)

    assert rows_start_with(good)
    for r in range(rows):
        for j in range(len(header)):
            bad = bytearray(good)
            bad[r * row + j] ^= 0x01
            assert not rows_start_with(bytes(bad)), (r, j)


def test_fields_in_another_order_parse_the_same():
    """Protobuf fields may come in any order (feature lists before the context, audio before
    rgb): the full parser takes what the in-place walk does not expect."""
    ex = random_frame_examples(1)[0]
    message = records.SequenceExample.FromString(serialize_frame_example(ex))
    context = records.SequenceExample()
    context.context.CopyFrom(message.context)
    lists = records.SequenceExample()
    for key in ("audio", "rgb"):
        lists.feature_lists.feature_list[key].CopyFrom(message.feature_lists.feature_list[key])
    swapped = lists.SerializeToString() + context.SerializeToString()
    assert_same_frames(parse_frame_example(swapped), ex)
    assert_same_frames(
        parse_frame_example(swapped, max_frames=3),
        FrameExample(ex.id, ex.labels, ex.rgb[:3], ex.audio[:3], ex.segments),
    )


def test_a_broken_feature_in_the_context_is_named():
    """The context is parsed whole for speed; when that fails, the error still names the
    broken feature (from the per-feature parse), the file and the record."""
    ex = random_frame_examples(1)[0]
    message = records._RawSequenceExample.FromString(serialize_frame_example(ex))
    message.context.feature["labels"] = b"\x0a\xff"  # a length running past the end
    with pytest.raises(DataError, match=r"feature 'labels' is not a tf.train.Feature") as info:
        parse_frame_example(message.SerializeToString(), path="shard.tfrecord", index=7)
    assert info.value.record == 7 and "shard.tfrecord" in str(info.value)


@pytest.mark.parametrize("items, size", [(10, 4), (300, 16), (1000, 7), (700, 1024)])
def test_shuffle_buffer_order_is_that_of_one_random_slot_per_record(items, size):
    """The buffer draws its slots in blocks (``SLOTS_PER_DRAW``) for speed; the order, and the
    generator's state at the final shuffle, stay those of one ``rng.integers`` per record."""
    from yt8m_lib.data.records import _shuffled

    def one_draw_per_record(rng):
        buffer = []
        for item in range(items):
            if len(buffer) < size:
                buffer.append(item)
                continue
            slot = int(rng.integers(size))
            yield buffer[slot]
            buffer[slot] = item
        rng.shuffle(buffer)
        yield from buffer

    expected = list(one_draw_per_record(np.random.default_rng(42)))
    assert list(_shuffled(iter(range(items)), size, np.random.default_rng(42))) == expected
    assert sorted(expected) == list(range(items))


@pytest.mark.parametrize(
    "labels",
    [
        [],
        [0],
        [5, 127, 128, 3861],
        list(range(0, 3862, 97)),
        list(range(60)),
        [2**40],
        [-1],
        [-(2**63)],
        [2**63 - 1],
    ],
)
def test_label_fast_path_decodes_as_the_protobuf_parser(labels):
    """Short canonical label lists are decoded by hand (``_label_list``); long ones, and
    negative or huge values, must give what the protobuf parser gives."""
    from yt8m_lib.data.records import Feature, _int_list, _label_list

    feature = Feature()
    feature.int64_list.value.extend(labels)
    raw = feature.SerializeToString()
    assert _label_list(raw) == _int_list(raw, "labels") == labels


@pytest.mark.parametrize("video_id", ["", "a", "Ab3x", "x" * 123, "x" * 124, "x" * 300, "vidéo-ñ"])
def test_id_fast_path_decodes_as_the_protobuf_parser(video_id):
    from yt8m_lib.data.records import Feature, _video_id

    feature = Feature()
    feature.bytes_list.value.append(video_id.encode())
    assert _video_id({"id": feature.SerializeToString()}) == video_id
    assert _video_id({"id": feature}) == video_id  # parsed already: the general path


def test_mean_features_are_read_only_views_with_the_written_values(tmp_path):
    """The means are float32 views of the record's bytes (no copy); writing to them is an
    error, not a silent change of shared data."""
    ex = random_video_examples(1)[0]
    path = tmp_path / "v.tfrecord"
    write_shard(path, [ex])
    back = next(iter_examples([path], "video"))
    np.testing.assert_array_equal(back.mean_rgb, ex.mean_rgb)
    assert back.mean_rgb.dtype == np.float32 and not back.mean_rgb.flags.writeable
    with pytest.raises(ValueError):
        back.mean_audio[0] = 1.0


def test_an_id_feature_with_two_values_is_refused_not_joined():
    from yt8m_lib.data.records import Feature, _Bad, _video_id

    feature = Feature()
    feature.bytes_list.value.extend([b"ab", b"cd"])
    with pytest.raises(_Bad, match="exactly one bytes value"):
        _video_id({"id": feature.SerializeToString()})
