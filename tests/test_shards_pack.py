"""`shards pack`: round trip, counts, hold-out, determinism, resume after SIGKILL, datatrove reads them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from shards_fixtures import real_documents, train_tokenizer, write_corpus
from symboliclight.dags.cli import main as cli_main
from symboliclight.pipeline.documents import Document
from symboliclight.tokenizer.pack import PackConfig, pack
from symboliclight.tokenizer.shards import INDEX_DTYPE, open_shards
from tokenizers import Tokenizer

CFG = PackConfig(shard_tokens=60_000, seed=7, val_fraction=0.05, val_min_docs=2, val_min_tokens=3000, encode_batch_docs=64)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("packwork")
    docs = real_documents()
    # one whitespace-only document: dropped and counted, never packed
    docs_in = docs + [Document("blank-1", "  \n ", {"domain": "legal", "lang": "en", "source": "test"})]
    # literal special-token text stays text: no BOS/EOS may appear inside a document
    docs.append(Document("literal-specials", "a line with </s> and <s> and <pad> in it, " * 20,
                         {"domain": "legal", "lang": "en", "source": "test"}))
    docs_in.append(docs[-1])
    corpus = write_corpus(work / "corpus" / "flat", docs_in)
    tok = train_tokenizer(work / "tokenizer" / "bpe1k", docs)
    res = pack(str(corpus.path), str(tok.path), CFG, workdir=work)
    plain = Tokenizer.from_file(str(tok.path / "tokenizer.json"))
    plain.encode_special_tokens = True  # what the packer does: special tokens never come from text
    return {"work": work, "docs": docs, "corpus": corpus, "tok": tok, "art": res.artifact,
            "tokenizer": plain}


def read_documents(root: Path, split: str) -> list[tuple[np.ndarray, str]]:
    """Every packed document of a split as (tokens, domain), read straight from the files."""
    m = json.loads((root / "manifest.json").read_text())
    out = []
    dtype = np.dtype(m["format"]["token_dtype"]).newbyteorder("<")
    for e in m["splits"][split]["shards"]:
        toks = np.fromfile(root / e["tokens_file"], dtype=dtype)
        ends = np.fromfile(root / e["index_file"], dtype=INDEX_DTYPE)
        doms = np.fromfile(root / e["domain_file"], dtype=np.uint8)
        start = 0
        for end, d in zip(ends, doms, strict=True):
            out.append((toks[start:int(end)], m["domains"][d]))
            start = int(end)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_round_trip_counts_and_holdout(env: dict) -> None:
    root, tok = env["art"].path, env["tokenizer"]
    m = env["art"].manifest
    by_text = {d.text: d for d in env["docs"]}
    decoded: dict[str, list[str]] = {}
    domain_tokens: dict[str, Counter] = {}
    for split in ("train", "val"):
        decoded[split] = []
        domain_tokens[split] = Counter()
        for toks, dom in read_documents(root, split):
            assert toks[0] == 1 and toks[-1] == 2  # BOS ... EOS
            assert not np.isin(toks[1:-1], [0, 1, 2, 3]).any()
            text = tok.decode(toks[1:-1].tolist())
            assert by_text[text].domain == dom
            decoded[split].append(text)
            domain_tokens[split][dom] += len(toks)
            assert tok.encode(text, add_special_tokens=False).ids == toks[1:-1].tolist()
    # every non-empty document exactly once; validation never in train
    assert sorted(decoded["train"] + decoded["val"]) == sorted(by_text)
    assert not set(decoded["train"]) & set(decoded["val"])
    assert m["counts"]["dropped"] == {"empty_text": 1}
    for split in ("train", "val"):
        per_dom = {d: c["tokens"] for d, c in m["counts"][split]["per_domain"].items()}
        assert per_dom == dict(domain_tokens[split])
        assert m["counts"][split]["tokens"] == sum(domain_tokens[split].values())
        assert sum(c["tokens"] for c in m["counts"][split]["per_lang"].values()) == m["counts"][split]["tokens"]
    # the per-domain minimums of held-out documents and tokens hold
    val_by_domain = Counter(by_text[t].domain for t in decoded["val"])
    total_by_domain = Counter(d.domain for d in env["docs"])
    for dom, n in total_by_domain.items():
        assert val_by_domain[dom] >= min(CFG.val_min_docs, n - 1)
        assert domain_tokens["val"][dom] >= CFG.val_min_tokens or val_by_domain[dom] == n // 2
        assert val_by_domain[dom] <= max(n // 2, 0.2 * n)
    assert 0.02 < len(decoded["val"]) / len(by_text) < 0.2
    assert m["split_method"]["method"] == "id-hash hold-out"
    # shards respect the size limit (a shard closes before a document would overflow it)
    for e in m["splits"]["train"]["shards"]:
        assert e["tokens"] <= CFG.shard_tokens or e["documents"] == 1
    assert len(m["splits"]["train"]["shards"]) > 3


def test_manifest_contents(env: dict) -> None:
    m = env["art"].manifest
    assert m["stage"] == "shards" and m["format"]["token_dtype"] == "uint16"
    assert m["tokenizer"]["version"] == env["tok"].version
    assert m["tokenizer"]["sha256"] == hashlib.sha256((env["tok"].path / "tokenizer.json").read_bytes()).hexdigest()
    assert m["tokenizer"]["special_ids"] == {"pad": 0, "bos": 1, "eos": 2, "unk": 3}
    assert m["tokenizer"]["vocab_size"] == env["tokenizer"].get_vocab_size()
    assert m["parents"] == {"corpus": env["corpus"].version, "tokenizer": env["tok"].version}
    assert m["config"]["seed"] == 7
    listed = {f["path"] for f in m["files"]}
    on_disk = {p.relative_to(env["art"].path).as_posix() for p in env["art"].path.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert listed == on_disk  # nothing unlisted, no scratch left behind
    open_shards(env["art"].path, level="full")


def test_rerun_is_noop_and_bytes_are_deterministic(env: dict, tmp_path: Path) -> None:
    again = pack(str(env["corpus"].path), str(env["tok"].path), CFG, workdir=env["work"])
    assert not again.created and again.artifact.manifest["created"] == env["art"].manifest["created"]
    # another batch size, another place: identical bytes
    other = PackConfig(**{**CFG.__dict__, "encode_batch_docs": 7})
    res = pack(str(env["corpus"].path), str(env["tok"].path), other, workdir=env["work"], out=tmp_path / "o")
    assert res.artifact.version == env["art"].version
    assert tree_digest(res.artifact.path) == tree_digest(env["art"].path)
    # a different seed: same validation documents, a different train order
    reseeded = PackConfig(**{**CFG.__dict__, "seed": 8})
    r8 = pack(str(env["corpus"].path), str(env["tok"].path), reseeded, workdir=env["work"], out=tmp_path / "s8")
    assert r8.artifact.version != env["art"].version
    val7 = sorted(t.tobytes() for t, _ in read_documents(env["art"].path, "val"))
    val8 = sorted(t.tobytes() for t, _ in read_documents(r8.artifact.path, "val"))
    assert val7 == val8
    tr7 = [t.tobytes() for t, _ in read_documents(env["art"].path, "train")]
    tr8 = [t.tobytes() for t, _ in read_documents(r8.artifact.path, "train")]
    assert sorted(tr7) == sorted(tr8) and tr7 != tr8


def test_corpus_val_split_is_used(env: dict, tmp_path: Path) -> None:
    docs = env["docs"]
    val_docs = [d for i, d in enumerate(docs) if i % 10 == 3]
    train_docs = [d for i, d in enumerate(docs) if i % 10 != 3]
    corpus = write_corpus(tmp_path / "split", train_docs, val_docs=val_docs)
    res = pack(str(corpus.path), str(env["tok"].path), CFG, workdir=tmp_path)
    tok = env["tokenizer"]
    got_val = sorted(tok.decode(t[1:-1].tolist()) for t, _ in read_documents(res.artifact.path, "val"))
    got_train = sorted(tok.decode(t[1:-1].tolist()) for t, _ in read_documents(res.artifact.path, "train"))
    assert got_val == sorted(d.text for d in val_docs)
    assert got_train == sorted(d.text for d in train_docs)
    assert res.artifact.manifest["split_method"]["method"] == "corpus val/ split"


_DRIVER = textwrap.dedent("""
    import json, sys, time
    from symboliclight.tokenizer.pack import PackConfig, pack
    corpus, tok, work, out, when, cfg = sys.argv[1:7]
    def progress(stage, done, total):
        if stage.startswith(when) and done > 0:
            print("READY", flush=True)
            time.sleep(60)
    pack(corpus, tok, PackConfig(**json.loads(cfg)), workdir=work, out=out, progress=progress)
