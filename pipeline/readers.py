"""Tolerant streaming readers for user-supplied files: JSONL (plain, gzip, zstd) and Parquet.

Unlike `datasets`, these readers never stop at the first bad byte and always say *where* a problem
is: every item they yield is either a `Record` (a parsed JSON object with its line or row number) or
a `Problem` (a reason, the location, and the raw bytes or a bounded prefix of them). Lines are split
from a bounded-size byte stream, so an oversized line is measured and cut to a prefix, never held in
memory whole. A truncated or corrupt compressed file yields every line decoded before the damage,
then one `Problem` naming the line reached.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

READ_CHUNK = 1 << 20  # bytes per read from disk or decompressor; bounds memory, not output
PARQUET_BATCH_ROWS = 1024  # rows converted to Python objects at a time inside one row group
ZSTD_MAX_WINDOW = 1 << 31  # accept files written with `zstd --long`; memory is only taken if a frame needs it

JSONL_SUFFIXES = (".jsonl", ".ndjson")
ZSTD_SUFFIXES = (".zst", ".zstd")
GZIP_SUFFIXES = (".gz",)
PARQUET_SUFFIXES = (".parquet", ".pq")

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MIN, _SKIPPABLE_MAX = 0x184D2A50, 0x184D2A5F


@dataclass(frozen=True)
class Record:
    """One parsed input object and where it came from (1-based line or row)."""

    file: str
    loc: int
    unit: str  # "line" or "row"
    data: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """Input that cannot become a document, with enough context to find and inspect it.

    `documents` is how many input documents the problem stands for: 1 for a bad line, the row
    count for a whole rejected Parquet file, 0 for an empty file.
    """

    file: str
    loc: int | None
    unit: str
    reason: str
    detail: str = ""
    raw: bytes | None = None
    raw_bytes: int = 0  # full length of the raw content (may exceed len(raw) when cut)
    documents: int = 1


Item = Record | Problem


class UnsupportedFormat(ValueError):
    """The file name does not say which reader to use."""


def file_format(path: Path) -> tuple[str, str]:
    """(container, compression) from the file name: ('jsonl', 'zstd'|'gzip'|''), or ('parquet', '')."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet", ""
    compression = ""
    stem = name
    for suffixes, kind in ((ZSTD_SUFFIXES, "zstd"), (GZIP_SUFFIXES, "gzip")):
        for s in suffixes:
            if name.endswith(s):
                compression, stem = kind, name[: -len(s)]
    if stem.endswith(JSONL_SUFFIXES):
        return "jsonl", compression
    raise UnsupportedFormat(name)


def supported_suffixes() -> list[str]:
    jl = [j + c for j in JSONL_SUFFIXES for c in ("", *ZSTD_SUFFIXES, *GZIP_SUFFIXES)]
    return jl + list(PARQUET_SUFFIXES)


# --- byte sources -------------------------------------------------------------------------------


