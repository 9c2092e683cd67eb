"""YouTube-8M records (video-level ``Example``, frame-level ``SequenceExample``) <-> numpy.

No TensorFlow: the message classes of ``tensorflow/core/example/{example,feature}.proto`` are
built here at run time from descriptors with the same field numbers, in a private descriptor
pool (so they never clash with TensorFlow's own classes when both are loaded), and parsed by
protobuf's compiled (upb) implementation.

Speed: the common, canonical encodings are decoded straight into numpy:

* a frame-level record is walked by compiled code (``yt8m_lib.data.frame_layout``, numba): it
  finds the id, the labels and the rgb/audio feature lists, and checks that each list is
  ``n`` entries of ``tag, len, tag, len, tag, len, data[d]`` with the same header for every
  frame, i.e. an ``(n, header + d)`` byte matrix whose data columns are the quantized
  frames, handed out as a view of the record's bytes;
* a video-level feature is first read as raw bytes (``map<string, bytes>`` views of the
  same wire format); a float feature is one packed float list, read with ``np.frombuffer``.

Any other (valid) encoding falls back to the full message classes, which also produce the
precise error messages (which frame has the wrong size, ...).

Accepted variants: the 2018 ``id`` key and the 2017 ``video_id`` key; the 2019 segment fields
(``segment_labels``, ``segment_start_times``, ``segment_scores``) when present.
"""

from __future__ import annotations

import functools
import glob
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from yt8m_lib.config import AUDIO_DIM, RGB_DIM
from yt8m_lib.errors import DataError
from yt8m_lib.data.tfrecord import count_records, read_records, write_records

ID_KEYS = ("id", "video_id")  # 2018 release, 2017 release
SEGMENT_KEYS = ("segment_labels", "segment_start_times", "segment_scores")  # 2019 release
LEVELS = ("video", "frame")


# --------------------------------------------------------------------------- message classes

def _build_messages() -> dict[str, type]:
    """tensorflow.{Example, SequenceExample, ...} plus raw-bytes views, in a private pool."""
    FD = descriptor_pb2.FieldDescriptorProto

    def add_field(message, name, number, type_, label=FD.LABEL_OPTIONAL, type_name=None,
                  oneof_index=None):
        field = message.field.add(name=name, number=number, type=type_, label=label)
        if type_name:
            field.type_name = type_name
        if oneof_index is not None:
            field.oneof_index = oneof_index
        return field

    def add_map(message, name, entry_name, value_type, value_type_name=None):
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        add_field(entry, "key", 1, FD.TYPE_STRING)
        add_field(entry, "value", 2, value_type, type_name=value_type_name)
        add_field(message, name, 1, FD.TYPE_MESSAGE, FD.LABEL_REPEATED,
                  f"{message_full_name(message)}.{entry_name}")

    def message_full_name(message):
        return f".{current.package}.{message.name}"

    pool = descriptor_pool.DescriptorPool()

    # tensorflow/core/example/feature.proto and example.proto (proto3: packed scalars)
    current = descriptor_pb2.FileDescriptorProto(
        name="yt8m_lib/tensorflow_example.proto", package="tensorflow", syntax="proto3")
    for name, type_ in (("BytesList", FD.TYPE_BYTES), ("FloatList", FD.TYPE_FLOAT),
                        ("Int64List", FD.TYPE_INT64)):
        add_field(current.message_type.add(name=name), "value", 1, type_, FD.LABEL_REPEATED)
    feature = current.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for name, number, type_name in (("bytes_list", 1, "BytesList"), ("float_list", 2, "FloatList"),
                                    ("int64_list", 3, "Int64List")):
        add_field(feature, name, number, FD.TYPE_MESSAGE, type_name=f".tensorflow.{type_name}",
                  oneof_index=0)
    add_map(current.message_type.add(name="Features"), "feature", "FeatureEntry",
            FD.TYPE_MESSAGE, ".tensorflow.Feature")
    add_field(current.message_type.add(name="FeatureList"), "feature", 1, FD.TYPE_MESSAGE,
              FD.LABEL_REPEATED, ".tensorflow.Feature")
    add_map(current.message_type.add(name="FeatureLists"), "feature_list", "FeatureListEntry",
            FD.TYPE_MESSAGE, ".tensorflow.FeatureList")
    add_field(current.message_type.add(name="Example"), "features", 1, FD.TYPE_MESSAGE,
              type_name=".tensorflow.Features")
    sequence = current.message_type.add(name="SequenceExample")
    add_field(sequence, "context", 1, FD.TYPE_MESSAGE, type_name=".tensorflow.Features")
    add_field(sequence, "feature_lists", 2, FD.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")
    pool.Add(current)

    # Raw views: the same wire format with every Feature / FeatureList left as bytes.
    current = descriptor_pb2.FileDescriptorProto(
        name="yt8m_lib/raw_view.proto", package="yt8m_raw", syntax="proto3",
        dependency=["yt8m_lib/tensorflow_example.proto"])
    add_map(current.message_type.add(name="RawFeatures"), "feature", "FeatureEntry",
            FD.TYPE_BYTES)
    add_map(current.message_type.add(name="RawFeatureLists"), "feature_list", "FeatureListEntry",
            FD.TYPE_BYTES)
    add_field(current.message_type.add(name="RawExample"), "features", 1, FD.TYPE_MESSAGE,
              type_name=".yt8m_raw.RawFeatures")
    sequence = current.message_type.add(name="RawSequenceExample")
    add_field(sequence, "context", 1, FD.TYPE_MESSAGE, type_name=".yt8m_raw.RawFeatures")
    add_field(sequence, "feature_lists", 2, FD.TYPE_MESSAGE,
              type_name=".yt8m_raw.RawFeatureLists")
    pool.Add(current)

    names = {"tensorflow": ("Feature", "Features", "FeatureList", "FeatureLists", "Example",
                            "SequenceExample"),
             "yt8m_raw": ("RawExample", "RawSequenceExample")}
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
            for package, group in names.items() for name in group}


