"""Unicode clean-up that never changes what a careful reader would see.

NFC (never NFKC: that would fold Chinese full-width punctuation ，。：（） to ASCII), control
characters out (\n and \t stay), odd spaces and zero-width characters fixed, CRLF to LF, trailing
spaces and runs of blank lines trimmed, and mojibake repaired with ftfy's `fix_encoding` only when
ftfy's badness heuristic says the text looks mis-decoded. Each change is recorded by name.

ftfy's heuristic is one big regex search (~15 MB/s), and most non-ASCII text (all Chinese) cannot
match it: every alternative of the regex needs characters from a few hundred rare non-ASCII ones
(C1 controls, accented Latin, box drawing, ...) that a fast character-class scan finds. `BadnessGate`
reads those required character sets out of ftfy's own regex and runs the full search only when
some alternative has all of its required sets present, so the answer is always ftfy's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f]")  # not U+3000, the ideographic space
_ZERO_WIDTH = re.compile(r"[\u200b\u2060\ufeff]")
_TRAILING = re.compile(r"[ \t]+(?=\n|\Z)")
# any character the first three patterns above remove or replace, found in one scan
_DIRTY_CHARS = re.compile("[" + "".join(p.pattern[1:-1] for p in (_CONTROLS, _ODD_SPACES, _ZERO_WIDTH)) + "]")
# the ASCII ones (controls only), for a byte scan of ASCII text (bytes.translate runs ~10x a regex)
_DIRTY_ASCII = bytes(c for c in range(128) if _DIRTY_CHARS.match(chr(c)))


def _dirty(text: str, ascii_text: bool) -> bool:
    """`_DIRTY_CHARS.search(text)` is not None."""
    if ascii_text:
        raw = text.encode("ascii")
        return len(raw.translate(None, _DIRTY_ASCII)) != len(raw)
    return _DIRTY_CHARS.search(text) is not None


@dataclass
class NormalizeConfig:
    nfc: bool = True
    mojibake: bool = True
    controls: bool = True
    newlines: bool = True
    odd_spaces: bool = True
    zero_width: bool = True
    trailing_spaces: bool = True
    max_blank_lines: int = 1


def _required_sets(alternative) -> list[frozenset[str]]:
    """Character sets that every match of one regex alternative must draw a character from:
    its non-optional single-character items made only of non-ASCII characters."""
    from re import _constants as C

    out = []
    for op, av in alternative.data:
        chars: set[str] | None = None
        if op is C.LITERAL:
            chars = {chr(av)}
        elif op is C.IN:
            chars = set()
            for iop, iav in av:
                if iop is C.LITERAL:
                    chars.add(chr(iav))
                elif iop is C.RANGE:
                    chars.update(map(chr, range(iav[0], iav[1] + 1)))
                else:  # NEGATE, CATEGORY: not a finite set
                    chars = None
                    break
        if chars and all(ord(ch) > 127 for ch in chars):
            out.append(frozenset(chars))
    return out


class BadnessGate:
    """Exact fast path for `ftfy.badness.is_bad` (see the module docstring)."""

    def __init__(self):
        from ftfy.badness import BADNESS_RE, is_bad

        self.is_bad = is_bad
        self.alternatives: list[list[frozenset[str]]] | None = None
        try:
            from re import _constants as C
            from re import _parser

            tree = _parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
            if len(tree.data) == 1 and tree.data[0][0] is C.BRANCH:
                alts = [_required_sets(a) for a in tree.data[0][1][1]]
                if all(alts):  # each alternative needs at least one rare character
                    self.alternatives = alts
        except (ImportError, AttributeError, TypeError, ValueError, re.error):
            self.alternatives = None
        if self.alternatives is not None:
            rare = sorted(set().union(*(s for a in self.alternatives for s in a)))
            self._rare = re.compile("[" + "".join(re.escape(ch) for ch in rare) + "]")

    def __call__(self, text: str) -> bool:
        if self.alternatives is None:
            return self.is_bad(text)
        found = set(self._rare.findall(text))
        if found and any(all(not found.isdisjoint(s) for s in alt) for alt in self.alternatives):
            return self.is_bad(text)
        return False


@lru_cache(1)
def badness_gate() -> BadnessGate:
    return BadnessGate()


def normalize(text: str, cfg: NormalizeConfig) -> tuple[str, list[str]]:
    """(clean text, names of the fixes that changed something)."""
    fixes: list[str] = []

    def step(name: str, new: str) -> None:
        nonlocal text
        if new != text:
            fixes.append(name)
            text = new

    if cfg.newlines and "\r" in text:
        step("newlines", text.replace("\r\n", "\n").replace("\r", "\n"))
    if cfg.mojibake and not text.isascii():
        if badness_gate()(text):
            from ftfy import fix_encoding

            step("mojibake", fix_encoding(text))
    if cfg.nfc and not text.isascii() and not unicodedata.is_normalized("NFC", text):
        step("nfc", unicodedata.normalize("NFC", text))
    if _dirty(text, text.isascii()):  # else these three steps would change nothing
        if cfg.controls:
            step("controls", _CONTROLS.sub("", text))
        if cfg.odd_spaces and not text.isascii():
            step("odd_spaces", _ODD_SPACES.sub(" ", text))
        if cfg.zero_width and not text.isascii():
            step("zero_width", _ZERO_WIDTH.sub("", text))
    if cfg.trailing_spaces and (" \n" in text or "\t\n" in text or text.endswith((" ", "\t"))):
        step("trailing_spaces", _TRAILING.sub("", text))
    if cfg.max_blank_lines >= 0:
        runs = re.compile("\n{" + str(cfg.max_blank_lines + 2) + ",}")
        step("blank_lines", runs.sub("\n" * (cfg.max_blank_lines + 1), text))
    step("strip", text.strip())
    return text, fixes
