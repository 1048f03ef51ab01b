"""Budgeted, seeded selection of documents from the installed sources of one domain.

Order never depends on the file system or on hash seeds: units are listed sorted by name and
then ranked by sha256(seed, source, unit key); generated sources keep their natural order.
Sources are read lazily (`SourceCursor`) in rounds: each takes its weight's share of what is left
of the domain budget, so when one is missing or runs short, the others fill the gap.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..documents import Document
from ..errors import UserError
from ..hashing import text_id
from ..sources import READERS, Reader, Text, Unit
from ..sources.base import READ_ERRORS
from ..sources.textutil import script_lang, split_sections, tidy
from .config import Catalogue, SourceEntry


def rank(seed: int, *parts: str) -> bytes:
    return hashlib.sha256("\x00".join([str(seed), *parts]).encode("utf-8", "surrogateescape")).digest()[:8]


@dataclass
class OpenSource:
    """A catalogue entry with its reader and units, or the reason it is skipped."""

    domain: str
    entry: SourceEntry
    root: str
    reader: Reader | None = None
    units: list[Unit] = field(default_factory=list)
    fingerprint: str = ""
    skipped: str = ""


@dataclass
class SourceTake:
    """What one source contributed to the sample (goes into the manifest)."""

    target_bytes: int = 0
    documents: int = 0
    characters: int = 0
    bytes: int = 0
    units_read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def open_source(domain: str, entry: SourceEntry, root: str, seed: int) -> OpenSource:
    """Instantiate the reader and list units; a missing or unreadable source is marked skipped."""
    cls = READERS.get(entry.reader)
    if cls is None:
        raise UserError(f"source {entry.name!r}: unknown reader {entry.reader!r} (known: {', '.join(sorted(READERS))})")
    src = OpenSource(domain, entry, root)
    reader = cls(Path(root), entry.options, where=f"source {entry.name}", seed=seed)
    try:
        src.units = reader.units()
        src.fingerprint = reader.fingerprint(src.units)
    except READ_ERRORS as e:
        src.skipped = str(e) or type(e).__name__
        return src
    if not src.units:
        src.skipped = "no units"
        return src
    src.reader = reader
    return src


def _unit_texts(src: OpenSource, unit: Unit, take: SourceTake) -> list[Text]:
    """All texts of one unit; a damaged unit is counted and reported, not fatal."""
    assert src.reader is not None
    take.units_read += 1
    try:
        return list(src.reader.texts(unit))
    except READ_ERRORS as err:
        take.dropped["unreadable_unit"] += 1
        if len(take.errors) < 5:
            take.errors.append(f"{unit.key}: {err}")
        return []


def _documents(src: OpenSource, t: Text, cat: Catalogue, take: SourceTake) -> Iterator[Document]:
    """Documents of one text: tidied, split at natural boundaries, language decided."""
    assert src.reader is not None
    e = src.entry
    body = t.text.replace("\r\n", "\n").rstrip() if src.reader.code else tidy(t.text)
    pieces = split_sections(body, cat.max_doc_chars, code=src.reader.code)
    for i, piece in enumerate(pieces):
        if len(piece.strip()) < (e.min_chars or cat.min_doc_chars):
            take.dropped["too_short"] += 1
            continue
        lang = e.lang if e.lang != "auto" else (t.lang or script_lang(piece, cat.zh_min_han, cat.en_max_han))
        origin = t.origin if len(pieces) == 1 else f"{t.origin}#{i}"
        yield Document(text_id(piece), piece, {"domain": src.domain, "lang": lang, "source": e.name,
                                               "license": e.license, "origin": origin})


class SourceCursor:
    """Reads one source lazily in its seeded order, so a domain can come back for more."""

    def __init__(self, src: OpenSource, cat: Catalogue, seed: int, seen: set[str]):
        self.src, self.cat, self.seed, self.seen = src, cat, seed, seen
        self.take = SourceTake()
        self.exhausted = src.reader is None
        self._stream = self._accepted() if src.reader is not None else iter(())

    def _candidates(self) -> Iterator[Document]:
        src, e, take = self.src, self.src.entry, self.take
        assert src.reader is not None
        units = src.units if src.reader.ordered else sorted(src.units, key=lambda u: rank(self.seed, e.name, u.key))
        if e.sampling == "units":
            for u in units:
                for t in _unit_texts(src, u, take):
                    yield from _documents(src, t, self.cat, take)
            return
        # documents: rank every text of the source by a seeded hash of its origin, then process
        # lazily, so only the texts that are taken pay for tidying, splitting and hashing
        texts = [t for u in units for t in _unit_texts(src, u, take)]
        texts.sort(key=lambda t: rank(self.seed, e.name, t.origin))
        for t in texts:
            yield from _documents(src, t, self.cat, take)

    def _accepted(self) -> Iterator[Document]:
        keep = self.src.entry.keep_langs
        for doc in self._candidates():
            lang = doc.metadata["lang"]
            if keep and lang not in keep:
                self.take.dropped[f"lang_{lang}"] += 1
            elif doc.id in self.seen:
                self.take.dropped["duplicate"] += 1
            else:
                self.seen.add(doc.id)
                yield doc

    def take_bytes(self, target: int, out: list[Document], on_bytes: Callable[[int], None]) -> int:
        """Append documents until `target` more bytes are taken (or the source runs dry)."""
        self.take.target_bytes += target
        got = 0
        while got < target:
            doc = next(self._stream, None)
            if doc is None:
                self.exhausted = True
                break
            n = len(doc.text.encode("utf-8", "surrogatepass"))
            out.append(doc)
            got += n
            self.take.documents += 1
            self.take.characters += len(doc.text)
            self.take.bytes += n
            on_bytes(n)
        return got


def fill_domain(
    sources: list[OpenSource],
    budget: int,
    cat: Catalogue,
    seed: int,
    seen: set[str],
    on_bytes: Callable[[int], None] = lambda n: None,
) -> tuple[list[Document], dict[str, SourceTake]]:
    """Documents for one domain (sorted by id), and what each source contributed.

    Each round gives every source that still has text its weight's share of what is left, so a
    source that runs short leaves its share to the others instead of leaving the domain short.
    """
    docs: list[Document] = []
    cursors = [SourceCursor(s, cat, seed, seen) for s in sources if s.reader is not None]
    remaining = budget
    while remaining > 0:
        live = [c for c in cursors if not c.exhausted]
        if not live:
            break
        weight = sum(c.src.entry.weight for c in live)
        for c in live:
            share = max(1, int(round(remaining * c.src.entry.weight / weight)))
            got = c.take_bytes(share, docs, on_bytes)
            remaining -= got
            weight -= c.src.entry.weight
            if remaining <= 0:
                break
    docs.sort(key=lambda d: d.id)
    return docs, {c.src.entry.name: c.take for c in cursors}


def take_report(src: OpenSource, take: SourceTake | None) -> dict[str, Any]:
    e = src.entry
    rep: dict[str, Any] = {"name": e.name, "domain": src.domain, "reader": e.reader, "license": e.license,
                           "path": src.root, "weight": e.weight}
    if src.skipped:
        rep.update(status="skipped", reason=src.skipped)
        return rep
    take = take or SourceTake()
    rep.update(status="used" if take.documents else "unused", fingerprint=src.fingerprint, units=len(src.units),
               units_read=take.units_read, target_bytes=take.target_bytes, documents=take.documents,
               characters=take.characters, bytes=take.bytes, dropped=dict(sorted(take.dropped.items())))
    if take.errors:
        rep["errors"] = take.errors
    return rep