_MESSAGES = _build_messages()
Feature = _MESSAGES["Feature"]
Features = _MESSAGES["Features"]
FeatureList = _MESSAGES["FeatureList"]
FeatureLists = _MESSAGES["FeatureLists"]
Example = _MESSAGES["Example"]
SequenceExample = _MESSAGES["SequenceExample"]
_RawExample = _MESSAGES["RawExample"]
_RawSequenceExample = _MESSAGES["RawSequenceExample"]


# --------------------------------------------------------------------------- examples

@dataclass
class VideoExample:
    """One video-level record: labels and the (already dequantized) mean features."""

    id: str
    labels: np.ndarray  # int64 (k,)
    mean_rgb: np.ndarray  # float32 (1024,); read-only: may be a view into the record bytes
    mean_audio: np.ndarray  # float32 (128,); likewise


@dataclass
class FrameExample:
    """One frame-level record: one quantized feature row per second of video."""

    id: str
    labels: np.ndarray  # int64 (k,)
    rgb: np.ndarray  # uint8 (n, 1024), QUANTIZED (see features.dequantize); read-only:
    audio: np.ndarray  # uint8 (n, 128), QUANTIZED; both may be views into the record bytes
    segments: dict[str, np.ndarray] | None = None  # 2019 segment fields, when present

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])


