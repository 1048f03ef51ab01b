"""The direct local-attention kernel and the fused decoding step (issue 10, small-model overheads):
each against its oracle (dense-mask attention; the module-by-module decoding path and the full
forward), values and gradients in fp32 (1e-5 relative) and fp64, and the flash-based path that
larger windows still take."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import (
    REL,
    VARIANTS,
    assert_rel,
    dense_local_attention,
    tiny_model,
    tokens,
)
from symboliclight.model import fused_decode, native
from symboliclight.model import local_attention as la
from symboliclight.model.attention import rope_inv_freq, rope_tables
from symboliclight.model.sparsity import SparsityMeter

_COVERED = fused_decode._covered

pytestmark = pytest.mark.skipif(native.kernels() is None, reason="no C compiler: native kernels unavailable")


@pytest.fixture(params=["direct", "flash"])
def attention_path(request, monkeypatch):
    """Route `fused_local_attention` to one implementation whatever the window."""
    monkeypatch.setattr(la, "DIRECT_MAX_KEYS", 10**9 if request.param == "direct" else 0)
    return request.param


@pytest.mark.parametrize("S,window,anchors,offset,H,d,q_active,rope", [
    (70, 8, 4, 0, 3, 16, True, True), (50, 20, 4, 3, 2, 32, True, True), (37, 6, 0, 0, 2, 64, False, True),
    (45, 5, 4, 0, 3, 6, True, False), (33, 0, 2, 0, 1, 8, False, True), (9, 30, 4, 0, 2, 16, True, True),
    (1, 4, 4, 0, 2, 16, True, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_local_attention_equals_densedense_local_attention(attention_path, S, window, anchors, offset, H, d, q_active, rope, dtype):
    torch.manual_seed(S + d)
    B = 2
    qkv = torch.randn(B, S, 3 * H * d, dtype=dtype, requires_grad=True)
    active = torch.rand(B, S) < 0.6
    active[0, : S // 2] = False  # early rows of sequence 0: no admissible key at all
    pos = torch.arange(offset, offset + S)
    tables = rope_tables(pos, rope_inv_freq(d, 10000.0), dtype) if rope else None
    fast = la.fused_local_attention(qkv, active, (H, d), window=window, n_anchors=anchors, block=8, offset=offset,
                                    rope=tables, q_active=q_active)
    ref = dense_local_attention(qkv, active, H, d, window, anchors, offset, q_active, rope)
    rel = REL if dtype == torch.float32 else 1e-12
    assert torch.isfinite(fast).all()
    assert_rel(fast, ref, rel)
    g = torch.randn_like(ref)
    (g_fast,) = torch.autograd.grad((fast * g).sum(), qkv)
    (g_ref,) = torch.autograd.grad((ref * g).sum(), qkv)
    assert torch.isfinite(g_fast).all()
    assert_rel(g_fast, g_ref, rel)


def test_direct_kernel_is_chosen_for_small_windows_only(monkeypatch):
    """The shipped tiny window takes the direct kernel, a 256 window the flash path."""
    seen = []
    for name in ("_DirectLocalAttention", "_FusedLocalAttention"):
        real = getattr(la, name)
        monkeypatch.setattr(la, name, type(name, (real,), {"apply": classmethod(
            lambda cls, *a, _n=name, _r=real: seen.append(_n) or _r.apply(*a))}))
    qkv = torch.randn(1, 40, 3 * 32)
    active = torch.ones(1, 40, dtype=torch.bool)
    la.fused_local_attention(qkv, active, (2, 16), window=16, n_anchors=4, block=16)
    la.fused_local_attention(qkv, active, (2, 16), window=256, n_anchors=4, block=16)
    assert seen == ["_DirectLocalAttention", "_FusedLocalAttention"]


@pytest.mark.parametrize("variant", ["full", "no_decay"])
def test_network_with_flash_path_still_equals_direct_path(monkeypatch, variant):
    """Whole network, forward and every gradient: the two attention implementations agree."""
    def run(limit):
        monkeypatch.setattr(la, "DIRECT_MAX_KEYS", limit)
        model = tiny_model(["dropout=0.0", "window=6", "attn_block=8"] + VARIANTS[variant], eval_mode=False)
        idx = tokens(2, 70)
        out = model(idx, idx.roll(-1, 1))
        out.loss.backward()
        return out.logits.detach(), {n: p.grad for n, p in model.named_parameters()}

    logits_d, grads_d = run(10**9)
    logits_f, grads_f = run(0)
    assert_rel(logits_d, logits_f)
    for name, g in grads_f.items():
        assert_rel(grads_d[name], g, rel=REL if g.numel() > 1 else 1e-4)


# --- fused decoding step ---------------------------------------------------------------------------

def _decode(model, idx, prefill, fused: bool, monkeypatch):
    monkeypatch.setattr(fused_decode, "MAX_ROWS", 8 if fused else 0)
    model.sparsity.reset()
    calls = []
    monkeypatch.setattr(fused_decode, "_covered", lambda *a: calls.append(_COVERED(*a)) or calls[-1])
    with torch.no_grad():
        cache = model.new_cache()
        outs = [model(idx[:, :prefill], cache=cache).logits]
        for t in range(prefill, idx.shape[1]):
            outs.append(model(idx[:, t:t + 1], cache=cache).logits)
    counts = [(c.ones, c.elements) for c in model.sparsity.counts()]
    return torch.cat(outs, dim=1), cache, counts, calls


@pytest.mark.parametrize("batch", [1, 2])
def test_fused_decode_step_equals_module_path_and_full_forward(batch, monkeypatch):
    """Runs past the ring buffer's wrap (window 16 + 4 anchors): logits, every cache tensor and the
    spike counts of the fused step equal the module path's; both equal the uncached forward."""
    model = tiny_model(["dropout=0.0"])
    idx = tokens(batch, 70)
    fused, cache_f, counts_f, calls_f = _decode(model, idx, 25, True, monkeypatch)
    plain, cache_p, counts_p, calls_p = _decode(model, idx, 25, False, monkeypatch)
    assert calls_f == [True] * 45 and calls_p == [False] * 45
    assert counts_f == counts_p
    assert_rel(fused, plain)
    with torch.no_grad():
        assert_rel(fused, model(idx).logits)
    assert cache_f.position == cache_p.position == 70
    assert_rel(cache_f.membrane, cache_p.membrane)
    for bf, bp in zip(cache_f.blocks, cache_p.blocks, strict=True):
        assert_rel(bf.decay_state, bp.decay_state)
        assert bf.decay_state.shape == bp.decay_state.shape
        for name in ("k", "v"):
            assert_rel(getattr(bf.attn, name), getattr(bp.attn, name))
        assert torch.equal(bf.attn.bias, bp.attn.bias) and torch.equal(bf.attn.slot_pos, bp.attn.slot_pos)
        assert bf.attn.end == bp.attn.end == 70
        assert bf.attn.positions.tolist() == bp.attn.positions.tolist()


