"""The document schema and its on-disk form: zstd-compressed JSONL, one file per domain.

A record is `{"id", "text", "metadata": {"domain", "lang", "source", "license", ...}}`, which both
`datasets.load_dataset("json")` and datatrove's `JsonlReader` read as-is.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

LANGS = ("zh", "en", "mixed", "code")
REQUIRED_METADATA = ("domain", "lang", "source")
ZSTD_LEVEL = 3


@dataclass
class Document:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.metadata["domain"]

    @property
    def lang(self) -> str:
        return self.metadata["lang"]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        return cls(id=str(d["id"]), text=d["text"], metadata=dict(d.get("metadata") or {}))


def validate(doc: Document) -> str | None:
    """The reason a document breaks the schema, or None if it is valid."""
    if not isinstance(doc.text, str):
        return "text_not_string"
    if not doc.id:
        return "missing_id"
    for key in REQUIRED_METADATA:
        if not doc.metadata.get(key):
            return f"missing_{key}"
    if doc.metadata["lang"] not in LANGS:
        return "bad_lang"
    return None


def dumps(doc: Document) -> bytes:
    """One JSONL line. orjson keeps key order as given, so equal documents give equal bytes."""
    return orjson.dumps(doc.to_dict()) + b"\n"


class JsonlZstWriter:
    """Append documents to a `.jsonl.zst` file with a single-threaded, deterministic compressor."""

    def __init__(self, path: str | Path, level: int = ZSTD_LEVEL):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self.path, "wb")
        self._z = zstandard.ZstdCompressor(level=level, threads=0).stream_writer(self._raw, closefd=False)
        self.documents = 0
        self.characters = 0
        self.bytes = 0

    def write(self, doc: Document) -> None:
        line = dumps(doc)
        self._z.write(line)
        self.documents += 1
        self.characters += len(doc.text)
        self.bytes += len(doc.text.encode("utf-8", "surrogatepass"))

    def write_all(self, docs: Iterable[Document]) -> None:
        for d in docs:
            self.write(d)

    def close(self) -> None:
        self._z.flush(zstandard.FLUSH_FRAME)
        self._z.close()
        self._raw.close()

    def __enter__(self) -> JsonlZstWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl_zst(path: str | Path) -> Iterator[Document]:
    """Read documents written by `JsonlZstWriter` (trusted artifact files; errors propagate)."""
    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            if line.strip():
                yield Document.from_dict(orjson.loads(line))
