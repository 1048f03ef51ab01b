"""Plain text files on disk (docs, licences, Python source) and text members of PyPI archives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .base import (
    Reader,
    SourceMissing,
    Text,
    Unit,
    archive_members,
    files_under,
    find_archive,
    read_member,
    read_text_file,
)


@dataclass
class FileOptions:
    patterns: list[str] = field(default_factory=lambda: ["**/*.txt"])
    exclude: list[str] = field(default_factory=list)


class TextFiles(Reader):
    """Every file matching the patterns is one unit; `.gz` files are read transparently."""

    Options = FileOptions

    def units(self) -> list[Unit]:
        return files_under(self.root, self.opts.patterns, self.opts.exclude)

    def texts(self, unit: Unit) -> Iterator[Text]:
        yield Text(read_text_file(unit.path), unit.key)


class PythonFiles(TextFiles):
    """Python source files, split at top-level statements rather than blank lines."""

    code = True


@dataclass
class ArchiveOptions:
    archives: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=lambda: ["*.txt"])


class ArchiveTexts(Reader):
    """Text members of a downloaded (never installed) PyPI archive in the sources cache."""

    Options = ArchiveOptions

    def units(self) -> list[Unit]:
        if not self.opts.archives:
            raise SourceMissing("no archive pattern configured")
        return archive_members(find_archive(self.root, self.opts.archives), self.opts.members)

    def texts(self, unit: Unit) -> Iterator[Text]:
        yield Text(read_member(unit).decode("utf-8", errors="replace"), Path(unit.key).name)
