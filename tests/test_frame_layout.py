"""The compiled walk of frame-level records (``yt8m_lib.data.frame_layout``): it recognises the
canonical layout, and on any other bytes - truncated, corrupted, unusual - the reader's
result is exactly what protobuf's parser alone gives (the same example, or the same error)."""

from __future__ import annotations

import types

import numpy as np
import pytest
from conftest import random_frame_examples

from yt8m_lib.config import AUDIO_DIM, RGB_DIM
from yt8m_lib.data import frame_layout as fl
from yt8m_lib.data import records
from yt8m_lib.data.records import FrameExample, parse_frame_example, serialize_frame_example
from yt8m_lib.errors import DataError


def locate(payload: bytes):
    layout, labels = fl.locate(
        np.frombuffer(payload, np.uint8),
        records._FRAME_HEADERS[RGB_DIM],
        RGB_DIM,
        records._FRAME_HEADERS[AUDIO_DIM],
        AUDIO_DIM,
    )
    return layout.tolist(), labels.tolist()


def never_recognised():
    """A stand-in for ``frame_layout`` whose walk recognises nothing: the protobuf-only
    reader (which still reads a canonical feature list in one piece: ``rows_start_with``)."""

    def locate_nothing(data, *_):
        return np.full(fl.LAYOUT_SIZE, -1, np.int64), np.empty(0, np.int64)

    constants = {name: value for name, value in vars(fl).items() if name.isupper()}
    return types.SimpleNamespace(
        **constants, locate=locate_nothing, rows_start_with=fl.rows_start_with
    )


def outcome(payload: bytes, **kwargs):
    """What the reader makes of ``payload``: the example's contents, or the error message."""
    try:
        ex = parse_frame_example(payload, path="x.tfrecord", index=3, **kwargs)
    except DataError as error:
        return "error", str(error)
    segments = {k: v.tolist() for k, v in (ex.segments or {}).items()}
    return (
        "ok",
        ex.id,
        ex.labels.tolist(),
        ex.labels.dtype.str,
        ex.rgb.tobytes(),
        ex.rgb.shape,
        ex.audio.tobytes(),
        ex.audio.shape,
        segments,
    )


def protobuf_outcome(monkeypatch, payload: bytes, **kwargs):
    with monkeypatch.context() as patch:
        patch.setattr(records, "_frame_layout", never_recognised)
        return outcome(payload, **kwargs)


@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_a_canonical_record_is_recognised_whole(id_key):
    ex = random_frame_examples(1, min_frames=4, max_frames=4)[0]
    ex.labels = np.array([0, 5, 127, 128, 3861, 2**40], np.int64)  # 1- to 6-byte varints
    payload = serialize_frame_example(ex, id_key=id_key)
    layout, labels = locate(payload)
    assert layout[fl.CONTEXT_END] > 0 and layout[fl.CONTEXT_OK] == 1
    assert layout[fl.RGB_ROWS_OK] == layout[fl.AUDIO_ROWS_OK] == 1
    assert payload[layout[fl.ID_START] : layout[fl.ID_END]].decode() == ex.id
    assert labels == ex.labels.tolist() and layout[fl.LABELS_HIGH] == 2**40
    rgb = payload[layout[fl.RGB_START] : layout[fl.RGB_END]]
    assert len(rgb) == 4 * (len(records._FRAME_HEADERS[RGB_DIM]) + RGB_DIM)


def test_no_labels_is_recognised_with_an_empty_list():
    ex = random_frame_examples(1)[0]
    ex.labels = np.array([], np.int64)
    layout, labels = locate(serialize_frame_example(ex))
    assert layout[fl.CONTEXT_OK] == 1 and labels == [] and layout[fl.LABELS_HIGH] == -1


@pytest.mark.parametrize("stream,size", [("rgb", RGB_DIM), ("audio", AUDIO_DIM)])
def test_a_single_wrong_header_byte_in_any_row_is_noticed(monkeypatch, stream, size):
    """A stream's frames are read in place only if every row's entry header is canonical;
    a changed header byte, in any row, sends that stream to protobuf's parser."""
    ex = random_frame_examples(1, min_frames=3, max_frames=3)[0]
    payload = serialize_frame_example(ex)
    layout, _ = locate(payload)
    start = layout[fl.RGB_START if stream == "rgb" else fl.AUDIO_START]
    header = records._FRAME_HEADERS[size]
    ok = fl.RGB_ROWS_OK if stream == "rgb" else fl.AUDIO_ROWS_OK
    for row in range(3):
        for j in range(len(header)):
            bad = bytearray(payload)
            bad[start + row * (len(header) + size) + j] ^= 0x01
            bad = bytes(bad)
            changed, _ = locate(bad)
            assert changed[fl.CONTEXT_END] == -1 or changed[ok] == 0, (row, j)
            assert outcome(bad) == protobuf_outcome(monkeypatch, bad), (row, j)


def test_a_negative_label_is_left_to_the_parser_which_refuses_it():
    ex = random_frame_examples(1)[0]
    ex.labels = np.array([4, -1], np.int64)
    payload = serialize_frame_example(ex)
    assert locate(payload)[0][fl.CONTEXT_OK] == 0
    with pytest.raises(DataError, match="label -1 is negative"):
        parse_frame_example(payload)


