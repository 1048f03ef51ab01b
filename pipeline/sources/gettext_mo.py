"""zh_CN gettext catalogues (`*.mo`): English UI strings paired with their Chinese translations.

The binary catalogue format is parsed directly (no `gettext` module state): a header, then two
tables of (length, offset) for the original and translated strings.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, Text, Unit, files_under


def mo_pairs(data: bytes) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs; contexts dropped, plural forms reduced to the first, header skipped."""
    if len(data) < 28:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic == 0x950412DE else ">" if magic == 0xDE120495 else None
    if end is None:
        return []
    _, n, o_orig, o_trans = struct.unpack(end + "4I", data[4:20])
    pairs = []
    for i in range(n):
        try:
            ol, oo = struct.unpack(end + "2I", data[o_orig + 8 * i:o_orig + 8 * i + 8])
            tl, to = struct.unpack(end + "2I", data[o_trans + 8 * i:o_trans + 8 * i + 8])
        except struct.error:
            break
        msgid = data[oo:oo + ol].decode("utf-8", errors="replace")
        msgstr = data[to:to + tl].decode("utf-8", errors="replace")
        msgid = msgid.split("\x04", 1)[-1].split("\x00", 1)[0].strip()
        msgstr = msgstr.split("\x00", 1)[0].strip()
        if msgid and msgstr and msgid != msgstr:
            pairs.append((msgid, msgstr))
    return pairs


@dataclass
class MoOptions:
    patterns: list[str] = field(default_factory=lambda: ["*.mo"])


class GettextCatalogues(Reader):
    """One unit per catalogue; each pair is an English line followed by its Chinese line."""

    Options = MoOptions

    def units(self) -> list[Unit]:
        return files_under(self.root, self.opts.patterns)

    def texts(self, unit: Unit) -> Iterator[Text]:
        pairs = mo_pairs(unit.path.read_bytes())
        if pairs:
            yield Text("\n\n".join(f"{en}\n{zh}" for en, zh in pairs), unit.key)
