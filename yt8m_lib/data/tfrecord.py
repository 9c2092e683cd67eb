"""TFRecord framing without TensorFlow.

A TFRecord file is a sequence of records, each::

    uint64 length (little endian)
    uint32 masked_crc32c(length bytes)
    byte   payload[length]
    uint32 masked_crc32c(payload)

The mask is TensorFlow's: ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2**32).

Reading maps the file into memory (``mmap``) and hands out each payload as a read-only
``memoryview`` into it: nothing is copied, and a page of the file costs one page-cache
mapping instead of a fresh anonymous page plus a copy (on a VM, page faults on fresh buffers
were half of a frame-level record's read time). A split never has to fit in memory: the
pages already read are handed back to the kernel every ``_RELEASE_BYTES`` (a payload still
in use then simply maps them again from the page cache).
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import crc32c

from yt8m_lib.errors import DataError

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")  # length, masked crc of the length
_FOOTER = struct.Struct("<I")  # masked crc of the payload
# A length this large is a corrupt header, not a record (protobuf caps messages at 2 GiB).
_MAX_RECORD = 2**31
# Read pages are handed back to the kernel in steps of this many bytes, so the memory a
# reader holds stays flat however large the file is.
_RELEASE_BYTES = 32 << 20


def masked_crc32c(data) -> int:
    """TensorFlow's masked CRC32C of ``data`` (bytes or any buffer, e.g. a memoryview)."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _open(path) -> tuple[Path, object]:
    path = Path(path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, "is a folder, not a TFRecord file") from None
    except OSError as error:
        raise DataError(path, f"cannot open: {error.strerror or error}") from None
    return path, handle


def _check_header(header: bytes, path, index: int, verify_crc: bool) -> int | None:
    """The payload length in the header bytes of record ``index``; None at a clean end of
    file (no bytes left)."""
    if not header:
        if index == 0:
            raise DataError(path, "empty file (no records)")
        return None
    if len(header) < _HEADER.size:
        raise DataError(path, f"truncated file: {len(header)} of {_HEADER.size} header bytes",
                        index)
    length, length_crc = _HEADER.unpack(header)
    if verify_crc and masked_crc32c(header[:8]) != length_crc:
        raise DataError(path, "bad CRC of the record length (corrupt or not a TFRecord file)",
                        index)
    if length >= _MAX_RECORD:
        raise DataError(path, f"implausible record length {length} (corrupt file?)", index)
    return length


def _read_header(handle, path, index: int, verify_crc: bool) -> int | None:
    return _check_header(handle.read(_HEADER.size), path, index, verify_crc)


def _truncated(path, index: int, length: int, left: int) -> DataError:
    return DataError(path, f"truncated file: record needs {length + _FOOTER.size} bytes after "
                     f"its header, {left} left", index)


def read_records(path, *, verify_crc: bool = True) -> Iterator[memoryview]:
    """Yield the payload of every record in ``path``, as a read-only memoryview into the
    memory-mapped file (no copy; ``bytes(payload)`` when a copy is wanted).

    Raises DataError naming the file and the record index on a truncated record or a CRC
    mismatch, and for a missing, empty or unmappable file. A payload keeps the mapping
    alive (the file itself may be replaced meanwhile: ``write_records`` never rewrites a
    file in place).
    """
    path, handle = _open(path)
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise DataError(path, "empty file (no records)")
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as error:
            raise DataError(path, f"cannot map the file: {error}") from None
    view = memoryview(mapped)
    can_release = hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED")
    position = index = released = 0
    while True:
        length = _check_header(mapped[position:position + _HEADER.size], path, index,
                               verify_crc)
        if length is None:
            return
        start = position + _HEADER.size
        end = start + length
        if end + _FOOTER.size > size:
            raise _truncated(path, index, length, size - start)
        payload = view[start:end]
        if verify_crc and masked_crc32c(payload) != _FOOTER.unpack_from(mapped, end)[0]:
            raise DataError(path, "bad CRC of the record payload (corrupt data)", index)
        yield payload
        position = end + _FOOTER.size
        index += 1
        if can_release and position - released >= _RELEASE_BYTES:
            upto = position - position % mmap.PAGESIZE
            mapped.madvise(mmap.MADV_DONTNEED, released, upto - released)
            released = upto


def count_records(path, *, verify_crc: bool = True) -> int:
    """Number of records in ``path``, reading only the headers (payload CRCs are not checked)."""
    path, handle = _open(path)
    size = os.fstat(handle.fileno()).st_size
    with handle:
        index = 0
        while True:
            length = _read_header(handle, path, index, verify_crc)
            if length is None:
                return index
            end = handle.tell() + length + _FOOTER.size
            if end > size:
                raise _truncated(path, index, length, size - handle.tell())
            handle.seek(end)
            index += 1


def frame_record(payload: bytes) -> bytes:
    """One record's bytes: header, payload, footer."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", masked_crc32c(length)) + payload
            + struct.pack("<I", masked_crc32c(payload)))


def write_records(path, payloads: Iterable[bytes]) -> int:
    """Write ``payloads`` as a TFRecord file; returns the number of records.

    Atomic: the records go to a temporary file in the same folder, renamed over ``path`` only
    when complete, so an interrupted writer never leaves a truncated shard behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for payload in payloads:
                handle.write(frame_record(bytes(payload)))
                count += 1
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a shard is ordinary data
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return count