# --------------------------------------------------------------------------- decoding helpers

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); (-1, pos) when there is no complete varint at ``pos``."""
    if pos < len(data) and data[pos] < 0x80:  # one byte: every tag, most lengths
        return data[pos], pos + 1
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return -1, pos


def _length_delimited(tag: int, payload_length: int) -> bytes:
    return bytes([tag]) + _varint(payload_length)


def _frame_entry_header(size: int) -> bytes:
    """Canonical bytes before the data of one frame in a FeatureList of ``size``-byte frames:
    FeatureList.feature(1) -> Feature.bytes_list(1) -> BytesList.value(1)."""
    value = _length_delimited(0x0A, size)
    bytes_list = _length_delimited(0x0A, len(value) + size) + value
    return _length_delimited(0x0A, len(bytes_list) + size) + bytes_list


_FRAME_HEADERS = {size: _frame_entry_header(size) for size in (RGB_DIM, AUDIO_DIM)}


def _float_feature_header(size: int) -> bytes:
    """Canonical bytes before the data of a Feature of ``size`` packed floats:
    Feature.float_list(2) -> FloatList.value(1), packed."""
    value = _length_delimited(0x0A, 4 * size)
    return _length_delimited(0x12, len(value) + 4 * size) + value


_FLOAT_HEADERS = {size: _float_feature_header(size) for size in (RGB_DIM, AUDIO_DIM)}


class _Bad(Exception):
    """A problem with one record; the caller turns it into a DataError with file and index."""


def _parse_feature(raw: bytes | Feature, key: str) -> Feature:
    """The Feature of a raw map value (bytes), or ``raw`` itself when already parsed."""
    if isinstance(raw, Feature):
        return raw
    try:
        return Feature.FromString(raw)
    except DecodeError as error:
        raise _Bad(f"feature {key!r} is not a tf.train.Feature ({error})") from None


def _short_list_payload(raw: bytes | Feature, kind_tag: int) -> bytes | None:
    """The packed values of a raw Feature holding one list of under 124 bytes in canonical
    form: ``kind_tag`` (the Feature's kind field) -> the list's field 1, each length in one
    byte. None for anything else, which is the protobuf parser's to read (and to refuse)."""
    if type(raw) is bytes and 4 <= len(raw) < 128 and raw[0] == kind_tag and raw[2] == 0x0A \
            and raw[1] == len(raw) - 2 and raw[3] == len(raw) - 4:
        return raw[4:]
    return None


def _float_values(raw: bytes | Feature, key: str, size: int | None = None) -> np.ndarray:
    """float32 values of a raw Feature that must hold a float_list (``size`` of them, when
    the caller knows how many: then no varint is read)."""
    header = _FLOAT_HEADERS.get(size)
    # Fast path: exactly ``size`` packed floats in canonical form (what every writer makes):
    # a read-only view of the value's own bytes (no copy on little-endian machines)
    if header is not None and type(raw) is bytes and len(raw) == len(header) + 4 * size \
            and raw.startswith(header):
        return np.frombuffer(raw, dtype="<f4", offset=len(header)).astype(np.float32,
                                                                           copy=False)
    # Fast path: Feature.float_list(2) { value(1): packed floats } in canonical form.
    if not isinstance(raw, Feature) and raw[:1] == b"\x12":
        inner, pos = _read_varint(raw, 1)
        if inner == len(raw) - pos and raw[pos:pos + 1] == b"\x0a":
            size, start = _read_varint(raw, pos + 1)
            if size == len(raw) - start and size % 4 == 0:
                return np.frombuffer(raw, dtype="<f4", offset=start).astype(np.float32)
    feature = _parse_feature(raw, key)
    if feature.WhichOneof("kind") != "float_list":
        raise _Bad(f"feature {key!r} is {_kind_name(feature)}, expected a float list")
    return np.array(feature.float_list.value, dtype=np.float32)


def _int_list(raw, key: str) -> list[int]:
    feature = _parse_feature(raw, key)
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    if kind != "int64_list":
        raise _Bad(f"feature {key!r} is {_kind_name(feature)}, expected an int64 list")
    return list(feature.int64_list.value)


def _label_list(raw: bytes | Feature) -> list[int]:
    """The int64 values of the raw 'labels' Feature. Fast path: Feature.int64_list(3) ->
    Int64List.value(1), packed, under 126 bytes, in canonical form, decoded here (a label
    is one or two varint bytes); anything else goes through the parser (``_int_list``)."""
    payload = _short_list_payload(raw, 0x1A)
    if payload is not None and payload[-1:] < b"\x80":
        values, value, shift = [], 0, 0
        for byte in payload:
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                values.append(value - (1 << 64) if value >= 1 << 63 else value)  # int64
                value = shift = 0
            else:
                shift += 7
        return values
    return _int_list(raw, "labels")


def _int_values(raw, key: str) -> np.ndarray:
    return np.array(_int_list(raw, key), dtype=np.int64)


def _kind_name(feature) -> str:
    return {"bytes_list": "a bytes list", "float_list": "a float list",
            "int64_list": "an int64 list", None: "empty"}[feature.WhichOneof("kind")]


def _video_id(features) -> str:
    for key in ID_KEYS:
        if key in features:
            raw = features[key]
            # Fast path: Feature.bytes_list(1) -> BytesList.value(1), one short value in
            # canonical form (every YouTube-8M id); anything else is parsed below.
            payload = _short_list_payload(raw, 0x0A)
            if payload is not None:
                return payload.decode("utf-8", errors="replace")
            feature = _parse_feature(raw, key)
            if feature.WhichOneof("kind") != "bytes_list" or len(feature.bytes_list.value) != 1:
                raise _Bad(f"feature {key!r} must hold exactly one bytes value "
                           f"(it is {_kind_name(feature)})")
            return feature.bytes_list.value[0].decode("utf-8", errors="replace")
    raise _Bad("missing key 'id' (2018) or 'video_id' (2017)")


def _labels(features, num_classes: int | None) -> np.ndarray:
    # A video without labels (the test split) is valid: the key may be absent or empty.
    values = _label_list(features["labels"]) if "labels" in features else []
    if values:
        low = min(values)  # a few labels: Python's min/max beat numpy's
        if low < 0:
            raise _Bad(f"label {low} is negative")
        _check_label_range(max(values), num_classes)
    return np.array(values, dtype=np.int64)


def _check_label_range(high: int, num_classes: int | None):
    """``high``: the largest label (-1: none)."""
    if num_classes is not None and high >= num_classes:
        raise _Bad(f"label {high} is outside the vocabulary of {num_classes} classes "
                   f"(0..{num_classes - 1})")


def _fixed_floats(features, key: str, size: int) -> np.ndarray:
    if key not in features:
        raise _Bad(f"missing key {key!r}")
    values = _float_values(features[key], key, size)
    if values.shape != (size,):
        raise _Bad(f"feature {key!r} has {values.size} values, expected {size}")
    return values


def _frames(raw: bytes, key: str, size: int, max_frames: int | None) -> np.ndarray:
    """uint8 (n, size) frames of a raw FeatureList of one ``size``-byte string per frame."""
    header = _FRAME_HEADERS.get(size) or _frame_entry_header(size)
    row = len(header) + size
    data = np.frombuffer(raw, dtype=np.uint8)
    if _frame_layout().rows_start_with(data, header, size):
        return np.ascontiguousarray(data.reshape(-1, row)[:max_frames, len(header):])
    # General path: any valid encoding, with a precise message when a frame is wrong.
    try:
        frames = FeatureList.FromString(raw).feature
    except DecodeError as error:
        raise _Bad(f"feature_list {key!r} is not a tf.train.FeatureList ({error})") from None
    if max_frames is not None:
        frames = frames[:max_frames]
    rows = []
    for i, frame in enumerate(frames):
        values = frame.bytes_list.value if frame.WhichOneof("kind") == "bytes_list" else None
        if values is None or len(values) != 1:
            raise _Bad(f"feature_list {key!r} frame {i} must hold exactly one bytes value")
        if len(values[0]) != size:
            raise _Bad(f"feature_list {key!r} frame {i} has {len(values[0])} bytes, "
                       f"expected {size}")
        rows.append(values[0])
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), size)


