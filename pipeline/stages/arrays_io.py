"""Checked intermediate files: named numpy arrays plus a sidecar with size and sha256.

MinHash intermediates that were truncated or half-written were datatrove's most reported dedup
failure ("Hash order error", "buffer of a multiple of 68 bytes"). Here every intermediate is
written under a temporary name and renamed, its sidecar (`<name>.json`: bytes, sha256, array
names) is written after it, and a reader refuses a file whose sidecar is missing or disagrees,
with one line naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import atomic_write_text
from ..errors import UserError
from ..hashing import sha256_file


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        for name in arrays:
            np.save(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    side = {"names": list(arrays), "bytes": path.stat().st_size, "sha256": sha256_file(path), "meta": meta or {}}
    atomic_write_text(_sidecar(path), json.dumps(side, sort_keys=True) + "\n")


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and meta of a checked file; a missing, truncated or altered file is a UserError."""
    path = Path(path)
    side_path = _sidecar(path)
    if not path.is_file() or not side_path.is_file():
        raise UserError(f"{path}: intermediate file missing or incomplete (rerun the step that writes it)")
    try:
        side = json.loads(side_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{side_path}: unreadable checksum sidecar") from None
    size = path.stat().st_size
    if size != side["bytes"]:
        raise UserError(f"{path}: size {size} does not match its sidecar ({side['bytes']}); file is corrupted")
    if sha256_file(path) != side["sha256"]:
        raise UserError(f"{path}: sha256 does not match its sidecar; file is corrupted")
    out = {}
    with open(path, "rb") as f:
        for name in side["names"]:
            out[name] = np.load(f, allow_pickle=False)
    return out, side.get("meta", {})


def is_complete(path: str | Path) -> bool:
    path = Path(path)
    return path.is_file() and _sidecar(path).is_file()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def walk_decisions(data, path: str | Path, rank: int, producer: str) -> Iterator[tuple[Any, dict, int | None]]:
    """Pair each document of a task with its row in the per-task decisions file `path`.

    Yields (document, decision arrays, row); row is None for documents already marked (quarantined
    lines the producing step never saw). The producing step ran on the same documents in the same
    order, so ids are checked row by row and the counts at the end: a changed input fails with a
    clear error instead of applying decisions to the wrong documents.
    """
    from .parts import is_marked

    path = Path(path)
    if not is_complete(path):
        raise UserError(f"{path}: no decisions for task {rank}; run the {producer} step first")
    dec, _ = load_arrays(path)
    n, idx = len(dec["ids"]), 0
    for doc in data or ():
        if is_marked(doc):
            yield doc, dec, None
            continue
        if idx >= n or str(doc.id) != dec["ids"][idx]:
            got = "an extra document" if idx >= n else f"id {doc.id!r} where {dec['ids'][idx]!r} was"
            raise UserError(f"{path}: input for task {rank} differs from the {producer} step "
                            f"({got} expected at position {idx})")
        yield doc, dec, idx
        idx += 1
    if idx != n:
        raise UserError(f"{path}: input for task {rank} has {idx} documents, the {producer} step saw {n}")
