"""`eval ppl`: perplexity per domain against an independent computation, sparsity, energy, bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from eval_fixtures import shards_dir, train_checkpoint
from symboliclight.dags.cli import main
from symboliclight.model.eval_checkpoint import load_model
from symboliclight.model.eval_ppl import PplConfig, evaluate_ppl
from symboliclight.pipeline.errors import UserError
from symboliclight.tokenizer.shards import open_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return shards_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return train_checkpoint(tmp_path_factory, "sl")


@pytest.fixture(scope="module")
def gpt2_ckpt(tmp_path_factory) -> Path:
    return train_checkpoint(tmp_path_factory, "gpt2", "model.matched_gpt2=true")


def _val_stream(shards: Path, domain: str) -> np.ndarray:
    """The domain's validation tokens in packed order, read straight from the shard files."""
    ss = open_shards(shards, level="full")
    d = ss.domains.index(domain)
    parts = []
    for shard in ss.shards["val"]:
        toks = np.fromfile(shard.tokens_path, dtype=ss.dtype)
        ends = shard.doc_ends()
        starts = np.concatenate([[0], ends[:-1]])
        for s, e, dom in zip(starts, ends, shard.doc_domains(), strict=True):
            if dom == d:
                parts.append(toks[s:e])
    return np.concatenate(parts).astype(np.int64)