@functools.cache
def _frame_layout():
    """``yt8m_lib.data.frame_layout``, imported with the first frame-level record (numba and its
    cached machine code load in about half a second; video-level readers never pay it)."""
    from yt8m_lib.data import frame_layout
    return frame_layout


def prepare_frame_reader() -> None:
    """Load the compiled walk of frame-level records now, by reading one small record: a
    process that starts readers by fork (DataLoader workers, started again at every pass)
    calls it first, so that every reader inherits the machine code instead of importing
    numba and loading it again (about half a second and 160 MB each)."""
    example = FrameExample("warm-up", np.array([0]), np.zeros((1, RGB_DIM), np.uint8),
                           np.zeros((1, AUDIO_DIM), np.uint8))
    parse_frame_example(serialize_frame_example(example))


def _frame_views(data: np.ndarray, start: int, end: int, size: int,
                 max_frames: int | None) -> np.ndarray:
    """uint8 (n, size) frames of the canonical FeatureList at [start, end) of ``data``: a
    read-only view of the record's bytes, not a copy (frame sampling copies only the frames
    it keeps; the view keeps the record alive)."""
    header = len(_FRAME_HEADERS[size])
    return data[start:end].reshape(-1, header + size)[:max_frames, header:]


def _raise(error: _Bad, path, index: int):
    raise DataError(path, str(error), None if index is None or index < 0 else index) from None


