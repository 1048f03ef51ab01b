"""Line and paragraph measures of a document that the Gopher and FineWeb rules read, in one pass.

`line_stats(text)` is the definition, written the way datatrove's filters compute each measure
(`str.strip`, `re.split`, `collections.Counter` over lines and paragraphs, `str.count`);
`line_stats_batch(texts)` gives the same numbers for many documents with one call into C
(`text_native`) when it is available. A test holds the two equal on real text and edge cases.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

import numpy as np
from datatrove.utils.text import TERMINAL_PUNCTUATION

_PARA = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
_TERMINAL = tuple(TERMINAL_PUNCTUATION)
_BULLETS = ("•", "-")
_ELLIPSES = ("...", "…")


class LineStats(NamedTuple):
    chars: int             # len(text)
    paragraphs: int        # pieces of text.strip() between runs of two or more newlines
    para_dup: int          # paragraphs that repeat an earlier one
    para_dup_chars: int    # their characters
    lines: int             # pieces of text between runs of newlines (empty ends included)
    line_dup: int
    line_dup_chars: int
    nonblank: int          # lines of text.split("\n") with a non-space character
    terminal: int          # ... of them ending in terminal punctuation
    short: int             # ... of them at most `short_len` characters long
    nonblank_dup_chars: int  # characters of non-blank lines that repeat an earlier one
    newlines: int          # text.count("\n")
    hashes: int            # text.count("#")
    ellipses: int          # text.count("...") + text.count("…")
    split_lines: int       # len(text.splitlines())
    bullet_lines: int      # ... of them starting with • or - after leading whitespace
    ellipsis_lines: int    # ... of them ending with ... or … before trailing whitespace


def dup_counts(items: list[str]) -> tuple[int, int]:
    """(items after the first of their kind, their characters), as datatrove's `find_duplicates`."""
    counts = Counter(items)
    if len(counts) == len(items):
        return 0, 0
    dup = chars = 0
    for item, c in counts.items():
        if c > 1:
            dup += c - 1
            chars += (c - 1) * len(item)
    return dup, chars


def line_stats(text: str, short_len: int = 30) -> LineStats:
    stripped = text.strip()
    paragraphs = _PARA.split(stripped) if "\n\n" in stripped else [stripped]
    lines = _LINES.split(text) if "\n\n" in text else text.split("\n")
    nonblank = [ln for ln in text.split("\n") if ln.strip() != ""]
    split = text.splitlines()
    p_dup, p_chars = dup_counts(paragraphs)
    l_dup, l_chars = dup_counts(lines)
    return LineStats(
        chars=len(text), paragraphs=len(paragraphs), para_dup=p_dup, para_dup_chars=p_chars,
        lines=len(lines), line_dup=l_dup, line_dup_chars=l_chars,
        nonblank=len(nonblank), terminal=sum(1 for ln in nonblank if ln.endswith(_TERMINAL)),
        short=sum(1 for ln in nonblank if len(ln) <= short_len), nonblank_dup_chars=dup_counts(nonblank)[1],
        newlines=text.count("\n"), hashes=text.count("#"), ellipses=text.count("...") + text.count("…"),
        split_lines=len(split), bullet_lines=sum(1 for ln in split if ln.lstrip().startswith(_BULLETS)),
        ellipsis_lines=sum(1 for ln in split if ln.rstrip().endswith(_ELLIPSES)))


_TERMINAL_CODES = np.array(sorted(ord(ch) for ch in TERMINAL_PUNCTUATION), np.int32)


def line_stats_batch(texts: list[str], short_len: int = 30, native: bool = True) -> list[LineStats]:
    """`line_stats` for every text, in C when available (`native=False`: always Python)."""
    from .text_native import library, line_stats_native

    lib = library() if native else None
    if lib is None or not texts:
        return [line_stats(t, short_len) for t in texts]
    rows = line_stats_native(lib, texts, short_len, _TERMINAL_CODES)
    return [LineStats(*r) for r in rows.tolist()]
