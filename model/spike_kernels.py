"""Fast forms of the spike primitives (the oracles live in `spiking.py`) and two fused elementwise
steps of the block.

- `lif_scan_fast`: the encoder's LIF scan in one native pass over [B, S, D] (time sequential,
  channels vectorised) instead of S Python steps of ~8 tensor ops each; saves σ'(u) for backward
  (the pre-reset membrane exists nowhere else). On CUDA the same pass is a Triton kernel
  (`triton_lif.py`).
- `spike_fast`: the stateless threshold in one native pass that also counts the spikes; it saves its
  input u (an LN or GEMM output kept alive anyway) and backward recomputes σ'(u) inside the product.
- `count_at_least`: a spike count without materialising the comparison (the mixer's sparsity site).
- `gate_mix`: the mixer's g·a + (1 − g)·x in one pass, backward in one pass.

Values are those of the oracle bit for bit (the same roundings, see `native.py`); gradients of the
gate logit differ only in summation order. Where the native kernels cannot run (no compiler, CUDA
tensors, bf16), they fall back to the oracle code paths (the LIF scan to Triton first, when it can).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import native, triton_lif
from .spiking import lif_scan_reference, surrogate_grad


class _LIFScanFast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, leak: float, threshold: float, clamp: float, alpha: float):
        x, v0 = x.detach().contiguous(), v0.detach().to(x.dtype).contiguous()
        B, S, D = x.shape
        if native.usable(x, v0):
            spikes, sg, v_last = torch.empty_like(x), torch.empty_like(x), torch.empty_like(v0)
            getattr(native.kernels(), f"lif_{native.suffix(x)}")(
                native.ptr(x), native.ptr(v0), native.ptr(spikes), native.ptr(sg), native.ptr(v_last),
                B, S, D, leak, threshold, clamp, alpha)
        elif triton_lif.usable(x, v0):
            spikes, sg, v_last = triton_lif.lif_forward(x, v0, leak, threshold, clamp, alpha)
        else:
            if x.is_cuda:
                triton_lif.warn_fallback(x)
            spikes, pre_reset, v_last = lif_scan_reference(x, v0, leak, threshold, clamp)
            sg = surrogate_grad(pre_reset, threshold, alpha)
        ctx.save_for_backward(sg)
        ctx.mark_non_differentiable(v_last)
        return spikes, v_last

    @staticmethod
    def backward(ctx, grad_spikes: Tensor, grad_v_last: Tensor | None):
        (sg,) = ctx.saved_tensors
        return grad_spikes * sg, None, None, None, None, None


def lif_scan_fast(x: Tensor, v0: Tensor, leak: float, threshold: float, clamp: float, alpha: float
                  ) -> tuple[Tensor, Tensor]:
    """Same contract as `spiking.lif_scan` (spikes, final membrane), native when possible."""
    return _LIFScanFast.apply(x, v0, leak, threshold, clamp, alpha)


class _SpikeFast(torch.autograd.Function):
    """Saves the input u (alive anyway: an LN output or a GEMM output) instead of writing σ'(u):
    forward is one read and one write, backward recomputes σ'(u) in the same pass as the product."""

    @staticmethod
    def forward(ctx, u: Tensor, threshold: float, alpha: float) -> tuple[Tensor, Tensor]:
        a = u.detach().contiguous()
        if native.usable(a):
            z = torch.empty_like(a)
            ones = getattr(native.kernels(), f"spikez_{native.suffix(a)}")(native.ptr(a), native.ptr(z), a.numel(),
                                                                           threshold)
            count = torch.tensor(ones, dtype=torch.int64)
        else:
            z = (a >= threshold).to(a.dtype)
            count = torch.count_nonzero(z)
        ctx.save_for_backward(a)
        ctx.threshold, ctx.alpha = threshold, alpha
        ctx.mark_non_differentiable(count)
        return z, count

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_count: Tensor | None):
        (a,) = ctx.saved_tensors
        g = grad_out.contiguous()
        if native.usable(g, a):
            ga = torch.empty_like(a)
            getattr(native.kernels(), f"spikebwd_{native.suffix(a)}")(native.ptr(g), native.ptr(a), native.ptr(ga),
                                                                      a.numel(), ctx.threshold, ctx.alpha)
        else:
            ga = g * surrogate_grad(a, ctx.threshold, ctx.alpha)
        return ga, None, None


