"""MinHash signatures, LSH banding with verification, and connected components, in numpy.

Why not datatrove's MinHash stages: their LSH is banding alone (a pair is a duplicate as soon as
one band matches). No bands × rows split of a reasonable signature meets both of our targets
(recall >= 0.95 at Jaccard >= 0.8 *and* false positives <= 1% at Jaccard <= 0.5): 14 × 8 catches
only 92% of pairs at 0.8, and a steeper curve needs several hundred hashes. Here banding only
proposes candidates (20 × 6 catches 99.8% at 0.8) and every candidate is then verified by the
fraction of all 120 MinHash values the two signatures share (an unbiased Jaccard estimate,
standard deviation <= 0.046), kept when it reaches `threshold` (0.7 by default: 2.7 standard
deviations below 0.8 and 4.4 above 0.5). Cluster survivors are chosen deterministically (see
`dedup.py`), which datatrove's union-by-size roots are not.

Hash family: h_i(x) = high 32 bits of (a_i * x + b_i) mod 2**64 with odd a_i. This is multiply-shift
hashing, adequate because shingle hashes are already fully mixed (splitmix64 finaliser); measured
estimates are unbiased with the binomial standard deviation (see tests/test_dedup_minhash.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..typed_config import speed_only

SIG_DTYPE = np.uint32


@dataclass
class MinHashConfig:
    bands: int = 20
    rows: int = 6
    threshold: float = 0.7  # minimum estimated Jaccard (share of equal MinHash values) of a pair
    seed: int = 1
    max_bucket_all_pairs: int = 64  # buckets up to this size: all pairs verified; larger: see `candidate_pairs`
    chunk_shingles: int = speed_only(4096)  # shingles hashed at once (bounds memory on huge documents)

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1:
            raise UserError("dedup minhash.bands and minhash.rows must be >= 1")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"dedup minhash.threshold must be in (0, 1], got {self.threshold}")
        if self.max_bucket_all_pairs < 2:
            raise UserError("dedup minhash.max_bucket_all_pairs must be >= 2")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that banding proposes a pair of the given Jaccard similarity."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


class MinHasher:
    """Signatures for shingle arrays; parameters depend only on (seed, num_perm), so every worker agrees."""

    def __init__(self, cfg: MinHashConfig):
        self.cfg = cfg
        rng = np.random.Generator(np.random.PCG64(cfg.seed))
        k = cfg.num_perm
        self.a = (rng.integers(0, 1 << 63, size=k, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.b = rng.integers(0, np.iinfo(np.uint64).max, size=k, dtype=np.uint64, endpoint=True)

    def signature(self, shingles: np.ndarray) -> np.ndarray | None:
        """The MinHash signature (num_perm uint32 values), or None for a document without shingles."""
        if shingles.size == 0:
            return None
        best = np.full(self.cfg.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        step = self.cfg.chunk_shingles
        with np.errstate(over="ignore"):
            for i in range(0, shingles.size, step):
                block = np.multiply(shingles[i : i + step, None], self.a[None, :])
                block += self.b[None, :]
                np.minimum(best, block.min(axis=0), out=best)
        # The minimum of the high halves is the high half of the minimum (shifting keeps order).
        return (best >> np.uint64(32)).astype(SIG_DTYPE)


def band_keys(sigs: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """(docs, bands) uint64 keys: one hash per band of `rows` signature values."""
    n = sigs.shape[0]
    keys = np.zeros((n, cfg.bands), dtype=np.uint64)
    s = sigs.astype(np.uint64)
    mults = _odd_constants(cfg.rows)
    with np.errstate(over="ignore"):
        for band in range(cfg.bands):
            acc = np.zeros(n, dtype=np.uint64)
            for r in range(cfg.rows):
                acc += s[:, band * cfg.rows + r] * mults[r]
            keys[:, band] = acc ^ (acc >> np.uint64(29))
    return keys


def _odd_constants(k: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(0x5EED))
    return (rng.integers(0, 1 << 63, size=k, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)


def candidate_pairs(sigs: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """Unique (i, j), i < j, of rows sharing at least one band key.

    Within a bucket (rows with equal key, ordered by row index) every pair is proposed when the
    bucket holds at most `max_bucket_all_pairs` rows; a larger bucket (boilerplate) proposes each
    row with the bucket's first row and with its next `max_bucket_all_pairs - 1` neighbours, which
    keeps the work linear while a true cluster stays connected.
    """
    n = sigs.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    keys = band_keys(sigs, cfg)
    found: list[np.ndarray] = []
    for band in range(cfg.bands):
        order = np.argsort(keys[:, band], kind="stable")
        sk = keys[order, band]
        new_run = np.ones(n, dtype=bool)
        new_run[1:] = sk[1:] != sk[:-1]
        run_id = np.cumsum(new_run) - 1
        run_start = np.flatnonzero(new_run)
        # Star pairs: every row with the first row of its bucket.
        first = order[run_start[run_id]]
        star = first != order
        found.append(np.stack([first[star], order[star]], axis=1))
        # Neighbour pairs at distance d (all pairs in buckets no larger than max_bucket_all_pairs).
        for d in range(2, cfg.max_bucket_all_pairs):
            same = run_id[d:] == run_id[:-d]
            if not same.any():
                break
            idx = np.flatnonzero(same)
            found.append(np.stack([order[idx], order[idx + d]], axis=1))
        same1 = np.flatnonzero(run_id[1:] == run_id[:-1])
        found.append(np.stack([order[same1], order[same1 + 1]], axis=1))
    pairs = np.concatenate(found).astype(np.int64)
    if pairs.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs.sort(axis=1)
    flat = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([flat // n, flat % n], axis=1)


def estimated_jaccard(sigs: np.ndarray, pairs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Share of equal signature values for each pair (vectorised, in chunks)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for i in range(0, len(pairs), chunk):
        p = pairs[i : i + chunk]
        out[i : i + chunk] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return out


def duplicate_pairs(sigs: np.ndarray, cfg: MinHashConfig) -> tuple[np.ndarray, int]:
    """Verified near-duplicate pairs, and how many candidates banding proposed."""
    cand = candidate_pairs(sigs, cfg)
    if len(cand) == 0:
        return cand, 0
    keep = estimated_jaccard(sigs, cand) >= cfg.threshold - 1e-12
    return cand[keep], len(cand)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of `n` nodes: the smallest node index in its component.

    Min-label propagation with pointer jumping: order-independent, so the partition depends only on
    the set of pairs.
    """
    labels = np.arange(n, dtype=np.int64)
    if len(pairs) == 0:
        return labels
    i, j = pairs[:, 0], pairs[:, 1]
    while True:
        m = np.minimum(labels[i], labels[j])
        before = labels.copy()
        np.minimum.at(labels, i, m)
        np.minimum.at(labels, j, m)
        while True:  # pointer jumping: follow labels to their fixed point
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels
