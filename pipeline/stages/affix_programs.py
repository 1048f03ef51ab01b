"""spaCy's prefix, suffix and infix regexes, restated as small matching programs over ASCII for C.

spaCy's English affix regexes are alternations of short pieces: a fixed run of character classes,
sometimes between one-class look-arounds (`(?<=[0-9])km`, `(?<=[a-z])-(?=[a-z])`) or a run of one
class (`\\.\\.+`). For ASCII text such a piece is a sequence of 128-bit character sets, so C can
decide what `prefix_search`, `suffix_search` and `infix_finditer` would return without a regex
engine. This module reads the parsed regex (`re._parser`), expands inner alternations and short
repeats, and computes each class's ASCII members by asking Python's own compiled regex about
every ASCII character.

Semantics kept: the prefix regex (`^...`) returns the first alternative, in order, that matches at
position 0; the suffix regex (`...$`, searched left to right) returns the match that starts
leftmost, i.e. the longest; infixes are found left to right, the first alternative in order at
each position, scanning on after each match. `mandatory_ascii` lists characters every match of a
regex consumes, which rules spaCy's URL pattern out for most chunks (a URL needs a dot). Any
piece outside these shapes makes its edge characters "complex", and the C splitter leaves chunks
that need them to the Python splitter, so the result is always spaCy's. Tests compare the two
splitters on every distinct chunk of real text and on fuzzed ASCII.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from re import _compiler, _parser
from re import _constants as C

import numpy as np

MAX_EXPANSION = 4096  # alternatives one regex piece may expand into before it counts as complex
MAX_REPEAT_EXPAND = 4  # bounded repeats up to this many copies are expanded


class Complex(Exception):
    """A regex piece outside the shapes the C matcher handles."""


@dataclass
class Program:
    """One alternative over ASCII: `behind` sets checked just before the match and `ahead` sets
    just after it (`*_neg`: a negative look-around), then either the fixed `seq` of sets or, if
    `run_min`, a greedy run of at least `run_min` characters of `seq[0]`."""

    seq: list[int]
    behind: list[int] = field(default_factory=list)
    behind_neg: bool = False
    ahead: list[int] = field(default_factory=list)
    ahead_neg: bool = False
    run_min: int = 0


def _ascii_set(item, state) -> int:
    """Bitmask of the ASCII characters one single-character item matches (Python decides)."""
    pat = _compiler.compile(_parser.SubPattern(state, [item]), state.flags)
    mask = 0
    for code in range(128):
        if pat.fullmatch(chr(code)):
            mask |= 1 << code
    return mask


def _expand(items: list, state) -> list[list]:
    """The item list as a list of flat alternatives of ('set', mask) / ('run', mask, min) /
    ('assert', dir, negative, [alternatives]) elements."""
    alts: list[list] = [[]]
    for op, av in items:
        if op in (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY):
            piece = [[("set", _ascii_set((op, av), state))]]
        elif op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise Complex("inline flags")
            piece = _expand(list(sub), state)
        elif op is C.BRANCH:
            piece = [alt for branch in av[1] for alt in _expand(list(branch), state)]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            inner = _expand(list(sub), state)
            if len(inner) != 1 or len(inner[0]) != 1 or inner[0][0][0] != "set":
                raise Complex("repeat of a non-character")
            mask = inner[0][0][1]
            if hi is C.MAXREPEAT:
                piece = [[("run", mask, lo)]]
            elif hi <= MAX_REPEAT_EXPAND:
                counts = range(hi, lo - 1, -1) if op is C.MAX_REPEAT else range(lo, hi + 1)
                piece = [[("set", mask)] * k for k in counts]
            else:
                raise Complex("long bounded repeat")
        elif op in (C.ASSERT, C.ASSERT_NOT):
            direction, sub = av
            piece = [[("assert", direction, op is C.ASSERT_NOT, _expand(list(sub), state))]]
        elif op is C.AT:
            piece = [[("at", av)]]
        else:
            raise Complex(f"regex op {op}")
        alts = [a + p for a in alts for p in piece]
        if len(alts) > MAX_EXPANSION:
            raise Complex("too many alternatives")
    return alts


def _fixed(alternatives: list[list]) -> list[int]:
    """A look-around body: exactly one alternative of plain sets."""
    if len(alternatives) != 1 or any(e[0] != "set" for e in alternatives[0]):
        raise Complex("look-around that is not a fixed sequence")
    return [e[1] for e in alternatives[0]]


def _program(elems: list, kind: str) -> Program | None:
    """One expanded alternative of a prefix (`^...`), suffix (`...$`) or infix regex as a Program;
    None when it can never match ASCII text there (an empty set, or a look-around that looks past
    the anchored edge of the string, where a positive one always fails)."""
    body = list(elems)
    if kind == "prefix":
        if not body or body[0] != ("at", C.AT_BEGINNING):
            raise Complex("unanchored prefix")
        body = body[1:]
    elif kind == "suffix":
        if not body or body[-1] != ("at", C.AT_END):
            raise Complex("unanchored suffix")
        body = body[:-1]
    looks: dict[int, tuple[list[int], bool]] = {}
    while body and body[0][0] == "assert" and body[0][1] == -1 and -1 not in looks:
        looks[-1] = (_fixed(body[0][3]), body[0][2])
        body = body[1:]
    while body and body[-1][0] == "assert" and body[-1][1] == 1 and 1 not in looks:
        looks[1] = (_fixed(body[-1][3]), body[-1][2])
        body = body[:-1]
    if any(e[0] in ("assert", "at") for e in body) or not body:
        raise Complex("look-around or anchor inside an alternative")
    # a look-behind before a prefix or a look-ahead after a suffix looks past the string's edge
    edge = {"prefix": -1, "suffix": 1}.get(kind)
    if edge in looks:
        if not looks.pop(edge)[1]:
            return None
    for seq, neg in looks.values():
        if not neg and not all(seq):
            return None
    behind, behind_neg = looks.get(-1, ([], False))
    ahead, ahead_neg = looks.get(1, ([], False))
    if any(e[0] == "run" for e in body):
        masks = {e[1] for e in body}
        if len(masks) != 1 or looks:
            raise Complex("run mixed with other classes or look-arounds")
        mask = masks.pop()
        total = sum(1 if e[0] == "set" else e[2] for e in body)
        return Program([mask], run_min=max(total, 1)) if mask else None
    seq = [e[1] for e in body]
    if not all(seq):
        return None
    return Program(seq, behind, behind_neg, ahead, ahead_neg)


@dataclass
class AffixPrograms:
    """Per ASCII edge character: the programs that can match starting (prefix) or ending (suffix)
    with it, in regex order, or `complex_chars` when the C matcher must not decide."""

    kind: str
    by_char: dict[int, list[Program]]
    complex_chars: set[int]


def affix_programs(pattern: re.Pattern, kind: str) -> AffixPrograms:
    """Programs for spaCy's `prefix`, `suffix` or `infix` regex, indexed by the ASCII character a
    match starts with (prefix, infix) or ends with (suffix)."""
    every = set(range(128))
    if pattern.flags & re.IGNORECASE:
        return AffixPrograms(kind, {}, every)
    tree = _parser.parse(pattern.pattern, pattern.flags)
    items = list(tree)
    if items and items[-1][0] is C.BRANCH:
        tops = [items[:-1] + list(b) for b in items[-1][1][1]]
    else:
        tops = [items]
    by_char: dict[int, list[Program]] = {}
    complex_chars: set[int] = set()
    for top in tops:
        try:
            programs = [p for elems in _expand(top, tree.state) if (p := _program(elems, kind)) is not None]
        except Complex:
            complex_chars |= _edge_ascii(top, kind == "suffix")
            continue
        for p in programs:
            edge = p.seq[0] if p.run_min else p.seq[-1 if kind == "suffix" else 0]
            for code in range(128):
                if edge >> code & 1:
                    by_char.setdefault(code, []).append(p)
    return AffixPrograms(kind, by_char, complex_chars)


def _edge_ascii(items: list, last: bool) -> set[int]:
    """ASCII characters a complex alternative may start (or end) with; all of them if unknown."""
    from .words import _edge_chars

    chars, _nullable = _edge_chars(items, last)
    if chars is None:
        return set(range(128))
    return {ord(ch) for ch in chars if ord(ch) < 128}


def mandatory_ascii(pattern: re.Pattern) -> int:
    """Bitmask of ASCII characters that every match of `pattern` must consume (0 if none is known).
    Used to rule a regex out cheaply: text lacking one of them cannot match. Non-ASCII mandatory
    characters are reported as bit 128 (such a regex never matches ASCII text)."""
    tree = _parser.parse(pattern.pattern, pattern.flags)
    if pattern.flags & re.IGNORECASE:
        return 0
    return _mandatory(list(tree), tree.state)


def _mandatory(items: list, state) -> int:
    mask = 0
    for op, av in items:
        if op is C.LITERAL:
            mask |= 1 << av if av < 128 else 1 << 128
        elif op is C.SUBPATTERN and not (av[1] or av[2]):
            mask |= _mandatory(list(av[3]), state)
        elif op is C.BRANCH:
            common = None
            for branch in av[1]:
                m = _mandatory(list(branch), state)
                common = m if common is None else common & m
            mask |= common or 0
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            mask |= _mandatory(list(av[2]), state)
    return mask


def pack(progs: AffixPrograms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat arrays for C: (start[129] per edge char into the record list, complex[128] flags,
    records int32 [n, 9]: seq_off, seq_len, behind_off, behind_len, behind_neg, ahead_off,
    ahead_len, ahead_neg, run_min; masks uint64 [m, 2]: low and high 64 bits of each set)."""
    start = np.zeros(129, np.int32)
    flags = np.zeros(128, np.int8)
    records: list[list[int]] = []
    masks: list[tuple[int, int]] = []

    def add(sets: list[int]) -> int:
        off = len(masks)
        masks.extend((m & (2**64 - 1), (m >> 64) & (2**64 - 1)) for m in sets)
        return off

    for code in range(128):
        start[code] = len(records)
        if code in progs.complex_chars:
            flags[code] = 1
            continue
        for p in progs.by_char.get(code, []):
            records.append([add(p.seq), len(p.seq), add(p.behind), len(p.behind), int(p.behind_neg),
                            add(p.ahead), len(p.ahead), int(p.ahead_neg), p.run_min])
    start[128] = len(records)
    rec = np.array(records, np.int32).reshape(-1, 9) if records else np.zeros((0, 9), np.int32)
    msk = np.array(masks, np.uint64).reshape(-1, 2) if masks else np.zeros((0, 2), np.uint64)
    return start, flags, np.ascontiguousarray(rec), np.ascontiguousarray(msk)


def _cache_path(pattern: re.Pattern, kind: str) -> Path:
    """A cache file named by everything the programs depend on: the regex, the kind, this module's
    code and the Python version (whose regex parser reads the pattern)."""
    key = hashlib.sha256("\0".join([pattern.pattern, str(pattern.flags), kind, sys.version,
                                     Path(__file__).read_text(encoding="utf-8")]).encode()).hexdigest()[:20]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "symboliclight" / "affix-programs" / f"{kind}-{key}.npz"


def packed_programs(pattern: re.Pattern, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`pack(affix_programs(pattern, kind))`, from a per-machine cache file once made (building
    them parses a 15k-character regex and tests ~1000 character classes: ~0.1 s per worker)."""
    path = _cache_path(pattern, kind)
    try:
        with np.load(path) as z:
            return z["start"], z["flags"], z["records"], z["masks"]
    except (OSError, ValueError, KeyError):
        pass
    arrays = pack(affix_programs(pattern, kind))
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, start=arrays[0], flags=arrays[1], records=arrays[2], masks=arrays[3])
        os.replace(tmp, path)
    return arrays
