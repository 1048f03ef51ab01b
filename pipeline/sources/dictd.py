"""dictd dictionaries (`*.dict.dz` + `*.index`): GCIDE (Webster 1913 + WordNet), FOLDOC, Jargon File.

The index gives each headword's offset and length (base64 numbers) into the gzip-readable data;
several headwords may share one definition, which is kept once.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import Reader, SourceMissing, Text, Unit, require_dir
from .blocks import block_index, block_units

_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def b64_number(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64[c]
    return n


@dataclass
class DictdOptions:
    dictionaries: list[str] = field(default_factory=list)
    block_entries: int = 40


class Dictd(Reader):
    Options = DictdOptions

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self._spans: dict[str, list[tuple[int, int]]] = {}
        self._data: dict[str, bytes] = {}

    def _index(self, name: str) -> list[tuple[int, int]]:
        idx = self.root / f"{name}.index"
        if not idx.is_file() or not (self.root / f"{name}.dict.dz").is_file():
            raise SourceMissing(f"{self.root}/{name}.index or .dict.dz not found")
        spans: set[tuple[int, int]] = set()
        for line in idx.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[0].startswith(("00-database", "00database")):
                continue
            try:
                spans.add((b64_number(parts[1]), b64_number(parts[2])))
            except KeyError:
                continue
        return sorted(spans)

    def units(self) -> list[Unit]:
        require_dir(self.root)
        units: list[Unit] = []
        for name in self.opts.dictionaries:
            spans = self._spans[name] = self._index(name)
            units += block_units(name, self.root / f"{name}.dict.dz", [n for _, n in spans], self.opts.block_entries)
        return units

    def _dict(self, name: str, path: Path) -> bytes:
        if name not in self._data:
            with gzip.open(path, "rb") as f:
                self._data[name] = f.read()
        return self._data[name]

    def texts(self, unit: Unit) -> Iterator[Text]:
        name = unit.key.rsplit("#", 1)[0]
        data = self._dict(name, unit.path)
        b = block_index(unit) * self.opts.block_entries
        entries = [data[o:o + n].decode("utf-8", errors="replace").strip("\n") for o, n in self._spans[name][b:b + self.opts.block_entries]]
        yield Text("\n\n".join(e for e in entries if e.strip()), unit.key)