def test_labels_outside_the_vocabulary_are_refused_on_the_fast_path():
    ex = random_frame_examples(1)[0]
    ex.labels = np.array([2, 9], np.int64)
    payload = serialize_frame_example(ex)
    assert locate(payload)[0][fl.CONTEXT_OK] == 1
    with pytest.raises(DataError, match="label 9 is outside the vocabulary of 9 classes"):
        parse_frame_example(payload, num_classes=9)
    assert parse_frame_example(payload, num_classes=10).labels.tolist() == [2, 9]


def mutations(payload: bytes, rng: np.random.Generator):
    """Truncations at every length, and random byte flips, insertions and deletions."""
    for end in range(len(payload)):
        yield payload[:end]
    for _ in range(400):
        at = int(rng.integers(len(payload)))
        changed = bytearray(payload)
        kind = rng.integers(3)
        if kind == 0:
            changed[at] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            changed.insert(at, int(rng.integers(256)))
        else:
            del changed[at]
        yield bytes(changed)


@pytest.mark.parametrize("segments", [False, True])
def test_any_damaged_record_reads_exactly_as_protobuf_alone_reads_it(monkeypatch, segments):
    """The walk may only speed the reader up: on every truncation and on random damage it
    gives the same example or the same error as protobuf's parser alone (and never reads
    outside the record: numba does not check bounds, this test would crash or differ)."""
    ex = random_frame_examples(1, min_frames=2, max_frames=2)[0]
    ex.labels = np.array([1, 300], np.int64)
    if segments:
        ex.segments = {
            "segment_labels": np.array([1]),
            "segment_start_times": np.array([0]),
            "segment_scores": np.array([1.0], np.float32),
        }
    payload = serialize_frame_example(ex)
    rng = np.random.default_rng(7)
    fast_paths = 0
    for damaged in mutations(payload, rng):
        for max_frames in (None, 1):
            got = outcome(damaged, max_frames=max_frames)
            assert got == protobuf_outcome(monkeypatch, damaged, max_frames=max_frames), (
                damaged.hex(),
                max_frames,
            )
        fast_paths += locate(damaged)[0][fl.CONTEXT_END] >= 0
    assert fast_paths > 100  # the walk did recognise many of them (it was tested, not skipped)


def test_feature_lists_other_than_rgb_and_audio_are_ignored():
    ex = random_frame_examples(1)[0]
    message = records.SequenceExample.FromString(serialize_frame_example(ex))
    message.feature_lists.feature_list["extra"].feature.add().bytes_list.value.append(b"z")
    payload = message.SerializeToString()
    layout, _ = locate(payload)
    assert layout[fl.CONTEXT_END] >= 0
    got = parse_frame_example(payload)
    assert got.id == ex.id and np.array_equal(got.rgb, ex.rgb)
    assert isinstance(got, FrameExample)


def with_context_appended(ex: FrameExample, extra: records.Features) -> bytes:
    """The record of ``ex`` with ``extra`` appended to its context field (protobuf merges
    them: a key given twice takes the later value)."""
    message = records.SequenceExample.FromString(serialize_frame_example(ex))
    context = message.context.SerializeToString() + extra.SerializeToString()
    lists = records.SequenceExample()
    lists.feature_lists.CopyFrom(message.feature_lists)
    return b"\x0a" + records._varint(len(context)) + context + lists.SerializeToString()


@pytest.mark.parametrize(
    "key,value", [("id", b"later"), ("video_id", b"older-key"), ("labels", [7])]
)
def test_keys_given_twice_or_both_id_keys_read_as_protobuf_reads_them(monkeypatch, key, value):
    ex = random_frame_examples(1)[0]
    extra = records.Features()
    if key == "labels":
        extra.feature[key].int64_list.value.extend(value)
    else:
        extra.feature[key].bytes_list.value.append(value)
    payload = with_context_appended(ex, extra)
    got = outcome(payload)
    assert got == protobuf_outcome(monkeypatch, payload)
    assert got[1] == ("later" if key == "id" else ex.id)  # "id" wins over "video_id"
    if key == "labels":
        assert got[2] == [7]


def test_the_walk_never_reads_outside_the_record(tmp_path):
    """numba does not check bounds: the damage tests run again with its bounds checks on,
    where any read outside the record's bytes raises (and fails them)."""
    import os
    import subprocess
    import sys

    if os.environ.get("NUMBA_BOUNDSCHECK") == "1":
        pytest.skip("already running with bounds checks")
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            __file__,
            "-k",
            "damaged or wrong_header or twice",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_prepare_frame_reader_leaves_the_compiled_walk_loaded_for_forked_readers():
    """A fresh process has not loaded the walk; after ``prepare_frame_reader`` it has, so the
    DataLoader workers forked from it at every pass inherit the machine code."""
    import subprocess
    import sys

    script = (
        "import sys; from yt8m_lib.data import records\n"
        "assert 'yt8m_lib.data.frame_layout' not in sys.modules\n"
        "records.prepare_frame_reader()\n"
        "from yt8m_lib.data import frame_layout\n"
        "print(len(frame_layout._locate.signatures))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 1
