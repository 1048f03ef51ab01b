"""`bench/model_throughput.py` end to end at a toy size: the JSON contract of issue 10, the FLOPs
count behind MFU, and the fast-vs-oracle check that the GPU run relies on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from symboliclight.model.attention import local_mask

BENCH = Path(__file__).resolve().parents[1] / "bench" / "model_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("model_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_the_json_contract_and_passes_the_check(bench, tmp_path):
    out = tmp_path / "mt.json"
    rc = bench.main(["--configs", "tiny", "--contexts", "64,96", "--quick", "--no-memory", "--check",
                     "--train-tokens", "192", "--decode-tokens", "4", "--json", str(out)])
    report = json.loads(out.read_text())
    assert rc == 0
    assert report["device"].startswith("cpu")
    rows = report["results"]
    assert {(r["model"], r["context"]) for r in rows} == {
        (m, c) for m in ("symboliclight-fast", "symboliclight-oracle", "gpt2") for c in (64, 96)}
    for r in rows:
        assert r["config"] == "tiny" and r["params"] > 100_000
        assert min(r["train_tokens_per_s"], r["prefill_tokens_per_s"], r["decode_tokens_per_s"]) > 0
        assert r["train_flops_per_token"] > 6 * r["params"] * 0.5
    sl = {r["context"]: r for r in rows if r["model"] == "symboliclight-fast"}
    assert sl[96]["train_flops_per_token"] > sl[64]["train_flops_per_token"]  # attention grows with context
    agreement = report["agreement"]
    assert agreement["passed"] and agreement["lif_bitwise_equal"]
    assert agreement["logits_rel"] <= 1e-5 and agreement["grad_rel_max"] <= 1e-5


@pytest.mark.parametrize("context,window,anchors", [(1, 4, 2), (50, 8, 3), (64, 100, 4), (300, 32, 0)])
def test_attended_keys_counts_the_mask(bench, context, window, anchors):
    pos = torch.arange(context)
    expected = float(local_mask(pos, pos, window, anchors).sum()) / context
    assert bench.attended_keys(context, window, anchors) == pytest.approx(expected)
    causal = float(local_mask(pos, pos, context, 0).sum()) / context
    assert bench.attended_keys(context, None) == pytest.approx(causal)


def test_gpt2_flops_are_six_per_matmul_weight_plus_causal_attention(bench):
    cfgs = bench.model_configs("tiny", 128, 0.0, 0.05)
    from symboliclight.model.build import build_model

    cfg = cfgs["gpt2"]
    model = build_model(cfg)
    D, L, V = cfg.n_embd, cfg.n_layer, cfg.vocab_size
    matmul = L * (3 * D * D + D * D + 8 * D * D) + V * D  # qkv, proj, MLP, head
    expected = 6 * matmul + 12 * L * D * (128 + 1) / 2
    assert bench.train_flops_per_token(model, cfg, 128) == pytest.approx(expected)
