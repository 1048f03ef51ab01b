"""Which corpus documents the tokenizer may learn from and which it is scored on.

A corpus with a held-out split (files under `val/`) is used as it is: training reads the other
files, the report reads `val/`. Until the data stages write such splits, a stable slice of the
documents chosen by a hash of their id is held out instead, and the report says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import Artifact
from symboliclight.pipeline.corpus_stats import corpus_files
from symboliclight.pipeline.documents import Document, read_jsonl_zst
from symboliclight.pipeline.errors import UserError

VAL_PREFIX = "val/"
_HELDOUT_SALT = b"symboliclight-tokenizer-heldout\x00"


def doc_key(doc_id: str, salt: bytes) -> int:
    """A stable 64-bit hash of a document id (order and membership never depend on file order)."""
    return int.from_bytes(hashlib.blake2b(salt + doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class CorpusSplit:
    """The training files and held-out files of a corpus artifact, and how the held-out part is chosen."""

    train_files: list[Path]
    heldout_files: list[Path]
    method: str  # "val_split" or "id_hash_slice"
    fraction: float

    def is_heldout(self, doc: Document) -> bool:
        if self.method == "val_split":
            return False
        return doc_key(doc.id, _HELDOUT_SALT) < self.fraction * 2.0**64

    def train_documents(self) -> Iterator[Document]:
        for path in self.train_files:
            for doc in read_jsonl_zst(path):
                if not self.is_heldout(doc):
                    yield doc

    def heldout_documents(self) -> Iterator[Document]:
        if self.method == "val_split":
            for path in self.heldout_files:
                yield from read_jsonl_zst(path)
            return
        for path in self.heldout_files:
            for doc in read_jsonl_zst(path):
                if self.is_heldout(doc):
                    yield doc

    def describe(self) -> dict[str, Any]:
        if self.method == "val_split":
            return {"method": self.method, "note": "the corpus's own held-out split (files under val/)"}
        return {"method": self.method, "fraction": self.fraction,
                "note": "corpus has no val/ split: documents whose stable id hash falls in the lowest "
                        f"{self.fraction:.1%} are held out (never trained on) and scored"}


def corpus_split(art: Artifact, fraction: float) -> CorpusSplit:
    if art.stage != "corpus" and not art.manifest.get("files"):
        raise UserError(f"{art.path}: not a corpus artifact (stage {art.stage!r})")
    files = corpus_files(art)
    if not files:
        raise UserError(f"corpus {art.version} at {art.path}: no document files (.jsonl.zst); nothing to train on")
    rel = {f: f.relative_to(art.path).as_posix() for f in files}
    val = [f for f in files if rel[f].startswith(VAL_PREFIX)]
    if val:
        return CorpusSplit([f for f in files if not rel[f].startswith(VAL_PREFIX)], val, "val_split", 0.0)
    return CorpusSplit(files, files, "id_hash_slice", fraction)


def heldout_sample(split: CorpusSplit, max_mb: float) -> list[Document]:
    """Held-out documents up to `max_mb` of UTF-8, chosen in stable hash order, returned sorted."""
    sizes: list[tuple[int, str, int]] = []
    for doc in split.heldout_documents():
        if doc.text:
            sizes.append((doc_key(doc.id, b"report\x00"), doc.id, len(doc.text.encode("utf-8", "surrogatepass"))))
    sizes.sort()
    budget, used, chosen = max_mb * 1e6, 0, set()
    for _, doc_id, n in sizes:
        if used >= budget:
            break
        chosen.add(doc_id)
        used += n
    docs = [d for d in split.heldout_documents() if d.id in chosen]
    docs.sort(key=lambda d: (d.metadata.get("domain", ""), d.metadata.get("lang", ""), doc_key(d.id, b"report\x00")))
    return docs
