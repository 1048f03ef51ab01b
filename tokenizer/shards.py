"""The token-shard format: writer, reader and verifier (DESIGN.md "Token shards").

A shards artifact is `shards/<version>/` with `train/` and `val/` folders and `manifest.json`.
Each shard is a set of files laid out the way datatrove's tokenized files are, so its tools and
`DatatroveFolderDataset` read them unchanged:

    <split>/<split>_NNNNN.ds           flat little-endian token ids (uint16, or uint32 when the
                                       vocabulary exceeds 65,536 ids)
    <split>/<split>_NNNNN.ds.index     uint64 document end offsets, in tokens, cumulative per shard
    <split>/<split>_NNNNN.ds.metadata  datatrove's text note: "tokenizer|token_size", token count
    <split>/<split>_NNNNN.ds.domain    ours: one uint8 per document, an index into manifest "domains"

Every document is `[BOS] pieces [EOS]`. The domain file is what lets the data module sample per
domain after the document order was shuffled. datatrove records no version, checksum or tokenizer
hash; the manifest adds them, and `verify` checks them (sizes always, hashes and ids on request).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from symboliclight.pipeline.artifacts import MANIFEST, Artifact, read_artifact, safe_relpath
from symboliclight.pipeline.errors import UserError

FORMAT_NAME = "symboliclight-token-shards"
FORMAT_VERSION = 1
SPLITS = ("train", "val")
TOKENS_SUFFIX = ".ds"
INDEX_SUFFIX = ".ds.index"
DOMAIN_SUFFIX = ".ds.domain"
METADATA_SUFFIX = ".ds.metadata"
INDEX_DTYPE = np.dtype("<u8")
DOMAIN_DTYPE = np.dtype("u1")
MAX_DOMAINS = 256
VERIFY_CHUNK_TOKENS = 1 << 24

VerifyLevel = Literal["sizes", "full"]


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (vocab <= 65,536, as datatrove decides), else uint32."""
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def shard_name(split: str, number: int) -> str:
    return f"{split}/{split}_{number:05d}"


