"""The held-out validation split: per domain, by a stable hash of the document id.

Run after dedup (the balance stage reads the dedup output), so no near-duplicate pair can straddle
the split: dedup has already kept a single copy of every cluster.

Rule, per domain: a document is held out when `u(id) < val_fraction`, where `u` is the id's salted
blake2b hash read as a fraction of 2**64. Because the test looks at the id alone, adding or removing
*other* documents never moves a document across the split. When that gives fewer than
`min_val_docs` documents, the next documents in `u` order are added until the minimum is reached,
never taking more than `max_val_share` of the domain (a domain keeps at least one training
document). Only in that small-domain case can a newcomer with a smaller `u` displace one.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass
class SplitConfig:
    val_fraction: float = 0.02
    min_val_docs: int = 10
    max_val_share: float = 0.5  # never hold out more than this share of a domain's documents
    salt: str = "symboliclight-val-v1"

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError(f"balance split.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.min_val_docs < 0:
            raise UserError("balance split.min_val_docs must be >= 0")
        if not 0.0 <= self.max_val_share < 1.0:
            raise UserError(f"balance split.max_val_share must be in [0, 1), got {self.max_val_share}")


def stable_key(doc_id: str, salt: str) -> int:
    """A 64-bit unsigned hash of the id, salted (so different uses of ids draw independently)."""
    h = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode("utf-8")[:64])
    return int.from_bytes(h.digest(), "big")


def stable_keys(ids: np.ndarray | list[str], salt: str) -> np.ndarray:
    return np.fromiter((stable_key(str(i), salt) for i in ids), dtype=np.uint64, count=len(ids))


def held_out(keys: np.ndarray, ids: np.ndarray, cfg: SplitConfig, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of validation documents among one domain's documents (keys from `stable_keys`;
    `tiebreak`, e.g. input position, orders documents that share an id)."""
    n = len(keys)
    val = keys < np.uint64(min(int(cfg.val_fraction * 2.0**64), 2**64 - 1))
    limit = math.floor(cfg.max_val_share * n)
    want = min(cfg.min_val_docs, limit)
    if int(val.sum()) < want:
        last = np.arange(n) if tiebreak is None else tiebreak
        order = np.lexsort((last, ids, keys))  # u order, then id, then the given tie-break
        val[order[:want]] = True
    return val
