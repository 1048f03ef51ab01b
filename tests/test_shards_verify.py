"""Bad shards: `shards verify` and the data module name the file and refuse; nothing trains on bad data."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from shards_fixtures import real_documents, train_tokenizer, write_corpus
from symboliclight.dags.cli import main as cli_main
from symboliclight.model.data import DataConfig, ShardsDataModule
from symboliclight.pipeline.errors import UserError
from symboliclight.tokenizer.pack import PackConfig, pack
from symboliclight.tokenizer.shards import open_shards


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("verifywork")
    docs = real_documents()
    corpus = write_corpus(work / "corpus", docs)
    tok = train_tokenizer(work / "tok", docs)
    return pack(str(corpus.path), str(tok.path), PackConfig(shard_tokens=80_000, val_fraction=0.05),
                workdir=work, out=work / "shards").artifact.path


@pytest.fixture
def copy(packed: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "shards"
    shutil.copytree(packed, dst)
    return dst


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def save_manifest(root: Path, m: dict) -> None:
    (root / "manifest.json").write_text(json.dumps(m))


def shard(root: Path, i: int = 1) -> dict:
    return manifest(root)["splits"]["train"]["shards"][i]


def rewrite_consistently(root: Path, rel: str, edit: Callable[[bytearray], None], sha_key: str) -> None:
    """Corrupt a file *and* update the manifest's hashes, as a buggy writer would: only content checks catch it."""
    p = root / rel
    data = bytearray(p.read_bytes())
    edit(data)
    p.write_bytes(bytes(data))
    m = manifest(root)
    for e in m["splits"]["train"]["shards"]:
        if rel in (e["tokens_file"], e["index_file"], e["domain_file"]):
            e[sha_key] = hashlib.sha256(bytes(data)).hexdigest()
    for f in m["files"]:
        if f["path"] == rel:
            f["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    save_manifest(root, m)


def refused(root: Path, level: str = "full") -> str:
    with pytest.raises(UserError) as e:
        open_shards(root, level=level)  # type: ignore[arg-type]
    return str(e.value)


def module_refuses(root: Path, verify: str = "sizes") -> str:
    dm = ShardsDataModule(DataConfig(shards=str(root), seq_len=32, batch_size=2, num_workers=0, verify=verify))  # type: ignore[arg-type]
    with pytest.raises(UserError) as e:
        dm.setup("fit")
    return str(e.value)


def test_intact_shards_pass_both_levels(copy: Path) -> None:
    open_shards(copy, level="full")
    open_shards(copy, level="sizes")


def test_flipped_byte_in_token_file(copy: Path, capsys: pytest.CaptureFixture) -> None:
    rel = shard(copy)["tokens_file"]
    p = copy / rel
    data = bytearray(p.read_bytes())
    data[len(data) // 2 + 1] ^= 0x40
    p.write_bytes(bytes(data))
    assert rel in refused(copy) and "sha256" in refused(copy)
    assert rel in module_refuses(copy, verify="full")
    assert cli_main(["shards", "verify", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and rel in err and "sha256" in err


def test_truncated_index(copy: Path, capsys: pytest.CaptureFixture) -> None:
    rel = shard(copy)["index_file"]
    p = copy / rel
    p.write_bytes(p.read_bytes()[:-8])
    for msg in (refused(copy), refused(copy, "sizes"), module_refuses(copy)):
        assert rel in msg and "size" in msg
    assert cli_main(["shards", "verify", "--quick", str(copy)]) == 2
    assert rel in capsys.readouterr().err


def test_manifest_path_outside_its_directory(copy: Path) -> None:
    m = manifest(copy)
    m["splits"]["train"]["shards"][0]["tokens_file"] = "../x"
    save_manifest(copy, m)
    for msg in (refused(copy), module_refuses(copy)):
        assert "'../x'" in msg and "escapes" in msg


def test_listed_file_outside_its_directory(copy: Path) -> None:
    m = manifest(copy)
    m["files"][0]["path"] = "../../etc/passwd"
    save_manifest(copy, m)
    for msg in (refused(copy, "sizes"), module_refuses(copy)):
        assert "'../../etc/passwd'" in msg and "escapes" in msg


def test_missing_shard(copy: Path) -> None:
    rel = shard(copy, 0)["tokens_file"]
    (copy / rel).unlink()
    for msg in (refused(copy), module_refuses(copy)):
        assert rel in msg and "missing" in msg


def test_id_beyond_vocabulary_with_consistent_hashes(copy: Path) -> None:
    rel = shard(copy)["tokens_file"]

    def edit(b: bytearray) -> None:
        b[20:22] = (5000).to_bytes(2, "little")

    rewrite_consistently(copy, rel, edit, "sha256")
    msg = refused(copy)
    assert rel in msg and "5000 >= vocabulary size 1000" in msg
    assert rel in module_refuses(copy, verify="full")


def test_document_without_eos(copy: Path) -> None:
    e = shard(copy)
    ends = np.fromfile(copy / e["index_file"], dtype="<u8")
    pos = int(ends[3]) - 1

    def edit(b: bytearray) -> None:
        b[2 * pos:2 * pos + 2] = (77).to_bytes(2, "little")

    rewrite_consistently(copy, e["tokens_file"], edit, "sha256")
    for msg in (refused(copy), module_refuses(copy, verify="full")):
        assert e["tokens_file"] in msg and "document 3 does not end with EOS" in msg
    open_shards(copy, level="sizes")  # the cheap level reads no token data: content needs `full`


def test_index_not_monotonic(copy: Path) -> None:
    e = shard(copy)

    def edit(b: bytearray) -> None:
        ends = np.frombuffer(bytes(b), dtype="<u8").copy()
        ends[2], ends[3] = ends[3], ends[2]
        b[:] = ends.tobytes()

    rewrite_consistently(copy, e["index_file"], edit, "index_sha256")
    msg = refused(copy)
    assert e["index_file"] in msg and "not strictly increasing" in msg


def test_stray_token_file_is_refused(copy: Path) -> None:
    src = copy / shard(copy)["tokens_file"]
    shutil.copy(src, copy / "train" / "extra.ds")
    assert "extra.ds" in refused(copy) and "not listed" in refused(copy)


def test_wrong_vocabulary_is_refused(copy: Path) -> None:
    dm = ShardsDataModule(DataConfig(shards=str(copy), seq_len=32, batch_size=2, num_workers=0), expected_vocab_size=48000)
    with pytest.raises(UserError, match="1000-token vocabulary.*expects 48000"):
        dm.setup("fit")


def test_incomplete_artifact_is_refused(copy: Path) -> None:
    (copy / "manifest.json").unlink()
    assert "incomplete artifact" in refused(copy)
