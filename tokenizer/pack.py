"""Packing a corpus into token shards: encode, hold out validation, shuffle, write (`shards pack`).

Two phases, so a killed run resumes and still produces identical bytes:

1. Encode: each corpus file is batch-encoded (HF `encode_batch_fast`, multi-threaded in Rust) into
   a spill file under `<out>/.work/` holding `[BOS] ids [EOS]` per document plus a per-document
   table (length, id hash, domain, language). A spill is finished by a marker JSON written last;
   a rerun reuses every spill whose marker and hashes check out.
2. Write: validation documents are chosen (the corpus's own `val/` split, or a stable id-hash
   slice with a per-domain minimum), the document order is shuffled by a seeded hash of the id
   (independent of file order, thread count and numpy version), and shards are written atomically.
   The manifest comes last; then the scratch folder is removed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from symboliclight.pipeline.artifacts import (
    MANIFEST,
    Artifact,
    artifact_dir,
    atomic_write_text,
    existing,
    resolve,
    set_latest,
    write_manifest,
)
from symboliclight.pipeline.bitmix import splitmix64
from symboliclight.pipeline.documents import Document
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import sha256_file, version_id
from symboliclight.pipeline.typed_config import from_dict, identity, load_yaml, speed_only
from tokenizers import Tokenizer

from .shards import FORMAT_NAME, FORMAT_VERSION, MAX_DOMAINS, SPLITS, ShardWriter, shard_name, token_dtype

WORK_DIR = ".work"
SPILL_FORMAT = 1
_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# The special-token names the project's tokenizer uses (tokenizer/config.py), with the reference ids.
SPECIAL_NAMES = {"pad": ("<pad>", 0), "bos": ("<s>", 1), "eos": ("</s>", 2), "unk": ("<unk>", 3)}

Progress = Callable[[str, int, int], None]


@dataclass
class PackConfig:
    """What determines the shard bytes (all of it goes into the version id), plus batch size."""

    shard_tokens: int = 50_000_000  # a shard closes before a document would take it past this
    seed: int = 0  # document-order shuffle
    val_fraction: float = 0.01  # id-hash hold-out when the corpus has no val/ split
    val_min_docs: int = 2  # per domain, when the domain has more documents than this
    val_min_tokens: int = 16_384  # per domain, taking at most half of its documents
    encode_batch_docs: int = speed_only(2048)  # documents per encode_batch call (does not change the output)

    def __post_init__(self) -> None:
        if self.shard_tokens < 2:
            raise UserError("shards config: shard_tokens must be at least 2")
        if not 0.0 <= self.val_fraction < 1.0:
            raise UserError("shards config: val_fraction must be in [0, 1)")
        if self.val_min_docs < 0 or self.val_min_tokens < 0 or self.encode_batch_docs < 1:
            raise UserError("shards config: val_min_docs and val_min_tokens must be >= 0, encode_batch_docs >= 1")

    def identity(self) -> dict[str, Any]:
        """The config fields that change the bytes (batch size does not)."""
        d = identity(self)
        d["format_version"] = FORMAT_VERSION
        return d


def load_pack_config(path: str | Path | None = None, **overrides: Any) -> PackConfig:
    from symboliclight.pipeline.recipe import shipped_config

    data = load_yaml(Path(path) if path else shipped_config("data", "shards.yaml"))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(PackConfig, data, where="shards config")


@dataclass
class TokenizerInfo:
    tokenizer: Tokenizer
    version: str
    sha256: str
    vocab_size: int
    special_ids: dict[str, int]


def load_tokenizer(art: Artifact) -> TokenizerInfo:
    """Open `tokenizer.json` of a tokenizer artifact and find its special ids (by name, else 0-3)."""
    path = art.file("tokenizer.json")
    if not path.is_file():
        raise UserError(f"{path}: tokenizer artifact has no tokenizer.json")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a bare Exception on malformed JSON
        raise UserError(f"{path}: unreadable tokenizer ({str(e).splitlines()[0]})") from None
    # A document that contains the text "</s>" must not gain an EOS in its middle: special tokens
    # are only ever inserted by the packer, never produced from document text.
    tok.encode_special_tokens = True
    special: dict[str, int] = {}
    for role, (name, fallback) in SPECIAL_NAMES.items():
        tid = tok.token_to_id(name)
        if tid is None:
            if tok.id_to_token(fallback) is None:
                raise UserError(f"{path}: no {role} token ({name!r}) and no id {fallback}")
            tid = fallback
        special[role] = tid
    if special["bos"] == special["eos"]:
        raise UserError(f"{path}: BOS and EOS share id {special['bos']}")
    return TokenizerInfo(tok, art.version, sha256_file(path), tok.get_vocab_size(with_added_tokens=True), special)


def _id_key(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def corpus_inputs(corpus: Artifact) -> tuple[list[tuple[str, str, str]], str]:
    """(split, relative path, sha256) of every document file, and how validation is chosen."""
    files = [e for e in corpus.manifest.get("files", [])
             if e["path"].endswith(".jsonl.zst") and not e["path"].startswith("excluded/")]
    if not files:
        raise UserError(f"{corpus.path}: corpus lists no .jsonl.zst document files")
    has_val = any(e["path"].startswith("val/") for e in files)
    out = [("val" if e["path"].startswith("val/") else "train", e["path"], e["sha256"]) for e in files]
    return sorted(out, key=lambda t: t[1]), ("corpus" if has_val else "hash")


def encode_documents(tok: Tokenizer, texts: list[str], bos: int, eos: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Encode a batch and wrap each document as [BOS] ids [EOS]; returns (flat tokens, lengths)."""
    encs = tok.encode_batch_fast(texts, add_special_tokens=False)
    ids = [e.ids for e in encs]
    lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    body = np.fromiter(itertools.chain.from_iterable(ids), dtype=dtype, count=int(lens.sum()))
    n = len(ids)
    full = lens + 2
    ends = np.cumsum(full)
    out = np.empty(int(ends[-1]) if n else 0, dtype=dtype)
    out[ends - full] = bos
    out[ends - 1] = eos
    out[np.arange(body.size) + 2 * np.repeat(np.arange(n), lens) + 1] = body
    return out, full


