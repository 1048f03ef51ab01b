"""Fast paths against their oracles (issue 10): LIF scan, threshold spike, decay recurrence, blockwise
local attention, sparse FFN down projection, and the whole network, forward and gradients in fp32
(1e-5 relative) and fp64; the native-kernel build, its cache and its fallback."""

from __future__ import annotations

import math

import pytest
import torch
from model_fixtures import (
    REL,
    VARIANTS,
    assert_rel,
    assert_same_values_and_grads,
    dense_local_attention,
    tiny_model,
    tokens,
)
from symboliclight.model import attention as attention_mod
from symboliclight.model import native
from symboliclight.model.attention import local_mask, masked_attention, rope_inv_freq, rope_tables
from symboliclight.model.decay import decay_chunked, decay_convolution, decay_recurrent, decay_scan
from symboliclight.model.local_attention import blocked_local_attention, fused_local_attention
from symboliclight.model.sparse_ffn import sparse_down
from symboliclight.model.sparsity import SparsityMeter
from symboliclight.model.spike_kernels import (
    count_at_least,
    gate_mix,
    lif_scan_fast,
    spike_fast,
    spike_fast_counted,
)
from symboliclight.model.spiking import lif_scan, spike
from symboliclight.pipeline.native_build import LazyLibrary


@pytest.fixture(params=["native", "fallback"])
def backend(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.setenv("SYMBOLICLIGHT_NO_NATIVE", "1")
    else:
        monkeypatch.delenv("SYMBOLICLIGHT_NO_NATIVE", raising=False)
        if native.kernels() is None:
            pytest.skip("no C compiler: native kernels unavailable")
    return request.param


# --- LIF scan and threshold spike ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_fast_equals_python_loop(backend, dtype):
    torch.manual_seed(0)
    x = (torch.randn(3, 77, 40, dtype=dtype) * 1.7).requires_grad_()
    v0 = torch.randn(3, 40, dtype=dtype)
    g = torch.randn(3, 77, 40, dtype=dtype)
    s_ref, v_ref = lif_scan(x, v0)
    (gx_ref,) = torch.autograd.grad((s_ref * g).sum(), x)
    s_fast, v_fast = lif_scan_fast(x, v0, 0.95, 1.0, 3.0, 2.0)
    (gx_fast,) = torch.autograd.grad((s_fast * g).sum(), x)
    assert torch.equal(s_fast, s_ref)  # same roundings: bit-identical spikes, membrane and gradient
    assert torch.equal(v_fast, v_ref)
    assert torch.equal(gx_fast, gx_ref)
    assert 0.05 < float(s_fast.detach().mean()) < 0.3


def test_lif_fast_carries_membrane_and_handles_empty(backend):
    x = torch.randn(2, 30, 8)
    full, v_full = lif_scan_fast(x, torch.zeros(2, 8), 0.95, 1.0, 3.0, 2.0)
    a, v_a = lif_scan_fast(x[:, :11], torch.zeros(2, 8), 0.95, 1.0, 3.0, 2.0)
    b, v_b = lif_scan_fast(x[:, 11:], v_a, 0.95, 1.0, 3.0, 2.0)
    assert torch.equal(torch.cat([a, b], 1), full) and torch.equal(v_b, v_full)
    empty, v_e = lif_scan_fast(x[:, :0], v_full, 0.95, 1.0, 3.0, 2.0)
    assert empty.shape == (2, 0, 8) and torch.equal(v_e, v_full)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spike_fast_equals_surrogate_spike(backend, dtype):
    u = (torch.randn(5, 33, 70, dtype=dtype) * 2).requires_grad_()
    g = torch.randn_like(u)
    (g_ref,) = torch.autograd.grad((spike(u, 1.0, 2.0) * g).sum(), u)
    z, ones = spike_fast_counted(u, 1.0, 2.0)
    (g_fast,) = torch.autograd.grad((z * g).sum(), u)
    assert torch.equal(z, spike(u, 1.0, 2.0)) and torch.equal(g_fast, g_ref)
    assert int(ones) == int((u >= 1.0).sum())
    assert torch.equal(spike_fast(u.detach()[0, 0], 1.0, 2.0), (u.detach()[0, 0] >= 1).float().to(dtype))


# --- decay path ------------------------------------------------------------------------------------

@pytest.mark.parametrize("length,chunk", [(1, 4), (37, 8), (64, 64), (100, 7), (50, 1), (130, 64), (20, 64)])
def test_decay_chunked_equals_full_convolution(length, chunk):
    torch.manual_seed(length)
    logit_init = torch.tensor([3.0, -1.0, 0.5, 8.0])  # λ from 0.27 to 0.9997
    for h0 in (None, torch.randn(2, 4, 5)):
        grads = []
        for fn in (decay_convolution, lambda u, lg, h: decay_chunked(u, lg, h, chunk)):
            u = torch.randn(2, length, 4, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
            logit = logit_init.clone().requires_grad_()
            h = None if h0 is None else h0.clone().requires_grad_()
            ctx, last = fn(u, logit, h)
            loss = (ctx * torch.linspace(-1, 1, ctx.numel()).view_as(ctx)).sum() + last.square().sum()
            inputs = [u, logit] + ([h] if h is not None else [])
            grads.append((ctx.detach(), last.detach(), torch.autograd.grad(loss, inputs)))
        (c_ref, l_ref, g_ref), (c_fast, l_fast, g_fast) = grads
        assert_rel(c_fast, c_ref)
        assert_rel(l_fast, l_ref)
        for a, b in zip(g_fast, g_ref, strict=True):
            assert_rel(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_decay_native_scan_equals_full_convolution(backend, dtype):
    """The native scan (CPU fast path; `decay_chunked` under the fallback): values and gradients of
    u, the decay logits and the carried state, on a sequence long enough for λ^S to matter."""
    torch.manual_seed(3)
    rel = REL if dtype == torch.float32 else 1e-11
    for h0 in (None, torch.randn(2, 4, 5, dtype=dtype)):
        grads = []
        for fn in (decay_convolution, decay_scan):
            u = torch.randn(2, 300, 4, 5, dtype=dtype, generator=torch.Generator().manual_seed(1)).requires_grad_()
            logit = torch.tensor([3.0, -1.0, 0.5, 8.0], dtype=dtype, requires_grad=True)
            h = None if h0 is None else h0.clone().requires_grad_()
            ctx, last = fn(u, logit, h)
            loss = (ctx * torch.linspace(-1, 1, ctx.numel(), dtype=dtype).view_as(ctx)).sum() + last.square().sum()
            grads.append((ctx.detach(), torch.autograd.grad(loss, [u, logit] + ([h] if h is not None else []))))
        (c_ref, g_ref), (c_fast, g_fast) = grads
        assert_rel(c_fast, c_ref, rel)
        for a, b in zip(g_fast, g_ref, strict=True):
            assert_rel(a, b, rel)


def test_decay_forms_agree_in_fp64_and_with_the_step_loop():
    torch.manual_seed(0)
    u = torch.randn(2, 90, 3, 4, dtype=torch.float64)
    logit = torch.tensor([3.0, 0.0, -2.0], dtype=torch.float64)
    h0 = torch.randn(2, 3, 4, dtype=torch.float64)
    rec, h_rec = decay_recurrent(u, logit, h0)
    for ctx, h in (decay_convolution(u, logit, h0), decay_chunked(u, logit, h0, 16)):
        torch.testing.assert_close(ctx, rec, rtol=1e-11, atol=1e-12)
        torch.testing.assert_close(h, h_rec, rtol=1e-11, atol=1e-12)


def test_decay_chunked_is_linear_in_chunk_count():
    """The fast form never builds an [S, S] weight: its largest intermediate is O(S·C·D), so doubling S
    doubles the memory of the Toeplitz block (a [C, C] per head) instead of quadrupling it."""
    seen: list[tuple[int, ...]] = []
    orig = torch.exp

    def spy(x, *a, **k):
        seen.append(tuple(x.shape))
        return orig(x, *a, **k)

    u = torch.randn(1, 512, 2, 3)
    torch.exp = spy
    try:
        decay_chunked(u, torch.zeros(2), None, 32)
    finally:
        torch.exp = orig
    assert max(math.prod(s) for s in seen) <= 2 * 32 * 32  # [H, C, C], never [H, S, S]


# --- blockwise local attention ---------------------------------------------------------------------

@pytest.mark.parametrize("S,window,anchors,block,offset", [
    (70, 8, 4, 16, 0), (70, 8, 4, 5, 0), (64, 16, 4, 16, 0), (33, 0, 2, 8, 0), (40, 50, 4, 16, 0),
    (45, 6, 0, 7, 0), (30, 5, 4, 8, 2), (30, 5, 4, 64, 0), (1, 4, 4, 8, 0)])
def test_blocked_attention_equals_dense_mask(S, window, anchors, block, offset):
    torch.manual_seed(S + block)
    B, H, d = 2, 3, 8
    q, k, v = (torch.randn(B, H, S, d, requires_grad=True) for _ in range(3))
    active = torch.rand(B, S) < 0.5
    active[0, : S // 2] = False  # early queries of row 0 have no admissible key at all
    pos = torch.arange(offset, offset + S)
    mask = local_mask(pos, pos, window, anchors)[None, None] & active[:, None, None, :]
    ref = masked_attention(q, k, v, mask)
    fast = blocked_local_attention(q, k, v, active, window=window, n_anchors=anchors, block=block, offset=offset)
    assert torch.isfinite(fast).all()
    assert_rel(fast, ref)
    g = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * g).sum(), (q, k, v))
    g_fast = torch.autograd.grad((fast * g).sum(), (q, k, v))
    for a, b in zip(g_fast, g_ref, strict=True):
        assert torch.isfinite(a).all()
        assert_rel(a, b)


@pytest.mark.parametrize("S,window,block,offset", [(70, 8, 16, 0), (50, 20, 8, 3), (37, 6, 64, 0)])
def test_fused_attention_with_rope_equals_dense_oracle(S, window, block, offset):
    """The fused path (projection layout in, RoPE in the native pack, query activity applied) against
    RoPE + dense-mask attention, values and the fused projection's gradient."""
    if native.kernels() is None:
        pytest.skip("no C compiler: native kernels unavailable")
    torch.manual_seed(S)
    B, H, d = 2, 3, 8
    qkv = torch.randn(B, S, 3 * H * d, requires_grad=True)
    active = torch.rand(B, S) < 0.6
    pos = torch.arange(offset, offset + S)
    inv = rope_inv_freq(d, 10000.0)
    fast = fused_local_attention(qkv, active, (H, d), window=window, n_anchors=4, block=block, offset=offset,
                                 rope=rope_tables(pos, inv, torch.float32))
    assert_same_values_and_grads(fast, dense_local_attention(qkv, active, H, d, window, 4, offset), qkv)


def test_gate_mix_and_count_equal_tensor_ops(backend):
    torch.manual_seed(0)
    a, x = torch.randn(3, 40, 16, requires_grad=True), torch.randn(3, 40, 16, requires_grad=True)
    logit = torch.tensor([0.3], requires_grad=True)
    out = gate_mix(a, x, logit)
    g = torch.sigmoid(logit)
    ref = g * a + (1 - g) * x
    assert torch.equal(out, ref)  # same three roundings per element
    w = torch.randn_like(ref)
    for got, want in zip(torch.autograd.grad((out * w).sum(), (a, x, logit)),
                         torch.autograd.grad((ref * w).sum(), (a, x, logit)), strict=True):
        assert_rel(got, want)
    assert int(count_at_least(a.detach(), 0.5)) == int((a >= 0.5).sum())


def test_sparsity_record_count_matches_record_and_defers_to_subclasses():
    spikes = (torch.rand(4, 9, 12) < 0.2).float()
    plain, counted = SparsityMeter(1), SparsityMeter(1)
    plain.record(1, "block_out", spikes)
    counted.record_count(1, "block_out", count_at_least(spikes, 0.5), spikes.numel(), lambda: spikes)
    assert plain.counts() == counted.counts()

    class PerChannel(SparsityMeter):
        seen: list[tuple[int, ...]] = []

        def record(self, layer, site, spikes):
            self.seen.append(tuple(spikes.shape))
            super().record(layer, site, spikes)

    sub = PerChannel(1)
    sub.record_count(1, "block_out", 123456, spikes.numel(), lambda: spikes)  # count ignored: tensor used
    assert sub.seen == [(4, 9, 12)] and sub.counts() == plain.counts()


def test_fast_model_never_builds_a_dense_mask(monkeypatch):
    """Training and prefill in fast mode go through the blocked path and one-token steps through the
    ring-buffer cache's bias: `local_mask` (the [S, S] mask builder) is only reached when several new
    tokens follow cached keys, and then over at most the live slots plus the new keys."""
    model = tiny_model()
    calls: list[tuple[int, int]] = []
    real = attention_mod.local_mask

    def spy(q_pos, k_pos, window, anchors):
        calls.append((len(q_pos), len(k_pos)))
        return real(q_pos, k_pos, window, anchors)

    monkeypatch.setattr(attention_mod, "local_mask", spy)
    idx = tokens(2, 100)
    with torch.no_grad():
        model(idx)
        cache = model.new_cache()
        model(idx[:, :90], cache=cache)
    assert calls == []
    with torch.no_grad():
        model(idx[:, 90:91], cache=cache)
    assert calls == []
    with torch.no_grad():
        model(idx[:, 91:94], cache=cache)
    assert calls and all(q == 3 and k <= model.cfg.window + model.cfg.n_anchors + 3 for q, k in calls)


# --- FFN -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("density", [0.0, 0.03, 0.3, 1.0])
def test_sparse_down_equals_dense(density):
    if native.kernels() is None:
        pytest.skip("no C compiler: native kernels unavailable")
    torch.manual_seed(0)
    z = ((torch.rand(2, 37, 96) < density).float() / 0.9).requires_grad_()  # dropout-scaled spikes
    w = torch.randn(24, 96, requires_grad=True)
    g = torch.randn(2, 37, 24)
    y = sparse_down(z, w)
    gz, gw = torch.autograd.grad((y * g).sum(), (z, w))
    y_ref = z @ w.t()
    gz_ref, gw_ref = torch.autograd.grad((y_ref * g).sum(), (z, w))
    for a, b in ((y, y_ref), (gz, gz_ref), (gw, gw_ref)):
        torch.testing.assert_close(a, b, rtol=REL, atol=1e-5 * float(b.abs().max().clamp_min(1)))


# --- whole network ---------------------------------------------------------------------------------

def _run(impl: str, overrides: list[str], dtype: torch.dtype, length: int = 70):
    model = tiny_model([f"impl={impl}", "dropout=0.0", "window=6", "attn_block=8"] + overrides, eval_mode=False)
    model = model.to(dtype)
    idx = tokens(3, length)
    out = model(idx, idx.roll(-1, 1))
    out.loss.backward()
    counts = [(c.ones, c.elements) for c in model.sparsity.counts()]
    return out.logits.detach(), {n: p.grad for n, p in model.named_parameters()}, counts


@pytest.mark.parametrize("variant", ["full", "topk", "no_attention", "no_decay"])
@pytest.mark.parametrize("extra", [[], ["ffn_sparse=sparse", "ffn_checkpoint=true"]])
def test_network_fast_equals_oracle_fp32(variant, extra):
    logits_o, grads_o, counts_o = _run("oracle", VARIANTS[variant], torch.float32)
    logits_f, grads_f, counts_f = _run("fast", VARIANTS[variant] + extra, torch.float32)
    assert counts_f == counts_o  # the same spikes fire everywhere
    assert_rel(logits_f, logits_o)
    flat_o = torch.cat([g.flatten() for g in grads_o.values()])
    flat_f = torch.cat([grads_f[n].flatten() for n in grads_o])
    assert float((flat_f - flat_o).norm() / flat_o.norm()) <= REL  # all gradients together
    for name, g in grads_o.items():  # each tensor; a scalar summed over every position (the gate
        assert_rel(grads_f[name], g, rel=REL if g.numel() > 1 else 1e-4)  # logit) cancels more


def test_network_fast_equals_oracle_fp64():
    logits_o, grads_o, _ = _run("oracle", [], torch.float64)
    logits_f, grads_f, _ = _run("fast", [], torch.float64)
    torch.testing.assert_close(logits_f, logits_o, rtol=1e-10, atol=1e-12)
    for name, g in grads_o.items():
        torch.testing.assert_close(grads_f[name], g, rtol=1e-9, atol=1e-12)


def test_fallback_network_equals_native_network(monkeypatch):
    """Without the native kernels the fast network takes its PyTorch forms (gathered blockwise
    attention, chunked decay, tensor-op spikes): other algorithms, so equal up to fp32 rounding."""
    if native.kernels() is None:
        pytest.skip("no C compiler: native kernels unavailable")
    logits_n, grads_n, counts_n = _run("fast", [], torch.float32)
    monkeypatch.setenv("SYMBOLICLIGHT_NO_NATIVE", "1")
    logits_p, grads_p, counts_p = _run("fast", [], torch.float32)
    assert counts_p == counts_n
    assert_rel(logits_p, logits_n)
    for name, g in grads_n.items():
        assert_rel(grads_p[name], g, rel=REL if g.numel() > 1 else 1e-4)


def test_impl_changes_no_parameter():
    from symboliclight.model.build import count_params, symboliclight_param_count

    fast, oracle = tiny_model(["impl=fast"]), tiny_model(["impl=oracle"])
    assert count_params(fast) == count_params(oracle) == symboliclight_param_count(fast.cfg)
    assert list(fast.state_dict()) == list(oracle.state_dict())
    oracle.load_state_dict(fast.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(oracle(tokens(1, 30)).logits, fast(tokens(1, 30)).logits, rtol=1e-5, atol=1e-6)


# --- native build ----------------------------------------------------------------------------------

def test_native_build_caches_and_falls_back(tmp_path, monkeypatch):
    import shutil

    if not (shutil.which("gcc") or shutil.which("cc")):
        pytest.skip("no C compiler")
    monkeypatch.setenv("SYMBOLICLIGHT_KERNEL_DIR", str(tmp_path / "k"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("SYMBOLICLIGHT_NO_NATIVE", raising=False)
    lib = native._build()
    built = list((tmp_path / "k").glob("spiking_*.so"))
    assert len(built) == 1 and lib.lif_f32 is not None
    mtime = built[0].stat().st_mtime_ns
    native._build()  # second call loads the cached library
    assert built[0].stat().st_mtime_ns == mtime and len(list((tmp_path / "k").iterdir())) == 1
    # a broken compiler: kernels() warns once and returns None; the fast model still runs
    monkeypatch.setenv("SYMBOLICLIGHT_KERNEL_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("CC", "/bin/false")
    monkeypatch.setattr(native, "_LIBRARY", LazyLibrary(native._build, "the PyTorch fallback for the spiking kernels"))
    with pytest.warns(UserWarning, match="PyTorch fallback"):
        assert native.kernels() is None
    assert native.kernels() is None
    with torch.no_grad():
        assert torch.isfinite(tiny_model()(tokens(1, 20)).logits).all()
