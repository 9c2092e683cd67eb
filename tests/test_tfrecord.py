"""TFRecord framing: round trips, atomic writes, and every damaged-file case names the file
and the record. (Agreement with TensorFlow's own reader is in test_records.py.)"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from yt8m_lib.data import tfrecord
from yt8m_lib.data.tfrecord import (
    count_records,
    frame_record,
    masked_crc32c,
    read_records,
    write_records,
)
from yt8m_lib.errors import DataError

PAYLOADS = [b"first", b"", b"\x00\xff" * 5000, b"last"]


@pytest.fixture
def shard(tmp_path):
    path = tmp_path / "shard.tfrecord"
    write_records(path, PAYLOADS)
    return path


def offsets(payloads):
    """Start offset of each record in a file of ``payloads``."""
    out, position = [], 0
    for payload in payloads:
        out.append(position)
        position += 16 + len(payload)
    return out


def test_round_trip_keeps_every_payload_in_order(shard):
    assert list(read_records(shard)) == PAYLOADS
    assert count_records(shard) == len(PAYLOADS)


def test_layout_is_length_crc_payload_crc(shard):
    data = shard.read_bytes()
    length, length_crc = struct.unpack_from("<QI", data, 0)
    assert length == len(PAYLOADS[0])
    assert length_crc == masked_crc32c(data[:8])
    assert data[12 : 12 + length] == PAYLOADS[0]
    assert struct.unpack_from("<I", data, 12 + length)[0] == masked_crc32c(PAYLOADS[0])
    assert data == b"".join(frame_record(p) for p in PAYLOADS)


def test_masked_crc_is_not_the_plain_crc():
    import crc32c

    assert masked_crc32c(b"abc") != crc32c.crc32c(b"abc")
    crc = crc32c.crc32c(b"abc")
    assert masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "out" / "x.tfrecord"
    write_records(path, [b"old"])

    def failing():
        yield b"new"
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        write_records(path, failing())
    assert list(read_records(path)) == [b"old"]  # the complete old file survives
    assert [p.name for p in path.parent.iterdir()] == ["x.tfrecord"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        list(read_records(tmp_path / "absent.tfrecord"))
    assert "absent.tfrecord" in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    for read in (lambda: list(read_records(path)), lambda: count_records(path)):
        with pytest.raises(DataError, match="empty file") as info:
            read()
        assert "empty.tfrecord" in str(info.value)


@pytest.mark.parametrize("cut", [3, 12, 20])  # inside a header, after it, inside the payload
def test_truncated_file_names_the_record(shard, cut):
    data = shard.read_bytes()
    start = offsets(PAYLOADS)[2]
    shard.write_bytes(data[: start + cut])
    with pytest.raises(DataError, match="truncated") as info:
        list(read_records(shard))
    assert info.value.record == 2 and str(shard) in str(info.value)
    assert "record 2" in str(info.value)
    with pytest.raises(DataError, match="truncated"):
        count_records(shard)


def test_bad_payload_crc_names_the_record_and_can_be_skipped(shard):
    data = bytearray(shard.read_bytes())
    data[offsets(PAYLOADS)[3] + 12] ^= 0x01  # flip one bit of the last payload
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad CRC of the record payload") as info:
        list(read_records(shard))
    assert info.value.record == 3 and "shard.tfrecord, record 3" in str(info.value)
    payloads = list(read_records(shard, verify_crc=False))
    assert payloads[:3] == PAYLOADS[:3] and payloads[3] != PAYLOADS[3]


def test_bad_length_crc(shard):
    data = bytearray(shard.read_bytes())
    data[offsets(PAYLOADS)[1] + 8] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad CRC of the record length") as info:
        list(read_records(shard))
    assert info.value.record == 1


def test_a_file_that_is_not_a_tfrecord(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is a text file, not records\n" * 4)
    with pytest.raises(DataError, match="record 0"):
        list(read_records(path))


def test_payloads_are_read_only_views_of_the_mapped_file_not_copies(shard):
    """Zero copy: each payload is a memoryview into the memory-mapped file."""
    payloads = list(read_records(shard))
    assert all(isinstance(p, memoryview) and p.readonly for p in payloads)
    assert all(isinstance(p.obj, mmap.mmap) for p in payloads)
    assert [bytes(p) for p in payloads] == PAYLOADS


def test_payloads_outlive_the_file_being_replaced(shard):
    """write_records replaces a file by renaming, never in place: a payload still in use
    keeps the old bytes."""
    kept = next(read_records(shard))
    write_records(shard, [b"new"])
    assert bytes(kept) == PAYLOADS[0]
    assert list(read_records(shard)) == [b"new"]


def _mapped_rss_bytes(path) -> int | None:
    """Resident bytes of the mappings of ``path`` in this process (Linux), else None."""
    smaps = Path("/proc/self/smaps")
    if not smaps.exists():
        return None
    total, inside = 0, False
    for line in smaps.read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1]) * 1024
    return total


def test_a_long_file_is_read_with_flat_memory_and_intact_payloads(tmp_path, monkeypatch):
    """Pages already read are handed back every _RELEASE_BYTES, so a reader's resident
    memory stays flat however large the file; payloads still held read correctly (their
    pages map again from the page cache)."""
    monkeypatch.setattr(tfrecord, "_RELEASE_BYTES", 1 << 20)
    rng = np.random.default_rng(0)
    payloads = [rng.integers(0, 256, 512 * 1024, dtype=np.uint8).tobytes() for _ in range(48)]
    path = tmp_path / "long.tfrecord"
    write_records(path, payloads)  # 24 MiB
    kept, peak = [], 0
    for payload in read_records(path):
        kept.append(payload)
        rss = _mapped_rss_bytes(path)
        if rss is None:
            pytest.skip("no /proc/self/smaps on this system")
        peak = max(peak, rss)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB of the file stayed resident"
    assert [bytes(p) for p in kept] == payloads
