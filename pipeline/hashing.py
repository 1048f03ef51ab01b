"""Content hashing shared by every stage: canonical JSON, short version ids, file digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

VERSION_LEN = 12


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal configs hash equally."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def version_id(stage: str, config: Any, parents: dict[str, str] | None = None) -> str:
    """A content-derived version: a short hash of the stage name, its config and its inputs' versions."""
    payload = canonical_json({"stage": stage, "config": config, "parents": parents or {}})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:VERSION_LEN]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def text_id(*parts: str) -> str:
    """A stable document id derived from content (used when a source has no id of its own)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
