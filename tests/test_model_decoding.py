"""Incremental decoding equals the full forward pass (fp32, max abs diff < 1e-4), for SymbolicLight
(inputs longer than the attention window) and the GPT-2 baseline; the KV cache stays bounded."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import VARIANTS, tiny_model, tokens
from symboliclight.model.build import build_model
from symboliclight.model.config import GPT2Config
from symboliclight.model.decoding import generate


def _stepwise(model, idx, prefill: int = 0, sizes: tuple[int, ...] = (1,)):
    cache = model.new_cache()
    outs = []
    t = 0
    if prefill:
        outs.append(model(idx[:, :prefill], cache=cache).logits)
        t = prefill
    k = 0
    while t < idx.shape[1]:
        n = sizes[k % len(sizes)]
        outs.append(model(idx[:, t:t + n], cache=cache).logits)
        t += n
        k += 1
    return torch.cat(outs, dim=1), cache


@pytest.mark.parametrize("variant", ["full", "topk", "no_attention", "no_decay"])
def test_symboliclight_cached_steps_equal_full_forward(variant):
    model = tiny_model(VARIANTS[variant])
    assert model.cfg.window == 16
    idx = tokens(2, 60)  # longer than window + anchors
    with torch.no_grad():
        full = model(idx).logits
        step, cache = _stepwise(model, idx)
        mixed, _ = _stepwise(model, idx, prefill=23, sizes=(1, 5, 2))
    assert (step - full).abs().max() < 1e-4
    assert (mixed - full).abs().max() < 1e-4
    assert cache.position == 60
    if model.cfg.attention:
        attn = cache.blocks[0].attn
        assert len(attn) <= model.cfg.window + model.cfg.n_anchors
        kept = attn.positions.tolist()
        assert kept == [0, 1, 2, 3] + list(range(60 - model.cfg.window, 60))


def test_cache_stays_bounded_over_a_long_generation():
    model = tiny_model()
    with torch.no_grad():
        cache = model.new_cache()
        model(tokens(1, 10), cache=cache)
        for t in range(60):
            model(tokens(1, 1, seed=t), cache=cache)
            assert all(len(b.attn) <= 20 for b in cache.blocks)
    assert cache.position == 70 and cache.membrane.shape == (1, model.cfg.embed_dim)


def test_gpt2_cached_steps_equal_full_forward():
    torch.manual_seed(0)
    model = build_model(GPT2Config(vocab_size=300, n_layer=2, n_head=2, n_embd=32, block_size=64)).eval()
    idx = tokens(2, 50, vocab=300)
    with torch.no_grad():
        full = model(idx).logits
        step, cache = _stepwise(model, idx)
        mixed, _ = _stepwise(model, idx, prefill=17, sizes=(3, 1))
    assert (step - full).abs().max() < 1e-4 and (mixed - full).abs().max() < 1e-4
    with pytest.raises(ValueError, match="block_size"):
        model(tokens(1, 20, vocab=300), cache=cache)


def test_greedy_generate_matches_full_recomputation():
    model = tiny_model()
    prompt = tokens(2, 7)
    out = generate(model, prompt, max_new_tokens=12, temperature=0.0)
    assert out.shape == (2, 19) and torch.equal(out[:, :7], prompt)
    seq = prompt
    with torch.no_grad():
        for _ in range(12):
            seq = torch.cat([seq, model(seq).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = generate(model, prompt, 8, temperature=0.8, top_k=20, generator=g1)
    b = generate(model, prompt, 8, temperature=0.8, top_k=20, generator=g2)
    assert torch.equal(a, b)