# ---- phase 1: encode every corpus file into a spill -------------------------------------------


def _read_documents(path: Path) -> Any:
    """Documents of one corpus file with their line numbers; schema problems name file and line."""
    import io

    import orjson
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        for lineno, line in enumerate(io.TextIOWrapper(reader, encoding="utf-8"), 1):
            if not line.strip():
                continue
            try:
                doc = Document.from_dict(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                raise UserError(f"{path}:{lineno}: malformed document ({e})") from None
            if not isinstance(doc.text, str):
                raise UserError(f"{path}:{lineno}: document {doc.id!r} text is not a string")
            for key in ("domain", "lang"):
                if not doc.metadata.get(key):
                    raise UserError(f"{path}:{lineno}: document {doc.id!r} has no metadata.{key}")
            yield lineno, doc


def _spill_valid(work: Path, stem: str, input_sha: str) -> dict[str, Any] | None:
    marker = work / f"{stem}.json"
    if not marker.is_file():
        return None
    try:
        m = json.loads(marker.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if m.get("spill_format") != SPILL_FORMAT or m.get("input_sha256") != input_sha:
        return None
    for suffix, key in ((".tokens", "tokens_sha256"), (".docs.npy", "docs_sha256")):
        p = work / f"{stem}{suffix}"
        if not p.is_file() or sha256_file(p) != m.get(key):
            return None
    return m


def _encode_file(tok: TokenizerInfo, src: Path, work: Path, stem: str, input_sha: str, dtype: np.dtype,
                 batch_docs: int, on_batch: Callable[[int], None] | None) -> dict[str, Any]:
    """Encode one corpus file into `<stem>.tokens` + `<stem>.docs.npy`, then its marker."""
    domains: dict[str, int] = {}
    langs: dict[str, int] = {}
    rows: list[np.ndarray] = []
    empty = 0
    tmp_tokens = work / f".{stem}.tokens.tmp"
    bos, eos = tok.special_ids["bos"], tok.special_ids["eos"]
    sha = hashlib.sha256()
    n_tokens = 0
    with open(tmp_tokens, "wb") as out:

        def flush(batch: list[Document]) -> None:
            nonlocal n_tokens
            flat, lens = encode_documents(tok.tokenizer, [d.text for d in batch], bos, eos, dtype)
            data = flat.tobytes()
            out.write(data)
            sha.update(data)
            n_tokens += int(flat.size)
            table = np.empty((len(batch), 4), dtype=np.int64)
            table[:, 0] = lens
            table[:, 1] = np.array([_id_key(d.id) for d in batch], dtype=_U64).view(np.int64)
            table[:, 2] = [domains.setdefault(d.metadata["domain"], len(domains)) for d in batch]
            table[:, 3] = [langs.setdefault(d.metadata["lang"], len(langs)) for d in batch]
            rows.append(table)
            if on_batch:
                on_batch(len(batch))

        batch: list[Document] = []
        for _, doc in _read_documents(src):
            if not doc.text.strip():
                empty += 1
                continue
            batch.append(doc)
            if len(batch) >= batch_docs:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp_tokens, work / f"{stem}.tokens")
    table = np.concatenate(rows) if rows else np.empty((0, 4), dtype=np.int64)
    tmp_docs = work / f".{stem}.docs.tmp.npy"
    np.save(tmp_docs, table)
    os.replace(tmp_docs, work / f"{stem}.docs.npy")
    marker = {
        "spill_format": SPILL_FORMAT,
        "input": str(src),
        "input_sha256": input_sha,
        "documents": int(table.shape[0]),
        "tokens": n_tokens,
        "dropped_empty": empty,
        "domains": list(domains),
        "langs": list(langs),
        "tokens_sha256": sha.hexdigest(),
        "docs_sha256": sha256_file(work / f"{stem}.docs.npy"),
    }
    atomic_write_text(work / f"{stem}.json", json.dumps(marker, indent=1))
    return marker


# ---- phase 2: choose validation, shuffle, write shards ------------------------------------------


@dataclass
class DocTable:
    """All packed documents, in spill order: where their tokens are and what they are."""

    spill: np.ndarray  # which spill file
    offset: np.ndarray  # token offset in the spill
    length: np.ndarray  # tokens, BOS and EOS included
    key: np.ndarray  # uint64 hash of the document id
    domain: np.ndarray  # index into `domains`
    lang: np.ndarray  # index into `langs`
    forced_val: np.ndarray  # bool: from the corpus's val/ split
    domains: list[str]
    langs: list[str]


def _build_table(markers: list[dict[str, Any]], tables: list[np.ndarray], splits: list[str]) -> DocTable:
    domains = sorted({d for m in markers for d in m["domains"]})
    langs = sorted({x for m in markers for x in m["langs"]})
    if len(domains) > MAX_DOMAINS:
        raise UserError(f"corpus has {len(domains)} domains; the shard format allows {MAX_DOMAINS}")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("spill", "offset", "length", "key", "domain", "lang", "val")}
    for i, (m, t, split) in enumerate(zip(markers, tables, splits, strict=True)):
        n = t.shape[0]
        dmap = np.array([domains.index(d) for d in m["domains"]] or [0], dtype=np.int64)
        lmap = np.array([langs.index(x) for x in m["langs"]] or [0], dtype=np.int64)
        parts["spill"].append(np.full(n, i, dtype=np.int64))
        parts["offset"].append(np.cumsum(t[:, 0]) - t[:, 0])
        parts["length"].append(t[:, 0])
        parts["key"].append(t[:, 1].view(_U64))
        parts["domain"].append(dmap[t[:, 2]])
        parts["lang"].append(lmap[t[:, 3]])
        parts["val"].append(np.full(n, split == "val"))
    cat = {k: (np.concatenate(v) if v else np.empty(0, dtype=np.int64)) for k, v in parts.items()}
    return DocTable(cat["spill"], cat["offset"], cat["length"], cat["key"].astype(_U64), cat["domain"],
                    cat["lang"], cat["val"].astype(bool), domains, langs)