def test_fused_decode_sees_weight_updates(monkeypatch):
    """The transposed weights are remade when a parameter changes in place (training between
    generations), so the fused step keeps equal to the module path."""
    model = tiny_model(["dropout=0.0"])
    idx = tokens(1, 30)
    _decode(model, idx, 20, True, monkeypatch)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.1)
    fused, *_ = _decode(model, idx, 20, True, monkeypatch)
    plain, *_ = _decode(model, idx, 20, False, monkeypatch)
    assert_rel(fused, plain)


@pytest.mark.parametrize("case", ["grad", "no_attention", "topk", "static_prior", "fp64", "meter_subclass"])
def test_fused_decode_steps_aside_where_it_does_not_apply(case, monkeypatch):
    overrides = ["dropout=0.0"] + (VARIANTS[case] if case in VARIANTS else [])
    model = tiny_model(overrides)
    if case == "fp64":
        model = model.double()
    if case == "meter_subclass":
        class Inspecting(SparsityMeter):
            def record(self, layer, site, spikes):
                super().record(layer, site, spikes)

        model.sparsity = Inspecting(model.cfg.n_layers)
    idx = tokens(1, 24)
    cache = model.new_cache()
    with torch.set_grad_enabled(case == "grad"):
        model(idx[:, :20], cache=cache)
        assert not fused_decode._covered(model, idx[:, 20:21], cache)
        full_cache = model.new_cache()
        step = torch.cat([model(idx[:, :20], cache=full_cache).logits, model(idx[:, 20:21], cache=full_cache).logits],
                         dim=1)
        assert_rel(step, model(idx[:, :21]).logits, rel=1e-5 if case != "fp64" else 1e-12)
