"""Unicode clean-up that never changes what a careful reader would see.

NFC (never NFKC: that would fold Chinese full-width punctuation ，。：（） to ASCII), control
characters out (\n and \t stay), odd spaces and zero-width characters fixed, CRLF to LF, trailing
spaces and runs of blank lines trimmed, and mojibake repaired with ftfy's `fix_encoding` only when
ftfy's badness heuristic says the text looks mis-decoded. Each change is recorded by name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f]")  # not U+3000, the ideographic space
_ZERO_WIDTH = re.compile(r"[\u200b\u2060\ufeff]")
_TRAILING = re.compile(r"[ \t]+(?=\n|\Z)")


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
        from ftfy import fix_encoding
        from ftfy.badness import is_bad

        if is_bad(text):
            step("mojibake", fix_encoding(text))
    if cfg.nfc and not text.isascii() and not unicodedata.is_normalized("NFC", text):
        step("nfc", unicodedata.normalize("NFC", text))
    if cfg.controls:
        step("controls", _CONTROLS.sub("", text))
    if cfg.odd_spaces and not text.isascii():
        step("odd_spaces", _ODD_SPACES.sub(" ", text))
    if cfg.zero_width and not text.isascii():
        step("zero_width", _ZERO_WIDTH.sub("", text))
    if cfg.trailing_spaces:
        step("trailing_spaces", _TRAILING.sub("", text))
    if cfg.max_blank_lines >= 0:
        runs = re.compile("\n{" + str(cfg.max_blank_lines + 2) + ",}")
        step("blank_lines", runs.sub("\n" * (cfg.max_blank_lines + 1), text))
    step("strip", text.strip())
    return text, fixes