def _looks_like_frame_level(payload: bytes) -> bool:
    try:
        return bool(_RawSequenceExample.FromString(payload).feature_lists.feature_list)
    except DecodeError:
        return False


# --------------------------------------------------------------------------- parse

def parse_video_example(payload: bytes, *, path="?", index: int = -1,
                        num_classes: int | None = None) -> VideoExample:
    """A video-level ``tf.train.Example`` -> VideoExample; DataError names path and index."""
    try:
        try:
            features = _RawExample.FromString(payload).features.feature
        except DecodeError as error:
            raise _Bad(f"not a tf.train.Example ({error})") from None
        if "mean_rgb" not in features and _looks_like_frame_level(payload):
            raise _Bad("frame-level record (SequenceExample with rgb/audio feature lists) "
                       "read as video-level")
        return VideoExample(
            id=_video_id(features),
            labels=_labels(features, num_classes),
            mean_rgb=_fixed_floats(features, "mean_rgb", RGB_DIM),
            mean_audio=_fixed_floats(features, "mean_audio", AUDIO_DIM),
        )
    except _Bad as error:
        _raise(error, path, index)


def parse_frame_example(payload: bytes, *, path="?", index: int = -1,
                        num_classes: int | None = None,
                        max_frames: int | None = None) -> FrameExample:
    """A frame-level ``tf.train.SequenceExample`` -> FrameExample (frames stay quantized).

    ``max_frames`` keeps the first frames only (YouTube-8M models use at most 300).
    """
    try:
        fl = _frame_layout()
        data = np.frombuffer(payload, dtype=np.uint8)
        layout, labels = fl.locate(data, _FRAME_HEADERS[RGB_DIM], RGB_DIM,
                                   _FRAME_HEADERS[AUDIO_DIM], AUDIO_DIM)
        layout = layout.tolist()
        if layout[fl.CONTEXT_END] >= 0:
            # fast path: the walk found the parts; the frames are read in place
            context = None
            if layout[fl.CONTEXT_OK]:
                video_id = bytes(payload[layout[fl.ID_START]:layout[fl.ID_END]]).decode(
                    "utf-8", errors="replace")
                _check_label_range(layout[fl.LABELS_HIGH], num_classes)
            else:  # another context (segment fields, ...): protobuf parses it, in one call
                context = _parse_context(payload[:layout[fl.CONTEXT_END]])
                video_id, labels = _video_id(context), _labels(context, num_classes)

            streams = {}
            for key, size, start, end, canonical in (
                    ("rgb", RGB_DIM, fl.RGB_START, fl.RGB_END, fl.RGB_ROWS_OK),
                    ("audio", AUDIO_DIM, fl.AUDIO_START, fl.AUDIO_END, fl.AUDIO_ROWS_OK)):
                start, end = layout[start], layout[end]
                streams[key] = (_frame_views(data, start, end, size, max_frames)
                                if layout[canonical]
                                else _frames(payload[start:end], key, size, max_frames))
            return _frame_example(video_id, labels, streams, context)
        try:
            message = _RawSequenceExample.FromString(payload)
        except DecodeError as error:
            raise _Bad(f"not a tf.train.SequenceExample ({error})") from None
        context = message.context.feature
        lists = message.feature_lists.feature_list
        if not lists and ("mean_rgb" in context or "mean_audio" in context):
            raise _Bad("video-level record (Example with mean_rgb/mean_audio) read as "
                       "frame-level")
        video_id, labels = _video_id(context), _labels(context, num_classes)
        streams = {}
        for key, size in (("rgb", RGB_DIM), ("audio", AUDIO_DIM)):
            if key not in lists:
                raise _Bad(f"missing feature_list {key!r}")
            streams[key] = _frames(lists[key], key, size, max_frames)
        return _frame_example(video_id, labels, streams, context)
    except _Bad as error:
        _raise(error, path, index)