def test_ppl_matches_window_by_window_forward(shards, ckpt):
    loaded = load_model(ckpt)
    result = evaluate_ppl(loaded, shards, PplConfig(batch_size=3, max_windows_per_domain=5))
    seq = result["seq_len"]
    assert seq == 32  # the run's training length
    net = loaded.net
    total, count = 0.0, 0
    for name, entry in result["domains"].items():
        stream = _val_stream(shards, name)
        n = min(5, (len(stream) - 1) // seq)
        assert entry["windows"] == n and entry["tokens"] == n * seq
        loss = 0.0
        for w in range(n):  # one window at a time, each from a fresh state
            x = torch.from_numpy(stream[w * seq: w * seq + seq + 1])[None]
            with torch.no_grad():
                logp = F.log_softmax(net(x[:, :-1]).logits.double(), dim=-1)
            loss -= float(logp[0].gather(-1, x[0, 1:, None]).sum())
        assert entry["loss"] == pytest.approx(loss / (n * seq), rel=1e-5)
        assert entry["ppl"] == pytest.approx(math.exp(loss / (n * seq)), rel=1e-5)
        total += loss
        count += n * seq
    assert result["tokens"] == count
    assert result["loss"] == pytest.approx(total / count, rel=1e-5)
    assert result["ppl"] == pytest.approx(math.exp(total / count), rel=1e-5)
    assert result["ppl"] < 1000  # 40 steps trained: better than uniform over 1000 pieces


def test_sparsity_counts_the_same_tokens(shards, ckpt):
    loaded = load_model(ckpt)
    result = evaluate_ppl(loaded, shards, PplConfig(batch_size=4, max_windows_per_domain=3))
    seq, D = result["seq_len"], loaded.model_cfg.embed_dim
    ones = 0
    for name in result["domains"]:
        stream = _val_stream(shards, name)
        x = torch.from_numpy(np.stack([stream[w * seq: w * seq + seq] for w in range(3)]))
        with torch.no_grad():
            spikes, _, _ = loaded.net.encoder(loaded.net.embed(x))
        ones += int(spikes.sum())
    enc = [r for r in result["sparsity"]["per_layer"] if r["site"] == "encoder"][0]
    assert enc["elements"] == result["tokens"] * D
    assert enc["ones"] == ones
    assert result["sparsity"]["per_site"]["encoder"] == pytest.approx(1 - ones / (result["tokens"] * D))
    assert 0.0 < result["sparsity"]["headline"] < 1.0
    assert all(0.0 < d["sparsity"] < 1.0 for d in result["domains"].values())
    e = result["energy"]
    assert e["kind"] == "estimate" and e["ac_per_token"] > 0 and e["pj_per_token"] < e["dense_equivalent_pj_per_token"]


def test_batch_size_does_not_change_the_result(shards, ckpt):
    loaded = load_model(ckpt)
    a = evaluate_ppl(loaded, shards, PplConfig(batch_size=1, max_windows_per_domain=4))
    b = evaluate_ppl(loaded, shards, PplConfig(batch_size=16, max_windows_per_domain=4))
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert a["sparsity"]["per_layer"] == b["sparsity"]["per_layer"]


def test_gpt2_checkpoint_and_cli_json(shards, gpt2_ckpt, capsys):
    rc = main(["eval", "ppl", "--checkpoint", str(gpt2_ckpt.parent), "--shards", str(shards),
               "--max-windows-per-domain", "2", "--json"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["arch"] == "gpt2" and "sparsity" not in result
    assert result["energy"]["ac_per_token"] == 0 and result["energy"]["mac_per_token"] > 0
    assert set(result["domains"]) == set(open_shards(shards).domains)


def test_cli_table(shards, ckpt, capsys):
    assert main(["eval", "ppl", "--checkpoint", str(ckpt), "--shards", str(shards), "--max-windows-per-domain", "2"]) == 0
    out = capsys.readouterr().out
    assert "translation" in out and "sparsity" in out and "energy ESTIMATE" in out
    assert out.count("\n") >= 8


def _copy_shards(shards: Path, dest: Path, edit) -> Path:
    shutil.copytree(shards, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    edit(manifest, dest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def _one_line_error(capsys, argv: list[str], *fragments: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err


def test_bad_input_is_one_line(shards, ckpt, tmp_path, capsys):
    base = ["eval", "ppl", "--checkpoint", str(ckpt), "--shards"]

    def other_vocab(m, _):
        m["tokenizer"]["vocab_size"] = 1200

    def other_pieces(m, _):
        m["tokenizer"]["sha256"] = "0" * 64

    def empty_val(m, d):
        m["splits"]["val"]["shards"] = []
        shutil.rmtree(d / "val")

    _one_line_error(capsys, base + [str(_copy_shards(shards, tmp_path / "v", other_vocab))], "1000-token", "1200-token")
    _one_line_error(capsys, base + [str(_copy_shards(shards, tmp_path / "p", other_pieces))], "different pieces")
    _one_line_error(capsys, base + [str(_copy_shards(shards, tmp_path / "e", empty_val))], "validation split is empty")
    _one_line_error(capsys, base + [str(shards), "--seq-len", "100000"], "exceeds the model's context")

    # another architecture: the recorded config says 3 blocks, the weights hold 2
    data = torch.load(ckpt, weights_only=True)
    data["symboliclight"]["model_config"]["n_layers"] = 3
    torch.save(data, tmp_path / "arch.ckpt")
    _one_line_error(capsys, ["eval", "ppl", "--checkpoint", str(tmp_path / "arch.ckpt"), "--shards", str(shards)],
                    "weights do not match", "missing blocks.2")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    _one_line_error(capsys, ["eval", "ppl", "--checkpoint", str(tmp_path / "junk.ckpt"), "--shards", str(shards)],
                    "junk.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    _one_line_error(capsys, ["eval", "ppl", "--checkpoint", str(tmp_path / "foreign.ckpt"), "--shards", str(shards)],
                    "not a symboliclight training checkpoint")
    empty = tmp_path / "no-ckpts"
    empty.mkdir()
    _one_line_error(capsys, ["eval", "ppl", "--checkpoint", str(empty), "--shards", str(shards)], "no step-*.ckpt")


def test_unfindable_training_shards_still_check_vocabulary(shards, ckpt, tmp_path):
    # A checkpoint moved away from its training shards: only the vocabulary size can be checked.
    data = torch.load(ckpt, weights_only=True)
    data["symboliclight"]["config"]["data"]["shards"] = str(tmp_path / "gone")
    data["ShardsDataModule"]["shards_version"] = "000000000000"
    torch.save(data, tmp_path / "moved.ckpt")
    loaded = load_model(tmp_path / "moved.ckpt")
    assert evaluate_ppl(loaded, shards, PplConfig(max_windows_per_domain=1), workdir=tmp_path)["tokens"] > 0
    with pytest.raises(UserError, match="vocabulary"):
        loaded.model_cfg.vocab_size = 999
        evaluate_ppl(loaded, shards, PplConfig(max_windows_per_domain=1), workdir=tmp_path)
