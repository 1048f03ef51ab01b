"""The base alphabet of a byte-fallback BPE: the most frequent characters of the training sample.

Chosen here rather than by the trainer's `limit_alphabet`, whose ties between equally rare
characters fall in hash-map order (so two trainings could keep different characters). Ties are
broken by code point, which makes the alphabet, and therefore the vocabulary, deterministic.
Characters left out are still encoded exactly, as byte tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def count_chars(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(t)
    return counts


def choose_alphabet(counts: Counter[str], coverage: float) -> list[str]:
    """Most frequent characters until they cover `coverage` of all character occurrences."""
    total = sum(counts.values())
    chosen: list[str] = []
    covered = 0
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], ord(kv[0]))):
        if total and covered / total >= coverage:
            break
        chosen.append(ch)
        covered += n
    return sorted(chosen, key=ord)
