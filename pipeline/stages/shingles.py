"""Shingles for near-duplicate detection that work for Chinese, English, mixed text and code alike.

Text is read as a stream of *units*: every Han / kana character is a unit on its own, and every
maximal run of other word characters (Python's Unicode ``\\w``: letters, digits, underscore) is a
unit (an English or code word). Whitespace and punctuation only separate units. Shingles are the
hashes of ``n`` consecutive units, so Chinese gets character n-grams and English word n-grams from
one rule, and a mixed zh/en document is shingled consistently whichever language label it carries.

Why this and not datatrove's per-language word tokenizers: Chinese character n-grams need no word
segmentation at all, and the Latin word split is a fixed regular-expression rule that is evaluated
here fully vectorised over Unicode code points with numpy (no per-word Python work), so dedup never
runs jieba or spaCy a second time after the clean stage. `reference_units` is the plain ``re``
statement of the same rule; a test proves the vectorised hashes agree with it.

Normalisation before shingling: NFC, then ``str.casefold`` (Latin/Greek/Cyrillic case folding;
a no-op for Han). Digits are kept as they are (folding them would merge templated documents that
differ only in their numbers, such as the math domain's generated problems).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..bitmix import fmix64

# Code point ranges whose characters are units on their own (no spaces between words in the script).
SINGLE_CHAR_RANGES: tuple[tuple[int, int], ...] = (
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x31F0, 0x31FF),  # katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x323AF),  # CJK extensions B..H and compatibility supplement
)

_SINGLE_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in SINGLE_CHAR_RANGES)
UNIT_RE = re.compile(rf"[{_SINGLE_CLASS}]|[^\W{_SINGLE_CLASS}]+")

_M64 = (1 << 64) - 1
_BASE = 0x100000001B3  # odd, so powers never vanish mod 2**64
_LEN_MIX = 0x9E3779B97F4A7C15
# One odd multiplier per position inside an n-gram (order-sensitive combination).
_POS_MULT = (
    0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3,
    0x589965CC75374CC3, 0x1D8E4E27C47D124F, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
    0x27D4EB2F165667C5, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9, 0xFF51AFD7ED558CCD,
)
MAX_N = len(_POS_MULT)


@dataclass
class ShingleConfig:
    """How documents become shingle sets (recorded in the dedup config, hence in the version id)."""

    n: int = 5  # units per shingle: 5 Han characters or 5 words

    def __post_init__(self) -> None:
        from ..errors import UserError

        if not 1 <= self.n <= MAX_N:
            raise UserError(f"dedup shingles.n must be between 1 and {MAX_N}, got {self.n}")


def normalize_for_shingles(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """Per code point: 0 separator, 1 word character, 2 single-character unit (built once, ~0.2 s)."""
    table = np.zeros(0x110000, dtype=np.uint8)
    every = "".join(map(chr, range(0x110000)))
    table[[m.start() for m in re.finditer(r"\w", every)]] = 1
    for lo, hi in SINGLE_CHAR_RANGES:
        table[lo : hi + 1] = 2
    return table


@lru_cache(maxsize=1)
def _powers(length: int) -> np.ndarray:
    p = np.full(length, _BASE, dtype=np.uint64)
    p[0] = 1
    return np.cumprod(p, dtype=np.uint64)  # wraps mod 2**64, as intended


def unit_hashes(text: str) -> np.ndarray:
    """64-bit hashes of the text's units, in order (vectorised over code points)."""
    norm = normalize_for_shingles(text)
    if not norm:
        return np.zeros(0, dtype=np.uint64)
    cps = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = _class_table()[cps]
    kept = np.flatnonzero(cls)
    if kept.size == 0:
        return np.zeros(0, dtype=np.uint64)
    kcls = cls[kept]
    # A unit starts at every single-character unit, and at a word character not preceded by one.
    prev_word = np.zeros(kept.size, dtype=bool)
    prev_word[1:] = (kcls[:-1] == 1) & (kept[1:] == kept[:-1] + 1)
    starts = np.flatnonzero((kcls == 2) | ~prev_word)
    is_start = np.zeros(kept.size, dtype=bool)
    is_start[starts] = True
    unit_of = np.cumsum(is_start) - 1
    offset = np.arange(kept.size) - starts[unit_of]
    powers = _powers(_pow_len(int(offset.max()) + 1))
    with np.errstate(over="ignore"):
        contrib = (cps[kept].astype(np.uint64) + np.uint64(1)) * powers[offset]
        raw = np.add.reduceat(contrib, starts)
        lengths = np.diff(np.append(starts, kept.size)).astype(np.uint64)
        return fmix64(raw + lengths * np.uint64(_LEN_MIX))


def _pow_len(needed: int) -> int:
    """Round the power table up to a power of two so the cache sees few distinct sizes."""
    size = 256
    while size < needed:
        size *= 2
    return size


def shingle_hashes(units: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every run of `n` consecutive units (one shingle when there are fewer)."""
    if units.size == 0:
        return np.zeros(0, dtype=np.uint64)
    n = min(n, units.size)
    count = units.size - n + 1
    acc = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            acc += units[k : k + count] * np.uint64(_POS_MULT[k])
        return fmix64(acc + np.uint64(n))


def shingles(text: str, n: int) -> np.ndarray:
    return shingle_hashes(unit_hashes(text), n)


# --- the plain-Python statement of the same rule (tests compare the vectorised code against it) ---


def reference_units(text: str) -> list[str]:
    return UNIT_RE.findall(normalize_for_shingles(text))


def reference_unit_hash(unit: str) -> int:
    acc = 0
    for k, ch in enumerate(unit):
        acc = (acc + (ord(ch) + 1) * pow(_BASE, k, 1 << 64)) & _M64
    return _fmix64_int((acc + len(unit) * _LEN_MIX) & _M64)


def reference_shingle_hashes(units: list[str], n: int) -> list[int]:
    hs = [reference_unit_hash(u) for u in units]
    if not hs:
        return []
    n = min(n, len(hs))
    out = []
    for j in range(len(hs) - n + 1):
        acc = sum(hs[j + k] * _POS_MULT[k] for k in range(n)) & _M64
        out.append(_fmix64_int((acc + n) & _M64))
    return out


def _fmix64_int(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)