""")


@pytest.mark.parametrize("when", ["file", "shard:train"])
def test_sigkill_midway_then_rerun_gives_identical_bytes(env: dict, tmp_path: Path, when: str) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(env["corpus"].path), str(env["tok"].path),
                             str(env["work"]), str(out), when, json.dumps(CFG.__dict__)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", "the pack subprocess ended before reaching the kill point"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()  # incomplete: no later stage would read it
    assert (out / ".work").is_dir()
    encoded: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "encode":
            encoded.append(done)

    res = pack(str(env["corpus"].path), str(env["tok"].path), CFG, workdir=env["work"], out=out, progress=progress)
    assert res.created
    if when == "file":  # the finished spill of the first corpus file was reused, not re-encoded
        per_file = Counter(d.domain for d in env["docs"])
        batches = {dom: -(-n // CFG.encode_batch_docs) for dom, n in per_file.items()}
        assert len(encoded) == sum(batches.values()) - batches["code"]  # code.jsonl.zst sorts first
    assert tree_digest(out) == tree_digest(env["art"].path)
    assert not (out / ".work").exists()


def test_datatrove_reads_our_shards(env: dict) -> None:
    from datatrove.io import get_datafolder
    from datatrove.tools.check_dataset import check_dataset
    from datatrove.utils.dataset import DatatroveFileDataset, DatatroveFolderDataset

    root = env["art"].path
    seq = 127
    ds = DatatroveFolderDataset(str(root / "train"), seq_len=seq, token_size=2)
    shards = env["art"].manifest["splits"]["train"]["shards"]
    expected = []
    for e in sorted(shards, key=lambda e: e["tokens_file"]):
        toks = np.fromfile(root / e["tokens_file"], dtype="<u2").astype(np.int64)
        expected += [toks[i * (seq + 1):(i + 1) * (seq + 1)] for i in range(len(toks) // (seq + 1))]
    assert len(ds) == len(expected) > 0
    for i in range(len(ds)):
        assert np.array_equal(ds[i]["input_ids"].numpy(), expected[i])
    # positions come from our .ds.index: they restart at 0 right after every EOS
    first = sorted(shards, key=lambda e: e["tokens_file"])[0]
    fds = DatatroveFileDataset(str(root / first["tokens_file"]), seq_len=seq, token_size=2, return_positions=True)
    for i in range(min(len(fds), 20)):
        item = fds[i]
        ids, pos = item["input_ids"].numpy(), item["positions"].numpy()
        after_eos = np.flatnonzero(ids[:-1] == 2) + 1
        assert (pos[after_eos] == 0).all() and (pos[1:][ids[:-1] != 2] == pos[:-1][ids[:-1] != 2] + 1).all()
    # datatrove's own consistency tool: EOS at every document end of the index
    check_dataset(get_datafolder(str(root / "train")), str(env["tok"].path / "tokenizer.json"), "</s>")


def test_uint32_when_vocabulary_exceeds_uint16(env: dict, tmp_path: Path) -> None:
    docs = env["docs"][:40] + [Document("big-ids", "<x00000> <x65600> code <x66000>",
                                        {"domain": "code", "lang": "code", "source": "test"})]
    tok_art = train_tokenizer(tmp_path / "tok32", docs, vocab_size=600, extra_tokens=66_001)
    corpus = write_corpus(tmp_path / "c32", docs)
    res = pack(str(corpus.path), str(tok_art.path), CFG, workdir=tmp_path)
    m = res.artifact.manifest
    assert m["format"]["token_dtype"] == "uint32" and m["tokenizer"]["vocab_size"] > 65_536
    everything = np.concatenate([t for s in ("train", "val") for t, _ in read_documents(res.artifact.path, s)])
    assert everything.max() > 65_535
    for e in m["splits"]["train"]["shards"]:
        assert (res.artifact.path / e["tokens_file"]).stat().st_size == 4 * e["tokens"]
    open_shards(res.artifact.path, level="full")


def test_cli_pack_info_verify(env: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    work = tmp_path / "w"
    shutil.copytree(env["corpus"].path, work / "corpus" / env["corpus"].version)
    shutil.copytree(env["tok"].path, work / "tokenizer" / env["tok"].version)
    (tmp_path / "shards.yaml").write_text("val_min_docs: 2\nval_min_tokens: 3000\n")
    args = ["--workdir", str(work), "--corpus", env["corpus"].version, "--tokenizer", env["tok"].version,
            "--config", str(tmp_path / "shards.yaml"), "--shard-tokens", "60000", "--seed", "7", "--val-fraction", "0.05", "--workers", "1"]
    assert cli_main(["shards", "pack", *args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["created"] and out["version"] == env["art"].version
    assert cli_main(["shards", "pack", *args]) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli_main(["shards", "info", "latest", "--workdir", str(work), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["tokens"] == env["art"].manifest["counts"]["train"]["tokens"]
    assert cli_main(["shards", "info", "latest", "--workdir", str(work)]) == 0
    assert "translation" in capsys.readouterr().out
    assert cli_main(["shards", "verify", "latest", "--workdir", str(work)]) == 0
    assert capsys.readouterr().out.startswith("ok:")
    assert cli_main(["shards", "pack", "--workdir", str(work), "--corpus", "nope", "--tokenizer", "latest"]) == 2
    assert "corpus version nope not found" in capsys.readouterr().err
