"""The FFN down projection over the binary hidden layer as a gather-add (the spikes' sparsity used).

z is 0/1 (times the dropout scale), so W_down·z for a token is the sum of the columns of W_down
whose hidden unit fired: with a firing rate ρ it costs ρ·F·D additions instead of F·D multiply-adds.
The weight gradient Σ_r g_r z_rᵀ only touches the columns of fired units in the same way. The input
gradient g·W_down is dense (the surrogate is nonzero everywhere), so it stays a GEMM.

On CPU the native gather loop beats MKL's GEMM only at low firing rates (the crossover is measured
by `bench/model_throughput.py --ffn-crossover`; `ffn_sparse_max_density` holds it), and
`torch.sparse` CSR products are slower than dense at every density we measured (the conversion
alone costs more than the dense GEMM), so they are not used.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import native


def _transposed(weight: Tensor) -> Tensor:
    """weightᵀ made contiguous, kept on the weight until it changes (decoding reuses it every step)."""
    key = (weight.data_ptr(), weight._version, weight.dtype)
    held = getattr(weight, "_symboliclight_t", None)
    if held is None or held[0] != key:
        with torch.inference_mode(False), torch.no_grad():
            held = (key, weight.detach().t().contiguous())
        weight._symboliclight_t = held
    return held[1]


class _SparseDown(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor) -> Tensor:
        """z [..., F] (mostly zeros), weight [D, F] → z @ weightᵀ [..., D]."""
        zf = z.detach().reshape(-1, z.shape[-1]).contiguous()
        wt = _transposed(weight)  # [F, D]: one fired unit's column is a contiguous row
        y = zf.new_empty(zf.shape[0], wt.shape[1])
        native.kernels().sparse_rows_f32(native.ptr(zf), native.ptr(wt), native.ptr(y), zf.shape[0], wt.shape[0],
                                         wt.shape[1])
        ctx.save_for_backward(zf, weight)
        ctx.in_shape = z.shape
        return y.view(*z.shape[:-1], wt.shape[1])

    @staticmethod
    def backward(ctx, grad_y: Tensor):
        zf, weight = ctx.saved_tensors
        g = grad_y.reshape(-1, grad_y.shape[-1]).contiguous()
        grad_z = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_z = (g @ weight).view(ctx.in_shape)
        if ctx.needs_input_grad[1]:
            gwt = g.new_empty(zf.shape[1], g.shape[1])  # [F, D]
            native.kernels().sparse_wgrad_f32(native.ptr(zf), native.ptr(g), native.ptr(gwt), zf.shape[0],
                                              zf.shape[1], g.shape[1])
            grad_w = gwt.t()
        return grad_z, grad_w


def sparse_down_usable(z: Tensor, weight: Tensor) -> bool:
    """The gather kernel runs on fp32 CPU tensors with native kernels available (not under autocast)."""
    return (native.usable(z, weight, dtypes=(torch.float32,)) and not torch.is_autocast_enabled("cpu"))


def sparse_down(z: Tensor, weight: Tensor) -> Tensor:
    """z @ weightᵀ computed from the nonzeros of z (forward and weight gradient)."""
    if torch.is_grad_enabled() and (z.requires_grad or weight.requires_grad):
        return _SparseDown.apply(z, weight)
    zf = z.reshape(-1, z.shape[-1]).contiguous()
    wt = _transposed(weight)
    y = zf.new_empty(zf.shape[0], wt.shape[1])
    native.kernels().sparse_rows_f32(native.ptr(zf), native.ptr(wt), native.ptr(y), zf.shape[0], wt.shape[0],
                                     wt.shape[1])
    return y.view(*z.shape[:-1], wt.shape[1])
