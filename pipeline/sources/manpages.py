"""Manual pages (roff, gzipped) rendered to text in-process; `.so` redirections yield nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, Text, Unit, files_under, read_text_file
from .roff import roff_to_text


@dataclass
class ManOptions:
    patterns: list[str] = field(default_factory=lambda: ["man[1-8]/*.gz"])
    exclude: list[str] = field(default_factory=list)


class ManPages(Reader):
    Options = ManOptions

    def units(self) -> list[Unit]:
        # A page that only redirects (`.so`) is tiny; skipping tiny files keeps the unit list honest.
        return [u for u in files_under(self.root, self.opts.patterns, self.opts.exclude) if u.size > 64]

    def texts(self, unit: Unit) -> Iterator[Text]:
        text = roff_to_text(read_text_file(unit.path))
        if text:
            yield Text(text, unit.key)
