"""Fused token cross-entropy for the fast path (`impl=fast`, CPU fp32): one native pass forward that
also leaves the gradient, a scale in backward (`csrc_loss.py`). Same value as
`objective.cross_entropy` up to summation order; falls back to it wherever the kernel cannot run
(CUDA, bf16/autocast, no compiler, and fp64, whose oracle loss is computed in fp32 anyway) or a
target is out of range (so PyTorch raises its own error)."""

from __future__ import annotations

import torch
from torch import Tensor

from . import native
from .objective import cross_entropy


class _FusedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor) -> Tensor:
        V = logits.shape[-1]
        x = logits.detach().reshape(-1, V).contiguous()
        t = targets.reshape(-1).contiguous()
        N = x.shape[0]
        grad = torch.empty_like(x)
        rows = torch.empty(N, dtype=torch.float64)
        mean = getattr(native.kernels(), f"ce_{native.suffix(x)}")(
            native.ptr(x), native.ptr(t), native.ptr(grad), native.ptr(rows), N, V, 1.0 / N)
        ctx.save_for_backward(grad)
        ctx.shape = logits.shape
        return torch.tensor(mean, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):
        (grad,) = ctx.saved_tensors
        grad = grad.view(ctx.shape)
        return (grad if bool(g == 1) else grad * g.to(grad.dtype)), None


def fused_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean token cross-entropy of logits [..., V] against targets [...] (no ignore index)."""
    if (native.usable(logits, dtypes=(torch.float32,)) and targets.dtype == torch.int64
            and targets.device.type == "cpu" and targets.numel() * logits.shape[-1] == logits.numel() and targets.numel() > 0
            and not torch.is_autocast_enabled("cpu")):
        lo, hi = torch.aminmax(targets)
        if int(lo) >= 0 and int(hi) < logits.shape[-1]:
            return _FusedCrossEntropy.apply(logits, targets)
    return cross_entropy(logits, targets)