class StreamDamaged(Exception):
    """Raised by a byte source at the point where it cannot go on: `reason` is the quarantine reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CountingReader:
    """A binary file wrapper that counts bytes read, for progress reporting."""

    def __init__(self, raw: BinaryIO, on_read: Any = None):
        self._raw = raw
        self._on_read = on_read

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._on_read is not None and data:
            self._on_read(len(data))
        return data

    def readable(self) -> bool:
        return True


def zstd_integrity(path: Path) -> tuple[str, str] | None:
    """Walk the zstd frame and block headers (no decompression) and say whether the file ends early.

    The zstd stream decoder stops silently at the end of a truncated file, so truncation is found
    here instead: every frame must end with a last block (and its checksum, when present). Returns
    None for a complete file, else (reason, detail) with the compressed byte offset.
    """
    size = path.stat().st_size
    pos = 0
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(18)
            if len(head) < 4:
                return "truncated_file", f"frame header cut at byte {pos}"
            magic = int.from_bytes(head[:4], "little")
            if _SKIPPABLE_MIN <= magic <= _SKIPPABLE_MAX:
                if len(head) < 8:
                    return "truncated_file", f"skippable frame header cut at byte {pos}"
                pos += 8 + int.from_bytes(head[4:8], "little")
                if pos > size:
                    return "truncated_file", f"skippable frame cut at byte {size}"
                continue
            if magic != _ZSTD_MAGIC:
                return "corrupt_compressed", f"no zstd frame at byte {pos}"
            try:
                pos += zstandard.frame_header_size(head)
                has_checksum = zstandard.get_frame_parameters(head).has_checksum
            except zstandard.ZstdError:
                return "truncated_file", f"frame header cut at byte {pos}"
            while True:
                f.seek(pos)
                bh = f.read(3)
                if len(bh) < 3:
                    return "truncated_file", f"block header cut at byte {pos} of {size}"
                v = int.from_bytes(bh, "little")
                last, btype, bsize = v & 1, (v >> 1) & 3, v >> 3
                if btype == 3:
                    return "corrupt_compressed", f"reserved block type at byte {pos}"
                pos += 3 + (1 if btype == 1 else bsize)
                if pos > size:
                    return "truncated_file", f"block cut at byte {size} (needs {pos})"
                if last:
                    break
            if has_checksum:
                pos += 4
                if pos > size:
                    return "truncated_file", f"frame checksum cut at byte {size}"
    return None


def byte_chunks(path: Path, compression: str, on_read: Any = None) -> Iterator[bytes]:
    """Decompressed content in bounded chunks; raises `StreamDamaged` where the file is damaged."""
    if compression == "zstd":
        damage = zstd_integrity(path)
        with open(path, "rb") as raw:
            reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
                CountingReader(raw, on_read), read_size=READ_CHUNK, read_across_frames=True)
            try:
                while chunk := reader.read(READ_CHUNK):
                    yield chunk
            except zstandard.ZstdError as e:
                raise StreamDamaged(damage[0] if damage else "corrupt_compressed", str(e)) from None
        if damage:
            raise StreamDamaged(*damage)
    elif compression == "gzip":
        with open(path, "rb") as raw:
            yield from _gzip_chunks(CountingReader(raw, on_read))
    else:
        with open(path, "rb") as raw:
            while chunk := raw.read(READ_CHUNK):
                if on_read is not None:
                    on_read(len(chunk))
                yield chunk


def _gzip_chunks(raw: CountingReader) -> Iterator[bytes]:
    """Gzip members decoded with bounded output; `GzipFile` would drop the data of a cut final read."""
    d = zlib.decompressobj(31)
    fed = False
    try:
        while data := raw.read(READ_CHUNK):
            while data:
                fed = True
                out = d.decompress(data, READ_CHUNK)
                if out:
                    yield out
                data = d.unconsumed_tail
                if d.eof:  # next member (concatenated gzip), if any
                    data = d.unused_data + data
                    d = zlib.decompressobj(31)
                    fed = False
        tail = d.flush()
        if tail:
            yield tail
    except zlib.error as e:
        raise StreamDamaged("corrupt_compressed", str(e)) from None
    if fed and not d.eof:
        raise StreamDamaged("truncated_file", "gzip stream ends before its end-of-stream marker")


# --- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawLine:
    number: int
    data: bytes  # the whole line, or its first `keep` bytes when `length` > max
    length: int  # full length in bytes, without the newline
    damaged: StreamDamaged | None = None  # set on the final partial line of a damaged stream


def split_lines(chunks: Iterator[bytes], max_bytes: int, keep: int) -> Iterator[RawLine]:
    """Split a byte stream on b"\\n" holding at most `max_bytes` of any one line.

    A longer line is kept as its first `keep` bytes plus its full length. If the stream raises
    `StreamDamaged`, the partial line in hand (possibly empty) is yielded with `damaged` set.
    """
    buf = bytearray()
    length = 0
    number = 0
    try:
        for chunk in chunks:
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                end = nl if nl >= 0 else len(chunk)
                piece_len = end - start
                if length + piece_len <= max_bytes:
                    buf += chunk[start:end]
                else:  # over the limit: keep only a prefix from here on
                    if len(buf) > keep:
                        del buf[keep:]
                    if len(buf) < keep:
                        buf += chunk[start:start + keep - len(buf)]
                length += piece_len
                if nl < 0:
                    break
                number += 1
                yield RawLine(number, bytes(buf), length)
                buf.clear()
                length = 0
                start = nl + 1
    except StreamDamaged as e:
        yield RawLine(number + 1, bytes(buf), length, damaged=e)
        return
    if length:
        yield RawLine(number + 1, bytes(buf), length)


def read_jsonl(path: Path, name: str, compression: str, max_bytes: int, keep: int,
               on_read: Any = None) -> Iterator[Item]:
    """Records and problems of a JSON Lines file; blank lines are skipped (they hold no document)."""
    seen = 0
    for line in split_lines(byte_chunks(path, compression, on_read), max_bytes, keep):
        if line.damaged is not None:
            partial = 1 if line.length else 0
            yield Problem(name, line.number, "line", line.damaged.reason,
                          f"{line.damaged.detail}; stopped at line {line.number}", line.data, line.length, partial)
            return
        if line.length > max_bytes:
            seen += 1
            yield Problem(name, line.number, "line", "too_large",
                          f"line of {line.length} bytes exceeds {max_bytes}", line.data, line.length)
            continue
        data = line.data
        if line.number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not data.strip():
            continue
        seen += 1
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            yield Problem(name, line.number, "line", "invalid_utf8", f"byte {e.start}: {e.reason}",
                          data, len(data))
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            detail = re.sub(r"line 1 column (\d+) \(char \d+\)", r"column \1", str(e))
            yield Problem(name, line.number, "line", "malformed_json", detail, data, len(data))
            continue
        if not isinstance(obj, dict):
            yield Problem(name, line.number, "line", "not_an_object",
                          f"top-level JSON {type(obj).__name__}", data, len(data))
            continue
        yield Record(name, line.number, "line", obj)
    if seen == 0:
        yield Problem(name, None, "line", "empty_file", "no documents (empty or only blank lines)", documents=0)


# --- parquet ----------------------------------------------------------------------------------


def read_parquet(path: Path, name: str, needed: list[str], on_read: Any = None) -> Iterator[Item]:
    """Records of a Parquet file, row group by row group, with 1-based row numbers.

    A file lacking a column in `needed` is rejected as a whole (one `Problem` standing for all its
    rows), since no row of it can become a document.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        yield Problem(name, None, "row", "corrupt_parquet", str(e).splitlines()[0], documents=0)
        return
    total = pf.metadata.num_rows
    columns = pf.schema_arrow.names
    missing = [c for c in needed if c not in columns]
    if missing:
        yield Problem(name, None, "row", "missing_text_field",
                      f"no column {missing[0]!r} (columns: {', '.join(columns)}); {total} rows",
                      documents=total)
        return
    if total == 0:
        yield Problem(name, None, "row", "empty_file", "no rows", documents=0)
        return
    row = 0
    size = path.stat().st_size
    for rg in range(pf.num_row_groups):
        n = pf.metadata.row_group(rg).num_rows
        try:
            table = pf.read_row_group(rg)
        except (pa.ArrowException, OSError) as e:
            yield Problem(name, row + 1, "row", "corrupt_row_group",
                          f"row group {rg} (rows {row + 1}-{row + n}): {str(e).splitlines()[0]}", documents=n)
            row += n
            continue
        for batch in table.to_batches(max_chunksize=PARQUET_BATCH_ROWS):
            for obj in batch.to_pylist():
                row += 1
                yield Record(name, row, "row", obj)
        if on_read is not None:
            on_read(size * n // max(1, total))
