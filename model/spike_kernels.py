"""Fast forms of the spike primitives (the oracles live in `spiking.py`).

- `lif_scan_fast`: the encoder's LIF scan in one native pass over [B, S, D] (time sequential,
  channels vectorised) instead of S Python steps of ~8 tensor ops each.
- `spike_fast`: the stateless threshold with its surrogate, one native pass producing both the
  spikes and the surrogate factor σ'(u), instead of ~8 elementwise passes over the tensor.

Both save the surrogate factor σ'(u) for backward rather than u, so backward is a single multiply;
the values are those of the oracle bit for bit (see `native.py`). Where the native kernels cannot
run (no compiler, CUDA tensors, bf16), they fall back to the oracle code paths.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import native
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
        else:
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
    @staticmethod
    def forward(ctx, u: Tensor, threshold: float, alpha: float) -> tuple[Tensor, Tensor]:
        a = u.detach().contiguous()
        if native.usable(a):
            z, sg = torch.empty_like(a), torch.empty_like(a)
            ones = getattr(native.kernels(), f"spike_{native.suffix(a)}")(
                native.ptr(a), native.ptr(z), native.ptr(sg), a.numel(), threshold, alpha)
            count = torch.tensor(ones, dtype=torch.int64)
        else:
            z, sg = (a >= threshold).to(a.dtype), surrogate_grad(a, threshold, alpha)
            count = torch.count_nonzero(z)
        ctx.save_for_backward(sg)
        ctx.mark_non_differentiable(count)
        return z, count

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_count: Tensor | None):
        (sg,) = ctx.saved_tensors
        return grad_out * sg, None, None


def spike_fast(u: Tensor, threshold: float, alpha: float) -> Tensor:
    """Same contract as `spiking.spike`: H(u − θ) with the surrogate backward, one native pass."""
    return _SpikeFast.apply(u, threshold, alpha)[0]


def spike_fast_counted(u: Tensor, threshold: float, alpha: float) -> tuple[Tensor, Tensor]:
    """`spike_fast` and the number of spikes (int64 scalar tensor), counted in the same pass."""
    return _SpikeFast.apply(u, threshold, alpha)