def _parse_context(context_bytes) -> dict:
    """The context features of a SequenceExample's leading context field, parsed whole."""
    try:
        return SequenceExample.FromString(context_bytes).context.feature
    except DecodeError:  # the raw map names the broken feature
        try:
            return _RawSequenceExample.FromString(context_bytes).context.feature
        except DecodeError as error:
            raise _Bad(f"not a tf.train.SequenceExample ({error})") from None


def _frame_example(video_id: str, labels: np.ndarray, streams: dict, context) -> FrameExample:
    """The FrameExample of an id, its labels and its rgb/audio ``streams`` of frames, checked
    here (callers read the id and the labels first: the first problem is the one reported);
    ``context`` (None: only id and labels) may hold the 2019 segment fields."""
    if len(streams["rgb"]) != len(streams["audio"]):
        raise _Bad(f"{len(streams['rgb'])} rgb frames but {len(streams['audio'])} "
                   "audio frames")
    if not len(streams["rgb"]):
        raise _Bad("video has no frames")
    segments = None
    if context is not None and any(key in context for key in SEGMENT_KEYS):
        segments = {key: (_float_values(context[key], key) if key == "segment_scores"
                          else _int_values(context[key], key))
                    for key in SEGMENT_KEYS if key in context}
    return FrameExample(id=video_id, labels=labels, rgb=streams["rgb"],
                        audio=streams["audio"], segments=segments)


def parse_example(payload: bytes, level: str, **kwargs):
    """parse_video_example or parse_frame_example, by ``level``."""
    if level == "video":
        return parse_video_example(payload, **{k: v for k, v in kwargs.items()
                                               if k != "max_frames"})
    if level == "frame":
        return parse_frame_example(payload, **kwargs)
    raise ValueError(f"unknown level {level!r}; expected 'video' or 'frame'")


# --------------------------------------------------------------------------- serialize

def _check_id_key(id_key: str):
    if id_key not in ID_KEYS:
        raise ValueError(f"id_key must be one of {ID_KEYS}, not {id_key!r}")


def _set_context(features, ex, id_key: str):
    _check_id_key(id_key)
    features[id_key].bytes_list.value.append(ex.id.encode("utf-8"))
    labels = features["labels"].int64_list
    labels.SetInParent()  # an int64 list even when empty (test-split videos have no labels)
    labels.value.extend(np.asarray(ex.labels, dtype=np.int64).tolist())


def serialize_video_example(ex: VideoExample, id_key: str = "id") -> bytes:
    """VideoExample -> ``tf.train.Example`` bytes (``id_key='video_id'``: 2017 variant)."""
    message = Example()
    features = message.features.feature
    _set_context(features, ex, id_key)
    for key, values, size in (("mean_rgb", ex.mean_rgb, RGB_DIM),
                              ("mean_audio", ex.mean_audio, AUDIO_DIM)):
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (size,):
            raise ValueError(f"{key} must have shape ({size},), not {values.shape}")
        features[key].float_list.value.extend(values.tolist())
    return message.SerializeToString(deterministic=True)


