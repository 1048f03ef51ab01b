"""fortune(6) files: entries separated by a line holding `%`; colour codes (fortunes-zh) removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, Text, Unit, files_under, read_text_file
from .textutil import strip_ansi

_SEP = re.compile(r"\n%[ \t]*\n")


@dataclass
class FortuneOptions:
    files: list[str] = field(default_factory=list)


class Fortunes(Reader):
    """Each fortune (a poem, a quotation, a tip) is one text."""

    Options = FortuneOptions

    def units(self) -> list[Unit]:
        return files_under(self.root, self.opts.files)

    def texts(self, unit: Unit) -> Iterator[Text]:
        raw = "\n" + strip_ansi(read_text_file(unit.path)) + "\n"
        for i, entry in enumerate(_SEP.split(raw)):
            entry = entry.strip("\n")
            if entry.strip() and entry.strip() != "%":
                yield Text(entry, f"{unit.key}#{i}")