def _atomic_replace(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


class ShardWriter:
    """Writes one shard's files under temporary names; `close` renames them into place.

    Hashes are computed while writing so that packing reads nothing back.
    """

    def __init__(self, root: Path, name: str, dtype: np.dtype, tokenizer_label: str):
        self.root = root
        self.name = name
        self.dtype = np.dtype(dtype)
        self.tokenizer_label = tokenizer_label
        self.tokens = 0
        self.ends: list[int] = []
        self.domains: list[int] = []
        self.domain_tokens: dict[int, int] = {}
        self._sha = hashlib.sha256()
        base = root / name
        base.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = base.with_name(f".{base.name}{TOKENS_SUFFIX}.tmp")
        self._f = open(self._tmp, "wb")

    def add(self, tokens: np.ndarray, domain: int) -> None:
        """Append one document (already wrapped in BOS ... EOS)."""
        data = np.ascontiguousarray(tokens, dtype=self.dtype).tobytes()
        self._f.write(data)
        self._sha.update(data)
        self.tokens += len(tokens)
        self.ends.append(self.tokens)
        self.domains.append(domain)
        self.domain_tokens[domain] = self.domain_tokens.get(domain, 0) + len(tokens)

    def close(self, domain_names: list[str]) -> dict[str, Any]:
        """Finish the shard; returns its manifest entry (paths relative to the artifact root)."""
        self._f.close()
        base = self.root / self.name
        _atomic_replace(self._tmp, base.with_name(base.name + TOKENS_SUFFIX))
        index = np.asarray(self.ends, dtype=INDEX_DTYPE).tobytes()
        doms = np.asarray(self.domains, dtype=DOMAIN_DTYPE).tobytes()
        meta = f"{self.tokenizer_label}|{self.dtype.itemsize}\n{self.tokens}\n{_human(self.tokens)}T"
        for suffix, payload in ((INDEX_SUFFIX, index), (DOMAIN_SUFFIX, doms), (METADATA_SUFFIX, meta.encode())):
            tmp = base.with_name(f".{base.name}{suffix}.tmp")
            tmp.write_bytes(payload)
            _atomic_replace(tmp, base.with_name(base.name + suffix))
        return {
            "name": self.name,
            "tokens_file": self.name + TOKENS_SUFFIX,
            "index_file": self.name + INDEX_SUFFIX,
            "domain_file": self.name + DOMAIN_SUFFIX,
            "metadata_file": self.name + METADATA_SUFFIX,
            "tokens": self.tokens,
            "documents": len(self.ends),
            "bytes": self.tokens * self.dtype.itemsize,
            "sha256": self._sha.hexdigest(),
            "index_sha256": hashlib.sha256(index).hexdigest(),
            "domain_sha256": hashlib.sha256(doms).hexdigest(),
            "domain_tokens": {domain_names[d]: n for d, n in sorted(self.domain_tokens.items())},
        }


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


@dataclass
class Shard:
    """One shard of a verified artifact: paths, counts, and lazily opened memory maps."""

    split: str
    name: str
    tokens_path: Path
    index_path: Path
    domain_path: Path
    tokens: int
    documents: int
    dtype: np.dtype
    _tokens_map: np.ndarray | None = field(default=None, repr=False)

    def token_map(self) -> np.ndarray:
        """The token file as a read-only memory map (opened once per process).

        A plain ndarray view of the map: slicing it skips np.memmap's per-slice subclass overhead.
        """
        if self._tokens_map is None:
            mm = np.memmap(self.tokens_path, dtype=self.dtype, mode="r", shape=(self.tokens,))
            self._tokens_map = mm.view(np.ndarray)
        return self._tokens_map

    def doc_ends(self) -> np.ndarray:
        return np.fromfile(self.index_path, dtype=INDEX_DTYPE).astype(np.int64)

    def doc_domains(self) -> np.ndarray:
        return np.fromfile(self.domain_path, dtype=DOMAIN_DTYPE)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tokens_map"] = None  # never pickle a memory map into a worker: it would copy the data
        return state


@dataclass
class ShardSet:
    """A shards artifact after verification: its manifest and its shards per split."""

    artifact: Artifact
    dtype: np.dtype
    vocab_size: int
    bos_id: int
    eos_id: int
    domains: list[str]
    shards: dict[str, list[Shard]]

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def path(self) -> Path:
        return self.artifact.path

    def split_tokens(self, split: str) -> int:
        return sum(s.tokens for s in self.shards.get(split, []))


def _fail(path: Path | str, problem: str) -> UserError:
    return UserError(f"{path}: {problem}")


def _header(art: Artifact) -> tuple[np.dtype, int, int, int, list[str]]:
    m = art.manifest
    mf = art.path / MANIFEST
    if art.stage != "shards":
        raise _fail(mf, f"is a {art.stage!r} artifact, not shards")
    fmt = m.get("format") or {}
    if fmt.get("name") != FORMAT_NAME:
        raise _fail(mf, f"unknown shard format {fmt.get('name')!r}")
    if fmt.get("version") != FORMAT_VERSION:
        raise _fail(mf, f"shard format version {fmt.get('version')!r} is not supported (this reader: {FORMAT_VERSION})")
    try:
        tok = m["tokenizer"]
        vocab = int(tok["vocab_size"])
        bos, eos = int(tok["special_ids"]["bos"]), int(tok["special_ids"]["eos"])
        dtype = np.dtype(fmt["token_dtype"]).newbyteorder("<")
        domains = list(m["domains"])
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(mf, f"malformed shards manifest ({e!r})") from None
    if dtype != token_dtype(vocab) and not (dtype.itemsize == 4 and vocab <= 1 << 32):
        raise _fail(mf, f"token dtype {dtype} cannot hold a vocabulary of {vocab}")
    if len(domains) > MAX_DOMAINS:
        raise _fail(mf, f"{len(domains)} domains exceed the format's {MAX_DOMAINS}")
    return dtype, vocab, bos, eos, domains


def _check_file(art: Artifact, rel: str, expect_bytes: int, sha: str | None) -> Path:
    """Resolve a manifest path safely and check size (and sha256 when `sha` is given)."""
    path = safe_relpath(art.path, rel)
    if not path.is_file():
        raise _fail(path, "missing (listed in the shards manifest)")
    size = path.stat().st_size
    if size != expect_bytes:
        raise _fail(path, f"size {size} bytes, manifest says {expect_bytes}")
    if sha is not None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
        if h.hexdigest() != sha:
            raise _fail(path, "sha256 does not match the manifest (file corrupted or modified)")
    return path


def _check_shard(shard: Shard, entry: dict[str, Any], bos: int, eos: int, vocab: int, n_domains: int,
                 domains: list[str], full: bool) -> None:
    ends = shard.doc_ends()
    tokens_path = shard.tokens_path
    if len(ends) == 0:
        raise _fail(shard.index_path, "no documents")
    starts = np.concatenate([[0], ends[:-1]])
    if np.any(ends - starts < 2):
        bad = int(np.argmax(ends - starts < 2))
        raise _fail(shard.index_path, f"document {bad}: index not strictly increasing or document shorter than BOS+EOS")
    if ends[-1] != shard.tokens:
        raise _fail(shard.index_path, f"last document ends at {int(ends[-1])}, token file holds {shard.tokens} tokens")
    doms = shard.doc_domains()
    if doms.size and int(doms.max()) >= n_domains:
        raise _fail(shard.domain_path, f"domain index {int(doms.max())} outside the manifest's {n_domains} domains")
    per_domain = np.bincount(doms, weights=(ends - starts), minlength=n_domains).astype(np.int64)
    recorded = entry.get("domain_tokens", {})
    for d, n in enumerate(per_domain):
        if int(n) != int(recorded.get(domains[d], 0)):
            raise _fail(shard.domain_path, f"domain {domains[d]!r} holds {int(n)} tokens, manifest says "
                        f"{int(recorded.get(domains[d], 0))}")
    if not full:
        return
    toks = shard.token_map()
    last = np.asarray(toks[ends - 1])
    if np.any(last != eos):
        bad = int(np.argmax(last != eos))
        raise _fail(tokens_path, f"document {bad} does not end with EOS ({eos}) but {int(last[bad])}")
    first = np.asarray(toks[starts])
    if np.any(first != bos):
        bad = int(np.argmax(first != bos))
        raise _fail(tokens_path, f"document {bad} does not start with BOS ({bos}) but {int(first[bad])}")
    for lo in range(0, shard.tokens, VERIFY_CHUNK_TOKENS):
        chunk = np.asarray(toks[lo:lo + VERIFY_CHUNK_TOKENS])
        if chunk.size and int(chunk.max()) >= vocab:
            pos = lo + int(np.argmax(chunk >= vocab))
            raise _fail(tokens_path, f"token {pos} has id {int(toks[pos])} >= vocabulary size {vocab}")


def open_shards(path: str | Path | Artifact, level: VerifyLevel = "sizes",
                progress: Callable[[str], None] | None = None) -> ShardSet:
    """Open a shards artifact and verify it; the first problem raises `UserError` naming the file.

    `sizes` (what a training run always does) checks that every file exists with the manifest's
    size, the index is strictly increasing and ends where the token file ends, and the domain map
    agrees with the manifest's per-domain counts: it reads only the small index and domain files.
    `full` reads the token files too: every file's sha256, BOS at every document start and EOS at
    every end, and every id below the vocabulary size.
    """
    art = path if isinstance(path, Artifact) else read_artifact(path)
    dtype, vocab, bos, eos, domains = _header(art)
    full = level == "full"
    for entry in art.manifest.get("files", []):
        safe_relpath(art.path, str(entry.get("path", "")))
    splits = art.manifest.get("splits") or {}
    if set(splits) != set(SPLITS):
        raise _fail(art.path / MANIFEST, f"splits must be {list(SPLITS)}, found {sorted(splits)}")
    shards: dict[str, list[Shard]] = {}
    listed: set[Path] = set()
    for split in SPLITS:
        shards[split] = []
        for entry in splits[split].get("shards", []):
            try:
                docs, ntok = int(entry["documents"]), int(entry["tokens"])
                tp = _check_file(art, entry["tokens_file"], ntok * dtype.itemsize, entry["sha256"] if full else None)
                ip = _check_file(art, entry["index_file"], docs * INDEX_DTYPE.itemsize,
                                 entry["index_sha256"] if full else None)
                dp = _check_file(art, entry["domain_file"], docs * DOMAIN_DTYPE.itemsize,
                                 entry["domain_sha256"] if full else None)
            except (KeyError, TypeError, ValueError) as e:
                raise _fail(art.path / MANIFEST, f"malformed shard entry in {split} ({e!r})") from None
            shard = Shard(split, entry["name"], tp, ip, dp, ntok, docs, dtype)
            if progress:
                progress(shard.name)
            _check_shard(shard, entry, bos, eos, vocab, len(domains), domains, full)
            listed.add(tp)
            shards[split].append(shard)
        split_dir = safe_relpath(art.path, split)
        if split_dir.is_dir():
            for stray in sorted(split_dir.glob("*" + TOKENS_SUFFIX)):
                if stray.resolve() not in {p.resolve() for p in listed}:
                    raise _fail(stray, "token file not listed in the manifest (readers that glob *.ds would use it)")
    if not shards["train"]:
        raise _fail(art.path / MANIFEST, "no train shards")
    return ShardSet(art, dtype, vocab, bos, eos, domains, shards)


def summarize(art: Artifact) -> dict[str, Any]:
    """What `shards info` prints: the manifest, condensed (read from the manifest only)."""
    m = art.manifest
    out: dict[str, Any] = {
        "version": art.version,
        "path": str(art.path),
        "format": m.get("format", {}),
        "tokenizer": m.get("tokenizer", {}),
        "parents": m.get("parents", {}),
        "seed": m.get("config", {}).get("seed"),
        "split_method": m.get("split_method", {}),
        "domains": m.get("domains", []),
        "splits": {},
        "dropped": m.get("counts", {}).get("dropped", {}),
    }
    for split in SPLITS:
        c = m.get("counts", {}).get(split, {})
        out["splits"][split] = {
            "shards": len((m.get("splits", {}).get(split) or {}).get("shards", [])),
            "tokens": c.get("tokens", 0),
            "documents": c.get("documents", 0),
            "bytes": sum(s.get("bytes", 0) for s in (m.get("splits", {}).get(split) or {}).get("shards", [])),
            "per_domain": c.get("per_domain", {}),
            "per_lang": c.get("per_lang", {}),
        }
    return out


def format_info(info: dict[str, Any]) -> str:
    """A plain-text table of tokens and documents per domain and language, train and val."""
    tok = info["tokenizer"]
    fmt = info["format"]
    lines = [
        f"shards {info['version']} at {info['path']}",
        f"format {fmt.get('name')} v{fmt.get('version')}, {fmt.get('token_dtype')} tokens, "
        f"tokenizer {tok.get('version')} (vocab {tok.get('vocab_size')}, bos {tok.get('special_ids', {}).get('bos')}, "
        f"eos {tok.get('special_ids', {}).get('eos')}), seed {info['seed']}",
        "parents: " + ", ".join(f"{k}={v}" for k, v in info["parents"].items()),
        f"validation: {info['split_method'].get('method', '?')}",
    ]
    tr, va = info["splits"]["train"], info["splits"]["val"]
    header = f"{'':<16}{'train tokens':>14}{'share':>8}{'docs':>9}{'val tokens':>12}{'docs':>7}"
    lines.append(header)

    def rows(key: str, prefix: str) -> None:
        names = sorted(set(tr[key]) | set(va[key]))
        for n in names:
            a, b = tr[key].get(n, {}), va[key].get(n, {})
            share = 100.0 * a.get("tokens", 0) / max(1, tr["tokens"])
            lines.append(f"{prefix + n:<16}{a.get('tokens', 0):>14,}{share:>7.1f}%{a.get('documents', 0):>9,}"
                         f"{b.get('tokens', 0):>12,}{b.get('documents', 0):>7,}")

    rows("per_domain", "")
    lines.append("-" * len(header))
    rows("per_lang", "lang=")
    lines.append("-" * len(header))
    lines.append(f"{'total':<16}{tr['tokens']:>14,}{100.0:>7.1f}%{tr['documents']:>9,}{va['tokens']:>12,}{va['documents']:>7,}")
    lines.append(f"shards: train {tr['shards']} ({tr['bytes'] / 1e6:.1f} MB), val {va['shards']} ({va['bytes'] / 1e6:.1f} MB)")
    if info["dropped"]:
        lines.append("dropped documents: " + ", ".join(f"{k}={v}" for k, v in info["dropped"].items()))
    return "\n".join(lines)
