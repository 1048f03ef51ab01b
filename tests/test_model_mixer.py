"""Decay path (parallel == recurrent), local attention mask and outputs, RoPE, NaN safety, gate."""

from __future__ import annotations

import math

import pytest
import torch
from symboliclight.model.attention import (
    SpikeGatedAttention,
    apply_rope,
    local_mask,
    masked_attention,
    rope_inv_freq,
)
from symboliclight.model.config import load_model_config
from symboliclight.model.decay import decay_parallel, decay_recurrent
from symboliclight.model.mixer import DualPathMixer


@pytest.mark.parametrize("length,chunk", [(1, 4), (37, 8), (64, 64), (100, 7), (50, 1)])
def test_decay_parallel_equals_recurrent(length, chunk):
    torch.manual_seed(length)
    u = torch.randn(2, length, 3, 5, dtype=torch.float64)
    logit = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64)
    h0 = torch.randn(2, 3, 5, dtype=torch.float64)
    for state in (None, h0):
        par, h_par = decay_parallel(u, logit, state, chunk)
        rec, h_rec = decay_recurrent(u, logit, state)
        torch.testing.assert_close(par, rec, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(h_par, h_rec, rtol=1e-10, atol=1e-12)


def test_decay_closed_form_and_gradients_agree():
    """context_t = Σ_j (1−λ) λ^{t−j} u_j + λ^t h0 (t from 1), and both forms give the same gradients."""
    torch.manual_seed(0)
    S = 20
    u = torch.randn(1, S, 2, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 3, dtype=torch.float64)
    logit = torch.tensor([3.0, 0.0], dtype=torch.float64, requires_grad=True)
    lam = torch.sigmoid(logit.detach())
    t = torch.arange(1, S + 1, dtype=torch.float64)
    w = torch.where(t[:, None] >= t[None, :], (1 - lam[:, None, None]) * lam[:, None, None] ** (t[:, None] - t[None, :]),
                    torch.zeros(()))  # [H, S, S]
    closed = torch.einsum("htj,bjhd->bthd", w, u) + lam[None, None, :, None] ** t[None, :, None, None] * h0[:, None]
    par, _ = decay_parallel(u, logit, h0, chunk=6)
    torch.testing.assert_close(par, closed, rtol=1e-10, atol=1e-12)
    (g_par,) = torch.autograd.grad((par ** 2).sum(), logit)
    rec, _ = decay_recurrent(u, logit, h0)
    (g_rec,) = torch.autograd.grad((rec ** 2).sum(), logit)
    torch.testing.assert_close(g_par, g_rec, rtol=1e-9, atol=1e-12)


def _reference_mask(n_q: int, n_k: int, offset: int, window: int, anchors: int) -> torch.Tensor:
    m = torch.zeros(n_q, n_k, dtype=torch.bool)
    for a in range(n_q):
        i = offset + a
        for j in range(n_k):
            m[a, j] = j <= i and (i - j <= window or j < anchors)
    return m


@pytest.mark.parametrize("n,window,anchors", [(40, 8, 4), (40, 50, 4), (33, 0, 2), (20, 5, 0)])
def test_local_mask_equals_dense_reference(n, window, anchors):
    pos = torch.arange(n)
    assert torch.equal(local_mask(pos, pos, window, anchors), _reference_mask(n, n, 0, window, anchors))
    q = torch.arange(n - 3, n)  # decoding: last three queries against all keys
    assert torch.equal(local_mask(q, pos, window, anchors), _reference_mask(3, n, n - 3, window, anchors))


def test_mask_window_semantics_194m():
    pos = torch.arange(600)
    m = local_mask(pos, pos, 256, 4)
    assert m[300, 300 - 256] and not m[300, 300 - 257]  # i − j ≤ W, inclusive
    assert m[599, 3] and not m[599, 4]  # anchors 0..3 stay visible
    assert not m[10, 11]  # causal


def _naive_attention(q, k, v, allowed):
    """Per-query loop: softmax over admissible keys only, 0 when there are none."""
    B, H, S, d = q.shape
    out = torch.zeros_like(q)
    for b in range(B):
        for i in range(S):
            keys = allowed[b, i].nonzero().flatten()
            if len(keys) == 0:
                continue
            scores = torch.einsum("hd,hnd->hn", q[b, :, i], k[b, :, keys]) / math.sqrt(d)
            out[b, :, i] = torch.einsum("hn,hnd->hd", torch.softmax(scores, -1), v[b, :, keys])
    return out


def test_spike_gated_attention_matches_naive_reference():
    torch.manual_seed(0)
    cfg = load_model_config("tiny", ["window=5", "n_anchors=2"])
    attn = SpikeGatedAttention(cfg).double()
    B, S = 2, 24
    x = torch.randn(B, S, cfg.embed_dim, dtype=torch.float64)
    active = torch.rand(B, S) < 0.6
    out = attn(x, active)
    pos = torch.arange(S)
    H, d = cfg.n_heads, cfg.head_dim
    q = apply_rope(attn.q(x).view(B, S, H, d).transpose(1, 2), pos, attn.inv_freq.double())
    k = apply_rope(attn.k(x).view(B, S, H, d).transpose(1, 2), pos, attn.inv_freq.double())
    v = attn.v(x).view(B, S, H, d).transpose(1, 2)
    allowed = _reference_mask(S, S, 0, 5, 2)[None] & active[:, None, :]
    ref = _naive_attention(q, k, v, allowed).transpose(1, 2).reshape(B, S, -1) * active[..., None]
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)


