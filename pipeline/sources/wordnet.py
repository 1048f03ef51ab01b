"""WordNet 3.0 synsets (`/usr/share/wordnet/data.*`) as readable glossary lines.

`00002684 03 n 02 object 0 physical_object 0 039 @ ... | a tangible and visible entity; "..."`
becomes `object, physical object (noun): a tangible and visible entity; "..."`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, SourceMissing, Text, Unit, require_dir
from .blocks import block_index, block_units

_POS = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def synset_line(line: str, pos: str) -> str | None:
    head, sep, gloss = line.partition(" | ")
    if not sep or line.startswith("  "):
        return None
    fields = head.split()
    try:
        count = int(fields[3], 16)
    except (IndexError, ValueError):
        return None
    words = [w.replace("_", " ").split("(")[0] for w in fields[4:4 + 2 * count:2]]
    return f"{', '.join(words)} ({pos}): {gloss.strip()}"


@dataclass
class WordnetOptions:
    parts: list[str] = field(default_factory=lambda: ["noun", "verb", "adj", "adv"])
    block_entries: int = 60


class Wordnet(Reader):
    Options = WordnetOptions

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self._lines: dict[str, list[str]] = {}

    def units(self) -> list[Unit]:
        require_dir(self.root)
        units: list[Unit] = []
        for part in self.opts.parts:
            path = self.root / f"data.{part}"
            if not path.is_file():
                raise SourceMissing(f"{path} not found")
            pos = _POS.get(part, part)
            lines = [s for x in path.read_text(encoding="utf-8", errors="replace").splitlines() if (s := synset_line(x, pos))]
            self._lines[part] = lines
            units += block_units(part, path, [len(x.encode()) + 1 for x in lines], self.opts.block_entries)
        return units

    def texts(self, unit: Unit) -> Iterator[Text]:
        part = unit.key.rsplit("#", 1)[0]
        b = block_index(unit) * self.opts.block_entries
        yield Text("\n".join(self._lines[part][b:b + self.opts.block_entries]), unit.key)
