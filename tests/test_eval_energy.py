"""The energy estimate's operation counts against the networks' own modules and masks."""

from __future__ import annotations

import pytest
import torch
from symboliclight.model.attention import local_mask
from symboliclight.model.build import build_model
from symboliclight.model.config import GPT2Config, load_model_config
from symboliclight.model.energy import (
    EnergyConvention,
    energy_estimate,
    gpt2_ops,
    mean_local_keys,
    symboliclight_ops,
)
from symboliclight.model.sparsity import SiteCount


def _linear_weights(model: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("seq,window,anchors", [(1, 8, 4), (20, 8, 4), (64, 16, 4), (64, 64, 0), (30, 3, 10)])
def test_mean_local_keys_counts_the_mask(seq, window, anchors):
    pos = torch.arange(seq)
    assert mean_local_keys(seq, window, anchors) == pytest.approx(float(local_mask(pos, pos, window, anchors).sum()) / seq)


def _all_firing(cfg) -> list[SiteCount]:
    """Counts as if every unit fired at every one of 10 positions (rate 1)."""
    n = 10
    counts = [SiteCount(0, "encoder", n * cfg.embed_dim, n * cfg.embed_dim)]
    for layer in range(1, cfg.n_layers + 1):
        counts += [SiteCount(layer, "block_out", n * cfg.embed_dim, n * cfg.embed_dim),
                   SiteCount(layer, "ffn_hidden", n * cfg.intermediate_dim, n * cfg.intermediate_dim),
                   SiteCount(layer, "mixer", 0, n * cfg.embed_dim)]
    return counts


@pytest.mark.parametrize("overrides", [[], ["attention=false"], ["decay=false"], ["dynamic_prior=false"],
                                       ["encoder_mask=topk"]])
def test_symboliclight_counts_every_linear_weight_once(overrides):
    cfg = load_model_config("tiny", overrides)
    net = build_model(cfg, device="meta")
    seq = 1  # one position: a single key, so attention adds exactly 2·D per layer when present
    ops = symboliclight_ops(cfg, _all_firing(cfg), seq)
    attn = 2 * cfg.embed_dim * cfg.n_layers if cfg.attention else 0
    # at firing rate 1 every weight of every linear layer is used once per token (AC or MAC)
    assert ops["ac"] + ops["mac"] - attn == _linear_weights(net)
    assert ops["dense_mac"] - attn == _linear_weights(net)


def test_accumulates_scale_with_measured_spikes():
    cfg = load_model_config("tiny")
    counts = _all_firing(cfg)
    half = [SiteCount(c.layer, c.site, c.ones // 2, c.elements) for c in counts]
    full, halved = symboliclight_ops(cfg, counts, 32), symboliclight_ops(cfg, half, 32)
    assert halved["ac"] == pytest.approx(full["ac"] / 2) and halved["mac"] == full["mac"]
    e = energy_estimate(cfg, half, 32, EnergyConvention())
    assert e["pj_per_token"] == pytest.approx(0.9 * halved["ac"] + 4.6 * halved["mac"])
    assert e["kind"] == "estimate"


def test_gpt2_counts():
    cfg = GPT2Config(vocab_size=300, n_layer=3, n_head=2, n_embd=32, block_size=64, tie_embeddings=False)
    net = build_model(cfg, device="meta")
    ops = gpt2_ops(cfg, 1)
    assert ops["ac"] == 0 and ops["mac"] - 2 * 32 * 3 == _linear_weights(net)
    assert gpt2_ops(cfg, 9)["mac"] - ops["mac"] == 2 * 32 * 3 * (5 - 1)  # mean causal keys (9 + 1) / 2 = 5