def _needs_graph(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def spike_fast(u: Tensor, threshold: float, alpha: float) -> Tensor:
    """Same contract as `spiking.spike`: H(u − θ) with the surrogate backward, one native pass."""
    return spike_fast_counted(u, threshold, alpha)[0]


def spike_fast_counted(u: Tensor, threshold: float, alpha: float) -> tuple[Tensor, Tensor | int]:
    """`spike_fast` and the number of spikes, counted in the same pass (an int64 scalar tensor, or a
    host int when no graph is recorded: decoding steps skip the autograd machinery altogether)."""
    if not _needs_graph(u) and u.is_contiguous() and native.usable(u):
        z = torch.empty_like(u)
        return z, getattr(native.kernels(), f"spikez_{native.suffix(u)}")(native.ptr(u), native.ptr(z), u.numel(),
                                                                          threshold)
    return _SpikeFast.apply(u, threshold, alpha)


def count_at_least(x: Tensor, threshold: float) -> Tensor:
    """Number of entries ≥ threshold (int64 scalar tensor) without materialising the comparison."""
    a = x.detach()
    if a.is_contiguous() and native.usable(a):
        ones = getattr(native.kernels(), f"countge_{native.suffix(a)}")(native.ptr(a), a.numel(), threshold)
        return torch.tensor(ones, dtype=torch.int64)
    return torch.count_nonzero(a >= threshold)


class _GateMix(torch.autograd.Function):
    """o = g·a + (1 − g)·x in one pass (the oracle's three ops, same roundings); backward in one pass,
    the gate's gradient as one dot product Σ grad·(a − x) accumulated in double."""

    @staticmethod
    def forward(ctx, a: Tensor, x: Tensor, logit: Tensor) -> Tensor:
        a, x = a.detach().contiguous(), x.detach().contiguous()
        g = torch.sigmoid(logit.detach())
        gv = float(g)
        out = torch.empty_like(a)
        getattr(native.kernels(), f"mix_{native.suffix(a)}")(native.ptr(a), native.ptr(x), native.ptr(out), a.numel(),
                                                             gv)
        ctx.save_for_backward(a, x, g)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, x, g = ctx.saved_tensors
        gr = grad.contiguous()
        ga, gx = torch.empty_like(a), torch.empty_like(x)
        dot = getattr(native.kernels(), f"mixbwd_{native.suffix(a)}")(native.ptr(gr), native.ptr(a), native.ptr(x),
                                                                      native.ptr(ga), native.ptr(gx), a.numel(),
                                                                      float(g))
        g_logit = (g * (1 - g) * dot).to(g.dtype)
        return ga, gx, g_logit


def gate_mix(a: Tensor, x: Tensor, logit: Tensor) -> Tensor:
    """sigmoid(γ)·a + (1 − sigmoid(γ))·x: one native pass where possible, else the three tensor ops."""
    if native.usable(a, x) and a.shape == x.shape and not torch.is_autocast_enabled(a.device.type):
        if _needs_graph(a, x, logit) or not (a.is_contiguous() and x.is_contiguous()):
            return _GateMix.apply(a, x, logit)
        out = torch.empty_like(a)
        getattr(native.kernels(), f"mix_{native.suffix(a)}")(native.ptr(a), native.ptr(x), native.ptr(out), a.numel(),
                                                             float(torch.sigmoid(logit)))
        return out
    g = torch.sigmoid(logit)
    return g * a + (1 - g) * x
