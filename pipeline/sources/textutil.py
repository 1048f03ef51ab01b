"""Text helpers shared by the offline source readers: script statistics and natural-boundary splits.

Sources differ wildly in document size (a 40 MB dictionary file, a one-line review), so every reader
hands its text to `split_sections`, which cuts only at natural boundaries (blank lines, then line
ends, then sentence ends) and keeps each piece under a size cap.
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")
_SENTENCE_END = re.compile(r"(?<=[。！？；.!?;])\s*")
_TRAILING_WS = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# A top-level statement after a blank line: where a Python module splits without cutting a body.
_CODE_BOUNDARY = re.compile(r"\n[ \t]*\n(?=[^ \t\n#])")


def han_count(text: str) -> int:
    return len(_HAN.findall(text))


def script_lang(text: str, zh_min: float = 0.3, en_max: float = 0.05) -> str:
    """zh / en / mixed from the share of Han among Han + Latin letters.

    A Chinese manual full of command names is still Chinese to a reader, so the zh threshold is
    on letters, not on all characters; text with almost no Han is English.
    """
    han = han_count(text)
    latin = len(_LATIN.findall(text))
    if han + latin == 0:
        return "en"
    share = han / (han + latin)
    if share >= zh_min:
        return "zh"
    if share <= en_max:
        return "en"
    return "mixed"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def tidy(text: str) -> str:
    """Normalise line ends and whitespace runs without touching the words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _TRAILING_WS.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def _hard_pieces(block: str, max_chars: int, keep_indent: bool = False) -> list[str]:
    """Split one over-long block at line ends, then sentence ends, then (last resort) every max_chars."""
    out: list[str] = []
    for unit_re in (re.compile(r"(?<=\n)"), _SENTENCE_END):
        if len(block) <= max_chars:
            break
        parts = [p for p in unit_re.split(block) if p]
        if len(parts) > 1:
            return _pack(parts, max_chars, "", keep_indent)
    while len(block) > max_chars:
        out.append(block[:max_chars])
        block = block[max_chars:]
    if block:
        out.append(block)
    return out


def _pack(parts: list[str], max_chars: int, sep: str, keep_indent: bool = False) -> list[str]:
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    for part in parts:
        if len(part) > max_chars:
            if cur:
                chunks.append(sep.join(cur))
                cur, size = [], 0
            chunks.extend(_hard_pieces(part, max_chars, keep_indent))
            continue
        extra = len(part) + (len(sep) if cur else 0)
        if cur and size + extra > max_chars:
            chunks.append(sep.join(cur))
            cur, size = [], 0
            extra = len(part)
        cur.append(part)
        size += extra
    if cur:
        chunks.append(sep.join(cur))
    # Code keeps its leading indentation; prose loses surrounding whitespace.
    cleaned = [c.strip("\n").rstrip() if keep_indent else c.strip() for c in chunks]
    return [c for c in cleaned if c.strip()]


def split_sections(text: str, max_chars: int, code: bool = False) -> list[str]:
    """Cut `text` into pieces of at most `max_chars`, at paragraph (or top-level code) boundaries."""
    text = text.strip("\n") if code else text.strip()
    if len(text) <= max_chars:
        return [text] if text.strip() else []
    boundary = _CODE_BOUNDARY if code else _BLANKS
    return _pack(boundary.split(text), max_chars, "\n\n", keep_indent=code)
