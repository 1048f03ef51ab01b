"""Spike primitives: the arctan-shaped surrogate, the LIF scan with the reference's local backward,
and the top-k mask of the encoder ablation.

Surrogate (spec §2.3). Forward is the exact Heaviside with H(0) = 1 (a unit fires when u >= θ);
backward replaces dH/du by

    σ'(u) = 1 / (1 + (α·(u − θ))²),   α = 2,

a Lorentzian with peak 1 at u = θ and half maximum at |u − θ| = 1/α. It deliberately omits the
(α/2) and (π/2) factors of SpikingJelly's ATan.

LIF (spec §2.2). Per channel, over the sequence axis t = 1..S, with v_0 the carried membrane:

    v_t = clamp(β·v_{t−1} + x_t, −c, c);   s_t = H(v_t − θ);   v_t ← v_t·(1 − s_t)   (hard reset)

"Local backward" means: ∂L/∂x_t = ∂L/∂s_t · σ'(v_t) where v_t is the stored membrane after the clamp
and before the reset. Nothing else is differentiated: no gradient runs through time (the leak),
through the clamp (even a clamped membrane passes its surrogate gradient), through the reset, or
into the initial membrane v_0. Each timestep is an independent threshold unit for gradients, which
is what the reference training code does, and it is why a custom autograd.Function is needed
(autograd through the loop would give BPTT instead).
"""

from __future__ import annotations

import torch
from torch import Tensor


def surrogate_grad(u: Tensor, threshold: float, alpha: float) -> Tensor:
    """σ'(u) = 1 / (1 + (α(u − θ))²), the backward of every spike in the network."""
    return 1.0 / (1.0 + (alpha * (u - threshold)) ** 2)


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, threshold: float, alpha: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.threshold, ctx.alpha = threshold, alpha
        return (u >= threshold).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (u,) = ctx.saved_tensors
        return grad_out * surrogate_grad(u, ctx.threshold, ctx.alpha), None, None


def spike(u: Tensor, threshold: float = 1.0, alpha: float = 2.0) -> Tensor:
    """Binary spike H(u − θ) (float 0/1, same dtype as u) with the arctan-shaped surrogate backward."""
    return _SurrogateSpike.apply(u, threshold, alpha)


def lif_scan_reference(x: Tensor, v0: Tensor, leak: float, threshold: float, clamp: float
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """The plain time loop (the oracle). x [B, S, D], v0 [B, D] →
    (spikes [B, S, D], membrane before reset [B, S, D], final membrane [B, D]).

    No autograd: the caller (`lif_scan`) supplies the local backward.
    """
    spikes = torch.empty_like(x)
    pre_reset = torch.empty_like(x)
    v = v0.to(x.dtype)
    for t in range(x.shape[1]):
        v = torch.clamp(v * leak + x[:, t], -clamp, clamp)
        s = (v >= threshold).to(x.dtype)
        pre_reset[:, t] = v
        spikes[:, t] = s
        v = v * (1.0 - s)
    return spikes, pre_reset, v


class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, leak: float, threshold: float, clamp: float, alpha: float):
        spikes, pre_reset, v_last = lif_scan_reference(x.detach(), v0.detach(), leak, threshold, clamp)
        ctx.save_for_backward(pre_reset)
        ctx.threshold, ctx.alpha = threshold, alpha
        ctx.mark_non_differentiable(v_last)
        return spikes, v_last

    @staticmethod
    def backward(ctx, grad_spikes: Tensor, grad_v_last: Tensor | None):
        (pre_reset,) = ctx.saved_tensors
        grad_x = grad_spikes * surrogate_grad(pre_reset, ctx.threshold, ctx.alpha)
        return grad_x, None, None, None, None, None


def lif_scan(x: Tensor, v0: Tensor | None = None, *, leak: float = 0.95, threshold: float = 1.0,
             clamp: float = 3.0, alpha: float = 2.0) -> tuple[Tensor, Tensor]:
    """LIF over the sequence axis with the local surrogate backward. Returns (spikes, final membrane).

    The final membrane is what incremental decoding carries to the next step; it has no gradient.
    """
    if v0 is None:
        v0 = x.new_zeros(x.shape[0], x.shape[2])
    return _LIFScan.apply(x, v0, leak, threshold, clamp, alpha)


class _TopKSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, k: int, threshold: float, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.threshold, ctx.alpha = threshold, alpha
        idx = x.detach().abs().topk(k, dim=-1).indices
        return torch.zeros_like(x).scatter_(-1, idx, 1.0)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_grad(x, ctx.threshold, ctx.alpha), None, None, None


def topk_spike(x: Tensor, k: int, threshold: float = 1.0, alpha: float = 2.0) -> Tensor:
    """Top-k encoder ablation (spec §2.2): per token, the k channels of largest |x| get 1, the rest 0,
    with no temporal state. Straight-through: the gradient is that of the surrogate spike H(x − θ)."""
    return _TopKSpike.apply(x, k, threshold, alpha)
