"""What every offline source reader provides: units to sample, texts to read, a fingerprint.

A source is read in *units* (a file, an archive member): the sampler ranks units by a seeded hash
and reads only as many as its byte budget needs, so a 100 MB man-page tree costs what is taken, not
what is installed. A unit yields `Text` pieces; the sampler turns them into documents.
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import gzip
import hashlib
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..typed_config import from_dict


class SourceMissing(Exception):
    """The source is not installed (or unreadable); the sampler records it as skipped."""


#: what reading an installed file can raise when it is damaged: recorded, never a crash
READ_ERRORS: tuple[type[BaseException], ...] = (
    SourceMissing, OSError, EOFError, ValueError, zlib.error, tarfile.TarError, zipfile.BadZipFile,
)


@dataclass(frozen=True)
class Unit:
    """One sampling unit: a file, or a member of an archive file."""

    key: str
    path: Path
    size: int
    member: str | None = None


@dataclass(frozen=True)
class Text:
    """A piece of source text; `lang` None means: decide from script statistics."""

    text: str
    origin: str
    lang: str | None = None


@dataclass
class NoOptions:
    pass


class Reader:
    """Base class: subclasses set `Options` (a dataclass) and implement `units` and `texts`."""

    Options: ClassVar[type] = NoOptions
    #: split at top-level code boundaries instead of blank lines
    code: ClassVar[bool] = False
    #: take units in their natural order instead of a seeded random order (generated sources)
    ordered: ClassVar[bool] = False

    def __init__(self, root: Path, options: dict[str, Any] | None = None, where: str = "source", seed: int = 0):
        self.root = root
        self.seed = seed
        self.opts: Any = from_dict(self.Options, dict(options or {}), where=f"{where}.options")

    def units(self) -> list[Unit]:
        raise NotImplementedError

    def texts(self, unit: Unit) -> Iterator[Text]:
        raise NotImplementedError

    def fingerprint(self, units: list[Unit]) -> str:
        """Cheap identity of what is installed: names and sizes (archives: their sha256)."""
        h = hashlib.sha256()
        archives: set[Path] = set()
        for u in units:
            h.update(f"{u.key}\0{u.size}\n".encode("utf-8", "surrogateescape"))
            if u.member is not None:
                archives.add(u.path)
        for a in sorted(archives):
            h.update(sha256_of(a).encode())
        return h.hexdigest()[:16]


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def require_dir(root: Path) -> Path:
    if not root.is_dir():
        raise SourceMissing(f"{root} not found (scripts/install_sources.sh installs the offline sources)")
    return root


def files_under(root: Path, patterns: list[str], exclude: list[str] | None = None) -> list[Unit]:
    """Files matching any glob pattern under `root`, sorted by relative path (never listing order).

    `exclude` patterns are matched against the whole relative path with fnmatch, where `*` also
    crosses `/` (so `test/*` drops the whole test tree). Plain `glob`/`os.stat` rather than
    pathlib: a man-page tree has tens of thousands of files.
    """
    require_dir(root)
    base = str(root)
    found: dict[str, str] = {}
    for pat in patterns:
        for full in _glob.glob(os.path.join(_glob.escape(base), pat), recursive=True):
            found.setdefault(os.path.relpath(full, base).replace(os.sep, "/"), full)
    excluded = exclude or []
    units = []
    for rel, full in sorted(found.items()):
        if any(fnmatch.fnmatchcase(rel, x) for x in excluded):
            continue
        try:
            st = os.stat(full)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            units.append(Unit(rel, Path(full), st.st_size))
    if not units:
        raise SourceMissing(f"no files matching {', '.join(patterns)} under {root}")
    return units


def read_text_file(path: Path) -> str:
    """A text file, transparently gunzipped (`.gz`, dictd `.dz`), decoded leniently as UTF-8."""
    if path.suffix in (".gz", ".dz"):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        data = path.read_bytes()
    return data.decode("utf-8", errors="replace")


def find_archive(root: Path, patterns: list[str]) -> Path:
    """The first (sorted) archive in the sources cache matching one of `patterns`."""
    require_dir(root)
    for pat in patterns:
        hits = sorted(p for p in root.glob(pat) if p.is_file())
        if hits:
            return hits[0]
    raise SourceMissing(f"no archive matching {', '.join(patterns)} in {root} (run scripts/install_sources.sh)")


def archive_members(archive: Path, patterns: list[str]) -> list[Unit]:
    """Members of a .tar.gz / .whl / .zip archive matching glob patterns, sorted by name."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                entries = [(i.filename, i.file_size) for i in z.infolist() if not i.is_dir()]
        else:
            with tarfile.open(archive, "r:*") as t:
                entries = [(m.name, m.size) for m in t.getmembers() if m.isfile()]
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise SourceMissing(f"{archive}: unreadable archive ({e})") from None
    hits = sorted((name, size) for name, size in entries if any(Path(name).match(p) for p in patterns))
    if not hits:
        raise SourceMissing(f"{archive}: no member matching {', '.join(patterns)}")
    _TAR_WANTED.setdefault(archive, set()).update(name for name, _ in hits)
    return [Unit(name, archive, size, member=name) for name, size in hits]


# A gzipped tar has no random access: reading members one by one in a seeded order would
# decompress the archive once per member. The first read of a tar therefore loads, in one pass,
# every member that `archive_members` has handed out as a unit; `clear_archive_cache` frees them.
_TAR_WANTED: dict[Path, set[str]] = {}
_TAR_CACHE: dict[Path, dict[str, bytes]] = {}


def clear_archive_cache() -> None:
    _TAR_CACHE.clear()
    _TAR_WANTED.clear()


def read_member(unit: Unit) -> bytes:
    """The bytes of an archive member (members are data files; nothing is extracted to disk)."""
    assert unit.member is not None
    if unit.path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(unit.path) as z:
            return z.read(unit.member)
    cache = _TAR_CACHE.get(unit.path)
    if cache is None or unit.member not in cache:
        wanted = _TAR_WANTED.get(unit.path, set()) | {unit.member}
        cache = _TAR_CACHE[unit.path] = {}
        with tarfile.open(unit.path, "r:*") as t:
            for m in t:
                if m.isfile() and m.name in wanted:
                    f = t.extractfile(m)
                    if f is not None:
                        cache[m.name] = f.read()
    if unit.member not in cache:
        raise SourceMissing(f"{unit.path}: member {unit.member} is not a file")
    return cache[unit.member]