def _frame_list_bytes(frames, size: int, key: str) -> bytes:
    """Canonical FeatureList bytes of uint8 (n, size) frames, built in one numpy step."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 2 or frames.shape[1] != size:
        raise ValueError(f"{key} must be uint8 of shape (n, {size}) (quantized), not "
                         f"{frames.dtype} {frames.shape}")
    header = np.frombuffer(_FRAME_HEADERS[size], dtype=np.uint8)
    matrix = np.empty((frames.shape[0], header.size + size), dtype=np.uint8)
    matrix[:, :header.size] = header
    matrix[:, header.size:] = frames
    return matrix.tobytes()


def serialize_frame_example(ex: FrameExample, id_key: str = "id") -> bytes:
    """FrameExample -> ``tf.train.SequenceExample`` bytes (``id_key='video_id'``: 2017)."""
    message = SequenceExample()
    context = message.context.feature
    _set_context(context, ex, id_key)
    if ex.rgb.shape[0] != ex.audio.shape[0]:
        raise ValueError(f"{ex.rgb.shape[0]} rgb frames but {ex.audio.shape[0]} audio frames")
    for key, values in (ex.segments or {}).items():
        if key not in SEGMENT_KEYS:
            raise ValueError(f"unknown segment field {key!r}; expected one of {SEGMENT_KEYS}")
        if key == "segment_scores":
            context[key].float_list.value.extend(np.asarray(values, np.float32).tolist())
        else:
            context[key].int64_list.value.extend(np.asarray(values, np.int64).tolist())
    lists = message.feature_lists.feature_list
    for key, frames, size in (("rgb", ex.rgb, RGB_DIM), ("audio", ex.audio, AUDIO_DIM)):
        # Merging canonical FeatureList bytes is the same as adding each frame's Feature.
        lists[key].MergeFromString(_frame_list_bytes(frames, size, key))
    return message.SerializeToString(deterministic=True)


def write_shard(path, examples: Iterable[VideoExample | FrameExample], id_key: str = "id") -> int:
    """Write examples (all of one level) as a TFRecord shard, atomically; returns the count."""
    def payloads():
        level = None
        for ex in examples:
            this = "video" if isinstance(ex, VideoExample) else \
                "frame" if isinstance(ex, FrameExample) else None
            if this is None:
                raise TypeError(f"expected VideoExample or FrameExample, got {type(ex).__name__}")
            if level is not None and this != level:
                raise ValueError("a shard holds one level: got both video and frame examples")
            level = this
            yield (serialize_video_example(ex, id_key) if this == "video"
                   else serialize_frame_example(ex, id_key))
    return write_records(path, payloads())


# --------------------------------------------------------------------------- files

def detect_level(path) -> str:
    """'video' or 'frame', from the first record of ``path``."""
    for payload in read_records(path):
        try:
            message = _RawSequenceExample.FromString(payload)
        except DecodeError as error:
            raise DataError(path, f"not a tf.train.Example/SequenceExample ({error})", 0) from None
        if message.feature_lists.feature_list:
            return "frame"
        if "mean_rgb" in message.context.feature or "mean_audio" in message.context.feature:
            return "video"
        raise DataError(path, "neither a video-level record (mean_rgb, mean_audio) nor a "
                        "frame-level one (rgb, audio feature lists)", 0)
    raise DataError(path, "empty file (no records)")  # read_records raises first; kept for safety


_GLOB_CHARS = set("*?[")


def expand_paths(patterns: str | Path | Sequence[str | Path]) -> list[Path]:
    """Sorted, de-duplicated files matching ``patterns`` (paths, globs or folders of
    ``*.tfrecord``). DataError when a pattern matches nothing."""
    if isinstance(patterns, (str, Path)):
        patterns = [patterns]
    found: set[Path] = set()
    for pattern in patterns:
        text = str(Path(pattern).expanduser())
        if _GLOB_CHARS & set(text):
            matches = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
        elif Path(text).is_dir():
            matches = list(Path(text).glob("*.tfrecord"))
        else:
            matches = [Path(text)] if Path(text).is_file() else []
        if not matches:
            raise DataError(text, "no files match this path or pattern")
        found.update(matches)
    return sorted(found)


def count_examples(paths) -> int:
    """Number of records in the files of ``paths`` (read from the record headers only)."""
    return sum(count_records(path) for path in expand_paths(paths))


def _epoch_seed(seed: int, epoch: int, *more: int) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, *more]


def reader_share(paths, *, seed: int | None, epoch: int, reader_index: int = 0,
                 num_readers: int = 1) -> tuple[list[Path], bool]:
    """(the files reader ``reader_index`` of ``num_readers`` reads, in reading order; whether
    it takes every N-th record of them instead of whole files): the one rule of which reader
    reads what, for ``iter_examples`` and for anything that must predict its share."""
    if not 0 <= reader_index < num_readers:
        raise ValueError(f"reader_index {reader_index} is not in 0..{num_readers - 1}")
    files = expand_paths(paths)
    if seed is not None:
        order = np.random.default_rng(_epoch_seed(seed, epoch)).permutation(len(files))
        files = [files[i] for i in order]
    if len(files) >= num_readers:
        return files[reader_index::num_readers], False
    return files, True


def reader_count(paths, *, seed: int | None, epoch: int, reader_index: int = 0,
                 num_readers: int = 1) -> int:
    """How many records reader ``reader_index`` of ``num_readers`` reads in an epoch (from
    the record headers only)."""
    files, by_record = reader_share(paths, seed=seed, epoch=epoch, reader_index=reader_index,
                                    num_readers=num_readers)
    total = count_examples(files)
    return len(range(reader_index, total, num_readers)) if by_record else total


def iter_examples(paths, level: str, *, num_classes: int | None = None, verify_crc: bool = True,
                  reader_index: int = 0, num_readers: int = 1, seed: int | None = None,
                  epoch: int = 0, shuffle_buffer: int = 0,
                  max_frames: int | None = None) -> Iterator[VideoExample | FrameExample]:
    """Stream the examples of ``paths`` for one reader of ``num_readers``.

    Reader ``r`` (= rank * num_workers + worker) gets whole files ``r, r + N, ...`` when there
    are at least as many files as readers, otherwise the records whose running index ``i``
    over all files has ``i % N == r``; either way every record is read by exactly one reader
    per epoch. With ``seed``, the file order is shuffled by (seed, epoch), the same for every
    reader, and a shuffle buffer of ``shuffle_buffer`` records is seeded by (seed, epoch,
    reader). Bad records raise DataError naming the file and the record index.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected 'video' or 'frame'")
    if not 0 <= reader_index < num_readers:
        raise ValueError(f"reader_index {reader_index} is not in 0..{num_readers - 1}")
    mine, by_record = reader_share(paths, seed=seed, epoch=epoch, reader_index=reader_index,
                                   num_readers=num_readers)

    def parsed() -> Iterator[VideoExample | FrameExample]:
        running = 0  # record index over all files, for record-level sharding
        for path in mine:
            for index, payload in enumerate(read_records(path, verify_crc=verify_crc)):
                take = not by_record or running % num_readers == reader_index
                running += 1
                if take:
                    yield parse_example(payload, level, path=path, index=index,
                                        num_classes=num_classes, max_frames=max_frames)

    if shuffle_buffer <= 1:
        yield from parsed()
        return
    rng = (np.random.default_rng(_epoch_seed(seed, epoch, reader_index)) if seed is not None
           else np.random.default_rng())
    yield from _shuffled(parsed(), shuffle_buffer, rng)


SLOTS_PER_DRAW = 256  # shuffle-buffer slots drawn at once (a scalar draw costs about 3 us)


def _shuffled(items: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """tf.data-style shuffle buffer: fill, then emit a random slot and refill it.

    The slots are drawn ``SLOTS_PER_DRAW`` at a time: numpy gives the same numbers as one
    draw per record, and the generator is rewound so that the final shuffle sees it where
    one draw per record would have left it (the order is that of the one-draw version)."""
    buffer = []
    slots, used, state = [], 0, None
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        if used == len(slots):
            state = rng.bit_generator.state
            slots, used = rng.integers(size, size=SLOTS_PER_DRAW).tolist(), 0
        slot = slots[used]
        used += 1
        yield buffer[slot]
        buffer[slot] = item
    if used < len(slots):  # rewind to just after the slots that were used
        rng.bit_generator.state = state
        rng.integers(size, size=used)
    rng.shuffle(buffer)
    yield from buffer