def choose_validation(t: DocTable, method: str, fraction: float, min_docs: int, min_tokens: int) -> np.ndarray:
    """Boolean mask of validation documents.

    `corpus`: the corpus's own val/ files. `hash`: per domain, documents in the order of their id
    hash (read as a fraction of 2^64) are held out while the hash is below `fraction`, and further
    until the domain has `min_docs` documents (leaving at least one for training) and `min_tokens`
    tokens (taking at most half of its documents), so that every domain gets some validation
    windows. It depends on ids (and lengths) only: the same documents stay out whatever the seed,
    file order or shard size.
    """
    if method == "corpus":
        return t.forced_val.copy()
    threshold = _U64(min(int(fraction * 2.0**64), _MASK64))
    val = np.zeros(len(t.key), dtype=bool)
    for d in range(len(t.domains)):
        members = np.flatnonzero(t.domain == d)
        order = members[np.lexsort((members, t.key[members]))]
        n = len(order)
        by_hash = int((t.key[order] < threshold).sum())
        by_tokens = int(np.searchsorted(np.cumsum(t.length[order]), min_tokens, side="left")) + 1 if min_tokens else 0
        want = max(by_hash, min(min_docs, n - 1), min(by_tokens, n // 2))
        val[order[:want]] = True
    return val


def shuffle_order(t: DocTable, mask: np.ndarray, seed: int) -> np.ndarray:
    """Indices of the masked documents in a seeded order derived from their id hashes."""
    idx = np.flatnonzero(mask)
    salt = splitmix64(np.array([seed & _MASK64], dtype=_U64))[0]
    keys = splitmix64(t.key[idx] ^ salt)
    return idx[np.lexsort((idx, keys))]


def _write_split(root: Path, split: str, order: np.ndarray, t: DocTable, spills: list[np.ndarray],
                 cfg: PackConfig, dtype: np.dtype, label: str, progress: Progress | None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    writer: ShardWriter | None = None
    for pos, i in enumerate(order):
        n = int(t.length[i])
        if writer is not None and writer.tokens + n > cfg.shard_tokens:
            entries.append(writer.close(t.domains))
            if progress:
                progress(f"shard:{split}", pos, len(order))
            writer = None
        if writer is None:
            writer = ShardWriter(root, shard_name(split, len(entries)), dtype, label)
        off = int(t.offset[i])
        writer.add(spills[int(t.spill[i])][off:off + n], int(t.domain[i]))
    if writer is not None:
        entries.append(writer.close(t.domains))
        if progress:
            progress(f"shard:{split}", len(order), len(order))
    return entries


def _split_counts(t: DocTable, idx: np.ndarray) -> dict[str, Any]:
    def group(labels: np.ndarray, names: list[str]) -> dict[str, dict[str, int]]:
        tok = np.bincount(labels[idx], weights=t.length[idx], minlength=len(names)).astype(np.int64)
        docs = np.bincount(labels[idx], minlength=len(names))
        return {n: {"tokens": int(tok[k]), "documents": int(docs[k])} for k, n in enumerate(names) if docs[k]}

    return {"tokens": int(t.length[idx].sum()), "documents": int(idx.size),
            "per_domain": group(t.domain, t.domains), "per_lang": group(t.lang, t.langs)}


@dataclass
class PackResult:
    artifact: Artifact
    created: bool  # False when the version already existed (rerun = no-op)


def pack(corpus_ref: str, tokenizer_ref: str, cfg: PackConfig, *, workdir: str | Path = "work",
         out: str | Path | None = None, progress: Progress | None = None) -> PackResult:
    """Pack a corpus version with a tokenizer version into a shards artifact (see module doc)."""
    corpus = resolve(corpus_ref, "corpus", workdir)
    tok_art = resolve(tokenizer_ref, "tokenizer", workdir)
    tok = load_tokenizer(tok_art)
    parents = {"corpus": corpus.version, "tokenizer": tok_art.version}
    version = version_id("shards", cfg.identity(), parents)
    root = artifact_dir(workdir, "shards", version, out)
    done = existing(root)
    if done is not None:
        if done.version != version:
            raise UserError(f"{root}: already holds shards version {done.version}, not {version}")
        return PackResult(done, created=False)
    corpus.verify_files(hashes=False)
    inputs, method = corpus_inputs(corpus)
    dtype = token_dtype(tok.vocab_size)
    _clear_partial(root)
    work = root / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)

    markers: list[dict[str, Any]] = []
    total_docs = [0]
    for k, (_split, rel, sha) in enumerate(inputs):
        stem = f"{k:05d}"
        m = _spill_valid(work, stem, sha)
        if m is None:
            def on_batch(n: int) -> None:
                total_docs[0] += n
                if progress:
                    progress("encode", total_docs[0], 0)
            m = _encode_file(tok, corpus.file(rel), work, stem, sha, dtype, cfg.encode_batch_docs, on_batch)
        else:
            total_docs[0] += m["documents"]
        markers.append(m)
        if progress:
            progress("file", k + 1, len(inputs))
    tables = [np.load(work / f"{k:05d}.docs.npy") for k in range(len(inputs))]
    table = _build_table(markers, tables, [s for s, _, _ in inputs])
    if table.length.size == 0:
        raise UserError(f"{corpus.path}: corpus holds no non-empty documents")
    val = choose_validation(table, method, cfg.val_fraction, cfg.val_min_docs, cfg.val_min_tokens)
    if not (~val).any():
        raise UserError(f"{corpus.path}: every document went to validation; nothing left to train on")
    spills = [np.memmap(work / f"{k:05d}.tokens", dtype=dtype, mode="r") if m["tokens"] else np.empty(0, dtype)
              for k, m in enumerate(markers)]
    label = f"symboliclight-tokenizer:{tok.version}"
    splits: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for split, mask in (("train", ~val), ("val", val)):
        order = shuffle_order(table, mask, cfg.seed)
        splits[split] = {"shards": _write_split(root, split, order, table, spills, cfg, dtype, label, progress)}
        counts[split] = _split_counts(table, order)
        (root / split).mkdir(exist_ok=True)
    del spills
    counts["documents"] = counts["train"]["documents"] + counts["val"]["documents"]
    counts["tokens"] = counts["train"]["tokens"] + counts["val"]["tokens"]
    counts["dropped"] = {"empty_text": sum(m["dropped_empty"] for m in markers)}
    files = [root / e[key] for s in SPLITS for e in splits[s]["shards"]
             for key in ("tokens_file", "index_file", "domain_file", "metadata_file")]
    extra = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION, "layout": "datatrove-tokenized",
                   "token_dtype": dtype.name, "byte_order": "little", "index_dtype": "uint64",
                   "domain_dtype": "uint8"},
        "tokenizer": {"version": tok.version, "sha256": tok.sha256, "vocab_size": tok.vocab_size,
                      "special_ids": tok.special_ids},
        "domains": table.domains,
        "langs": table.langs,
        "split_method": {"method": "corpus val/ split" if method == "corpus" else "id-hash hold-out",
                         "val_fraction": cfg.val_fraction if method == "hash" else None,
                         "val_min_docs": cfg.val_min_docs if method == "hash" else None,
                         "val_min_tokens": cfg.val_min_tokens if method == "hash" else None},
        "splits": splits,
    }
    art = write_manifest(root, stage="shards", version=version, parents=parents, config=cfg.identity(),
                         counts=counts, files=files, extra=extra)
    shutil.rmtree(work, ignore_errors=True)
    if out is None:
        set_latest(workdir, "shards", version)
    return PackResult(art, created=True)


def _clear_partial(root: Path) -> None:
    """Remove what an interrupted run left, except the finished spills it can reuse."""
    if not root.exists():
        return
    if (root / MANIFEST).exists():
        raise UserError(f"{root}: already holds a finished artifact")
    for child in root.iterdir():
        if child.name == WORK_DIR:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
