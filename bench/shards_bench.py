"""Benchmark: shard packing against the encoder's own limit; data-module reads against a bare memmap.

Packing can be no faster than the tokenizer's batch encode of the same text, so the first table
compares `pack` (read + encode + hold-out + shuffle + write + hashes) with `encode_batch_fast`
alone on the same documents, in the same process. The second compares the data module's
per-domain mixture windows (hash-planned, gathered across document segments, as int64 tensors)
with a bare reader drawing uniform random windows from one `np.memmap`.

    python bench/shards_bench.py [--corpus V --tokenizer V --workdir DIR] [--scale N] [--json PATH]

Without --corpus/--tokenizer it builds a corpus from text on this machine (the test fixtures:
Python stdlib sources, licence texts, zh_CN gettext catalogues) and trains a small BPE on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _best(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def build_inputs(tmp: Path, scale: int, vocab: int) -> tuple[str, str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from shards_fixtures import real_documents, train_tokenizer, write_corpus

    docs = real_documents(scale)
    corpus = write_corpus(tmp / "corpus", docs)
    tok = train_tokenizer(tmp / "tokenizer", docs, vocab_size=vocab)
    return str(corpus.path), str(tok.path)


def bench_pack(corpus_ref: str, tok_ref: str, workdir: Path, tmp: Path, repeats: int) -> dict[str, Any]:
    from symboliclight.pipeline.artifacts import resolve
    from symboliclight.tokenizer.pack import PackConfig, corpus_inputs, load_tokenizer, pack

    corpus = resolve(corpus_ref, "corpus", workdir)
    tok = load_tokenizer(resolve(tok_ref, "tokenizer", workdir))
    cfg = PackConfig(shard_tokens=2_000_000, val_fraction=0.01)
    texts: list[str] = []
    from symboliclight.pipeline.documents import read_jsonl_zst

    for _, rel, _ in corpus_inputs(corpus)[0]:
        texts += [d.text for d in read_jsonl_zst(corpus.file(rel)) if d.text.strip()]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    bs = cfg.encode_batch_docs

    def encode_only() -> None:
        for i in range(0, len(texts), bs):
            tok.tokenizer.encode_batch_fast(texts[i:i + bs], add_special_tokens=False)

    n_tokens = 0
    runs = iter(range(10**6))
    result: dict[str, Any] = {}

    def pack_once() -> None:
        nonlocal n_tokens, result
        res = pack(corpus_ref, tok_ref, cfg, workdir=workdir, out=tmp / f"shards-{next(runs)}")
        n_tokens = res.artifact.manifest["counts"]["tokens"]
        result = res.artifact.manifest

    # interleaved, so that load from other processes hits both alike; best of each
    enc_s, pack_s = float("inf"), float("inf")
    for _ in range(repeats):
        enc_s = min(enc_s, _best(encode_only, 1))
        pack_s = min(pack_s, _best(pack_once, 1))
    body_tokens = n_tokens - 2 * result["counts"]["documents"]  # the encoder does not emit BOS/EOS
    return {
        "documents": len(texts), "text_mb": round(mb, 2), "tokens": n_tokens,
        "encode_batch": {"seconds": enc_s, "tokens_per_s": body_tokens / enc_s, "mb_per_s": mb / enc_s},
        "pack": {"seconds": pack_s, "tokens_per_s": n_tokens / pack_s, "mb_per_s": mb / pack_s},
        "pack_vs_encode": enc_s / pack_s,
        "shards_dir": str(tmp / "shards-0"),
    }


def bench_reads(shards_dir: str, seq_len: int, batch: int, n_batches: int, repeats: int) -> dict[str, Any]:
    from symboliclight.model.data import DataConfig, ShardsDataModule

    dm = ShardsDataModule(DataConfig(shards=shards_dir, seq_len=seq_len, batch_size=batch, num_workers=0))
    dm.setup("fit")
    ds = dm.train_dataset()

    def module_reads() -> None:
        for b in range(n_batches):
            ds.batch(b * batch)

    shard = dm.shard_set.shards["train"][0]
    mm = np.memmap(shard.tokens_path, dtype=shard.dtype, mode="r").view(np.ndarray)  # the fastest bare reader
    rng = np.random.default_rng(0)

    def bare_reads() -> None:
        for _ in range(n_batches):
            starts = rng.integers(0, len(mm) - seq_len - 1, size=batch)
            torch.from_numpy(np.stack([mm[s:s + seq_len + 1] for s in starts]).astype(np.int64))

    val = dm.val_dataset()

    def val_reads() -> None:
        for _ in val:
            pass

    windows = n_batches * batch
    mod_s, bare_s = _best(module_reads, repeats), _best(bare_reads, repeats)
    val_s = _best(val_reads, repeats)
    val_windows = len(val.domains)
    return {
        "seq_len": seq_len, "batch_size": batch, "windows": windows,
        "data_module": {"seconds": mod_s, "windows_per_s": windows / mod_s,
                        "tokens_per_s": windows * (seq_len + 1) / mod_s},
        "bare_memmap": {"seconds": bare_s, "windows_per_s": windows / bare_s,
                        "tokens_per_s": windows * (seq_len + 1) / bare_s},
        "validation": {"windows": val_windows, "windows_per_s": val_windows / val_s if val_s else 0.0},
        "module_vs_bare": bare_s / mod_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", help="corpus version/path (default: build one from local text)")
    ap.add_argument("--tokenizer", help="tokenizer version/path (default: train a small BPE)")
    ap.add_argument("--workdir", default="work")
    ap.add_argument("--scale", type=int, default=3, help="size of the built corpus (about 1.5 MB of text per unit)")
    ap.add_argument("--vocab", type=int, default=8000, help="vocabulary of the built tokenizer")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", dest="json_path", help="write the results here")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="shards-bench-") as td:
        tmp = Path(td)
        if args.corpus and args.tokenizer:
            corpus_ref, tok_ref, workdir = args.corpus, args.tokenizer, Path(args.workdir)
        else:
            corpus_ref, tok_ref = build_inputs(tmp, args.scale, args.vocab)
            workdir = tmp
        p = bench_pack(corpus_ref, tok_ref, workdir, tmp, args.repeats)
        r = bench_reads(p["shards_dir"], args.seq_len, args.batch_size, args.batches, args.repeats)
    import os

    out = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__}, "pack": p, "reads": r}
    out["pack"].pop("shards_dir")
    rows = [
        ("encode_batch_fast (limit)", f"{p['encode_batch']['tokens_per_s']:,.0f} tok/s", f"{p['encode_batch']['mb_per_s']:.2f} MB/s"),
        ("shards pack (end to end)", f"{p['pack']['tokens_per_s']:,.0f} tok/s", f"{p['pack']['mb_per_s']:.2f} MB/s"),
        ("data module train windows", f"{r['data_module']['windows_per_s']:,.0f} win/s", f"{r['data_module']['tokens_per_s'] / 1e6:.1f} Mtok/s"),
        ("bare np.memmap windows", f"{r['bare_memmap']['windows_per_s']:,.0f} win/s", f"{r['bare_memmap']['tokens_per_s'] / 1e6:.1f} Mtok/s"),
        ("data module val windows", f"{r['validation']['windows_per_s']:,.0f} win/s", f"{r['validation']['windows']} windows"),
    ]
    print(f"corpus: {p['documents']} docs, {p['text_mb']} MB text, {p['tokens']:,} tokens; "
          f"windows of {r['seq_len']}+1 tokens, batch {r['batch_size']}; best of {args.repeats}")
    print(f"{'':<30}{'rate':>22}{'':>18}")
    for name, a, b in rows:
        print(f"{name:<30}{a:>22}{b:>18}")
    print(f"pack runs at {100 * p['pack_vs_encode']:.0f}% of the encoder's speed; "
          f"the data module at {100 * r['module_vs_bare']:.0f}% of a bare memmap reader")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
