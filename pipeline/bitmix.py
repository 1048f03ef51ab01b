"""Vectorised 64-bit integer mixing (the splitmix64 finaliser), shared by MinHash shingling, shard
packing order and the training sampler: one definition, because each of their outputs (signatures,
document order, window order) is part of a versioned artifact or an exact resume."""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
GOLDEN_GAMMA = _U64(0x9E3779B97F4A7C15)


def fmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection of uint64 that spreads every input bit over the word."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A stateless 64-bit mixer: a fixed, version-independent permutation of uint64 values."""
    return fmix64(x.astype(_U64) + GOLDEN_GAMMA)