def test_no_nan_when_a_query_has_no_spiking_key():
    torch.manual_seed(0)
    B, H, S, d = 2, 2, 6, 4
    q, k, v = (torch.randn(B, H, S, d, requires_grad=True) for _ in range(3))
    mask = torch.zeros(B, 1, S, S, dtype=torch.bool)
    mask[0, 0, 3, 1] = True  # one admissible key for one query; every other row is empty
    out = masked_attention(q, k, v, mask)
    assert torch.isfinite(out).all()
    assert torch.count_nonzero(out[1]) == 0 and torch.count_nonzero(out[0, :, :3]) == 0
    torch.testing.assert_close(out[0, :, 3], v[0, :, 1])
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    # the whole mixer with no spike anywhere: attention path silent, output finite
    cfg = load_model_config("tiny", ["dropout=0.0"])
    mixer = DualPathMixer(cfg)
    cont = torch.randn(2, 10, cfg.embed_dim, requires_grad=True)
    y = mixer(torch.zeros(2, 10, cfg.embed_dim), cont)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(cont.grad).all()


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    inv = rope_inv_freq(16, 10000.0)
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)

    def score(i, j):
        return float(apply_rope(q[None], torch.tensor([i]), inv) @ apply_rope(k[None], torch.tensor([j]), inv).T)

    assert math.isclose(score(7, 3), score(107, 103), rel_tol=1e-6)
    assert math.isclose(score(0, 0), float(q @ k), rel_tol=1e-9)
    assert torch.allclose(inv, 10000.0 ** (-torch.arange(0, 16, 2) / 16))


def test_gate_init_and_fusion():
    cfg = load_model_config("tiny", ["dropout=0.0"])
    mixer = DualPathMixer(cfg)
    assert float(torch.sigmoid(mixer.gate_logit.detach())) == 0.5
    assert torch.allclose(torch.sigmoid(mixer.decay.logit), torch.tensor(1 / (1 + math.exp(-3.0))))
    spikes = (torch.rand(1, 12, cfg.embed_dim) < 0.1).float()
    cont = torch.randn(1, 12, cfg.embed_dim)
    active = spikes.sum(-1) > 0
    attn_out = mixer.attn(cont, active)
    decay_out, _ = mixer.decay(spikes, active)
    expected = mixer.norm(cont + mixer.out_proj(0.5 * attn_out + 0.5 * decay_out))
    torch.testing.assert_close(mixer(spikes, cont), expected)
