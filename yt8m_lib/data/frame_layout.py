"""Where the parts of a frame-level record lie in its bytes: a compiled (numba) walk of the
protobuf wire format of a ``tf.train.SequenceExample``.

The reader's work per video is then a few slices in Python: the frames are read in place
(views of the record's bytes), the id and the labels come from the walk. Only the layout
that every writer makes (TensorFlow's, ours) is recognised:

* ``context``: map entries ``key, Feature`` with the keys ``id`` or ``video_id`` (one bytes
  value) and ``labels`` (one packed int64 list of non-negative values, or none);
* ``feature_lists``: ``rgb`` and ``audio``, each ``n`` frames of one ``size``-byte value,
  every frame with the same canonical header (other feature lists are ignored).

Anything else (another context key such as the 2019 segment fields, unpacked labels, a
non-canonical length, a truncated field) is reported as not recognised, and
``yt8m_lib.data.records`` reads the record with protobuf's parser, which also produces the
precise error messages. The walk never raises and never reads outside the record.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

# Fields of the layout array returned by ``locate``.
CONTEXT_END = 0  # end of the context field (0: none); -1: record not recognised at all
RGB_START, RGB_END, RGB_ROWS_OK = 1, 2, 3  # FeatureList bytes; 1 when every frame is canonical
AUDIO_START, AUDIO_END, AUDIO_ROWS_OK = 4, 5, 6
CONTEXT_OK = 7  # 1: the id and labels below are the whole context; 0: parse the context
ID_START, ID_END = 8, 9  # the id's bytes ("id" preferred over the 2017 "video_id")
LABELS_HIGH = 10  # the largest label (-1: no labels)
LAYOUT_SIZE = 11


# The keys, as arrays (numba compiles global arrays in as constants).
_ID_KEY, _VIDEO_ID_KEY, _LABELS_KEY, _RGB_KEY, _AUDIO_KEY = (
    np.frombuffer(key.encode(), dtype=np.uint8)
    for key in ("id", "video_id", "labels", "rgb", "audio"))
_VIDEO_ID_START = LAYOUT_SIZE  # two spare fields hold the 2017 video_id while reading

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _varint(data, pos, end):
    """(value, next position) of the varint at ``pos``; value -1 when there is no complete
    varint of at most 9 bytes (a value below 2**63) before ``end``."""
    value = 0
    shift = 0
    while pos < end and shift < 63:
        byte = data[pos]
        pos += 1
        value |= np.int64(byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return -1, pos


@_jit
def _field(data, pos, end):
    """(field number, value start, value end) of the length-delimited field at ``pos``;
    field number -1 for anything else (another wire type, a length past ``end``)."""
    tag, pos = _varint(data, pos, end)
    if tag < 0 or tag & 7 != 2:
        return -1, 0, 0
    length, pos = _varint(data, pos, end)
    if length < 0 or length > end - pos:
        return -1, 0, 0
    return tag >> 3, pos, pos + length


@_jit
def _only_field(data, start, end, number):
    """(value start, value end) of a single field ``number`` filling [start, end), else
    (-1, -1)."""
    found, value_start, value_end = _field(data, start, end)
    if found != number or value_end != end:
        return -1, -1
    return value_start, value_end


@_jit
def _map_entry(data, pos, end):
    """(next position, key start, key end, value start, value end) of the protobuf map entry
    at ``pos``: a field 1 holding the key (field 1) and then the value (field 2) up to its
    end. Key start -1 for anything else."""
    number, entry_start, entry_end = _field(data, pos, end)
    if number != 1:
        return entry_end, -1, -1, -1, -1
    number, key_start, key_end = _field(data, entry_start, entry_end)
    if number != 1:
        return entry_end, -1, -1, -1, -1
    value_start, value_end = _only_field(data, key_end, entry_end, 2)
    if value_start < 0:
        return entry_end, -1, -1, -1, -1
    return entry_end, key_start, key_end, value_start, value_end


@_jit
def _key_is(data, start, end, key):
    if end - start != key.size:
        return False
    for i in range(key.size):
        if data[start + i] != key[i]:
            return False
    return True


@_jit
def _rows_start_with(data, start, end, header, size):
    """Whether [start, end) is whole rows of ``header`` followed by ``size`` bytes."""
    row = header.size + size
    if end <= start or (end - start) % row:
        return False
    for pos in range(start, end, row):
        for i in range(header.size):
            if data[pos + i] != header[i]:
                return False
    return True


@_jit
def _read_context(data, start, end, layout):
    """Fill the id and labels fields of ``layout`` from the context at [start, end);
    (recognised, labels)."""
    labels = np.empty(0, np.int64)
    seen_labels = False
    pos = start
    while pos < end:
        pos, key_start, key_end, feature_start, feature_end = _map_entry(data, pos, end)
        if key_start < 0:
            return False, labels
        is_id = _key_is(data, key_start, key_end, _ID_KEY)
        if is_id or _key_is(data, key_start, key_end, _VIDEO_ID_KEY):
            # Feature.bytes_list(1) -> BytesList.value(1): exactly one value
            list_start, list_end = _only_field(data, feature_start, feature_end, 1)
            if list_start < 0:
                return False, labels
            value_start, value_end = _only_field(data, list_start, list_end, 1)
            slot = ID_START if is_id else _VIDEO_ID_START
            if value_start < 0 or layout[slot] >= 0:  # not one value, or a repeated key
                return False, labels
            layout[slot] = value_start
            layout[slot + 1] = value_end
        elif _key_is(data, key_start, key_end, _LABELS_KEY):
            if seen_labels:
                return False, labels
            seen_labels = True
            if feature_end == feature_start:
                continue  # an empty Feature: no labels
            # Feature.int64_list(3) -> Int64List.value(1), packed
            list_start, list_end = _only_field(data, feature_start, feature_end, 3)
            if list_start < 0:
                return False, labels
            if list_end == list_start:
                continue  # an empty list
            values_start, values_end = _only_field(data, list_start, list_end, 1)
            if values_start < 0:
                return False, labels
            labels = np.empty(values_end - values_start, np.int64)  # at least one byte each
            count = 0
            at = values_start
            while at < values_end:
                value, at = _varint(data, at, values_end)
                if value < 0:
                    return False, labels  # a negative int64 (10 bytes): the parser says so
                labels[count] = value
                count += 1
                layout[LABELS_HIGH] = max(layout[LABELS_HIGH], value)
            labels = labels[:count]
        else:
            return False, labels  # another key (e.g. the segment fields)
    if layout[ID_START] < 0:
        if layout[_VIDEO_ID_START] < 0:
            return False, labels  # no id: the parser names the missing key
        layout[ID_START] = layout[_VIDEO_ID_START]
        layout[ID_END] = layout[_VIDEO_ID_START + 1]
    return True, labels


@_jit
def _locate(data, rgb_header, rgb_size, audio_header, audio_size):
    layout = np.full(LAYOUT_SIZE + 2, -1, np.int64)
    none = np.empty(0, np.int64)
    end = data.size
    number, start, stop = _field(data, 0, end)
    context_start, context_end = 0, 0
    if number == 1:
        context_start, context_end = start, stop
        number, start, stop = _field(data, stop, end)
    if number != 2 or stop != end:
        return layout[:LAYOUT_SIZE], none
    pos = start
    while pos < end:
        pos, key_start, key_end, value_start, value_end = _map_entry(data, pos, end)
        if key_start < 0:
            return layout[:LAYOUT_SIZE], none
        slot = -1
        if _key_is(data, key_start, key_end, _RGB_KEY):
            slot = RGB_START
        elif _key_is(data, key_start, key_end, _AUDIO_KEY):
            slot = AUDIO_START
        if slot >= 0:
            if layout[slot] >= 0:
                return layout[:LAYOUT_SIZE], none  # a repeated key: protobuf's rules decide
            layout[slot] = value_start
            layout[slot + 1] = value_end
    if layout[RGB_START] < 0 or layout[AUDIO_START] < 0:
        return layout[:LAYOUT_SIZE], none
    layout[RGB_ROWS_OK] = 1 if _rows_start_with(data, layout[RGB_START], layout[RGB_END],
                                                rgb_header, rgb_size) else 0
    layout[AUDIO_ROWS_OK] = 1 if _rows_start_with(data, layout[AUDIO_START],
                                                  layout[AUDIO_END], audio_header,
                                                  audio_size) else 0
    recognised, labels = _read_context(data, context_start, context_end, layout)
    layout[CONTEXT_OK] = 1 if recognised else 0
    layout[CONTEXT_END] = context_end
    return layout[:LAYOUT_SIZE], labels


def locate(data: np.ndarray, rgb_header: bytes, rgb_size: int, audio_header: bytes,
           audio_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(layout, labels) of the uint8 bytes ``data`` of one SequenceExample: ``layout`` is
    an int64 array indexed by the constants above (``layout[CONTEXT_END] == -1``: not
    recognised); ``labels`` the int64 labels when ``layout[CONTEXT_OK]``.

    ``*_header`` are the canonical bytes before each frame's ``*_size`` data bytes."""
    return _locate(data, _header_array(rgb_header), rgb_size, _header_array(audio_header),
                   audio_size)


def rows_start_with(data: np.ndarray, header: bytes, size: int) -> bool:
    """Whether the uint8 ``data`` is one or more rows of ``header`` followed by ``size``
    bytes (a FeatureList of ``size``-byte frames in canonical form)."""
    return _rows_start_with(data, 0, data.size, _header_array(header), size)


@functools.lru_cache(maxsize=16)
def _header_array(header: bytes) -> np.ndarray:
    return np.frombuffer(header, dtype=np.uint8)
