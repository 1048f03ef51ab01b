"""The mixer's exponential-decay path (spec §2.4 items 2-3), over projected *spikes* only.

    u_t = W_tcam (s_t · a_t)          (reshaped to [H, d_h])
    h_t = λ_h h_{t−1} + (1 − λ_h) u_t,   λ_h = sigmoid(r_h), r_h learnable, init 3.0

Three exact forms of the same recurrence:
- `decay_recurrent`: the step loop (the O(1)-per-token decoding step);
- `decay_convolution` (the oracle, the reference's form): a causal depthwise convolution with an
  S-long kernel (1 − λ) λ^k, written as its [S, S] lower-triangular Toeplitz matrix, plus λ^{t+1}
  times the carried state. O(S²·D) time and an [H, S, S] weight;
- `decay_chunked` (the fast path): split S into chunks of C. Inside a chunk the output is the same
  Toeplitz form at size [C, C] (one batched GEMM over every chunk at once); across chunks the state
  is carried in closed form, the state entering chunk k being Σ_{j<k} λ^{C(k−1−j)} e_j + λ^{Ck} h_0
  with e_j chunk j's own final state, an [n, n] matrix over the n = S/C chunks. O(S·C·D + n²·D),
  no Python loop over time or chunks.

Powers of λ are formed as exp(e·log λ) with the upper triangle masked *before* the exp (nothing
overflows) and in fp32 at least (autocast is switched off around them).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import native
from .config import SymbolicLightConfig


def decay_recurrent(u: Tensor, logit: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """u [B, S, H, d], logit [H], h0 [B, H, d] → (context [B, S, H, d], final state [B, H, d])."""
    lam = torch.sigmoid(logit).to(u.dtype)[:, None]
    one_minus = torch.sigmoid(-logit).to(u.dtype)[:, None]
    h = u.new_zeros(u.shape[0], u.shape[2], u.shape[3]) if h0 is None else h0.to(u.dtype)
    out = []
    for t in range(u.shape[1]):
        h = lam * h + one_minus * u[:, t]
        out.append(h)
    return torch.stack(out, dim=1), h


def _toeplitz(n: int, log_lam: Tensor, scale: Tensor | None, step: int = 1) -> Tensor:
    """[H, n, n] with entry (t, j) = scale·λ^{step·(t − j)} for t ≥ j and 0 above the diagonal."""
    idx = torch.arange(n, device=log_lam.device)
    diff = idx[:, None] - idx[None, :]
    causal = diff >= 0
    expo = torch.where(causal, diff, torch.zeros_like(diff)).to(log_lam.dtype) * step
    weights = torch.exp(expo[None] * log_lam[:, None, None]) * causal
    return weights if scale is None else weights * scale[:, None, None]


def _compute_dtype(u: Tensor) -> torch.dtype:
    return torch.promote_types(u.dtype, torch.float32)  # fp32 at least, fp64 stays fp64


def _full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast off (decay powers need fp32); the meta device has no autocast, used for FLOP counts."""
    if device.type == "meta":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)


def decay_convolution(u: Tensor, logit: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The oracle: context_t = Σ_{j≤t} (1−λ) λ^{t−j} u_j + λ^{t+1} h_0 (t from 0), as one [S, S] product."""
    B, S, H, d = u.shape
    dtype = _compute_dtype(u)
    with _full_precision(u.device):
        log_lam = F.logsigmoid(logit.to(dtype))
        weights = _toeplitz(S, log_lam, torch.sigmoid(-logit.to(dtype)))  # [H, S, S]
        ctx = torch.einsum("htj,bjhd->bthd", weights, u.to(dtype))
        if h0 is not None:
            t1 = torch.arange(1, S + 1, device=u.device, dtype=dtype)
            ctx = ctx + torch.exp(t1[:, None] * log_lam[None, :])[None, :, :, None] * h0.to(dtype)[:, None]
    return ctx.to(u.dtype), ctx[:, -1].to(u.dtype)


def decay_chunked(u: Tensor, logit: Tensor, h0: Tensor | None = None, chunk: int = 64) -> tuple[Tensor, Tensor]:
    """The fast path: same values as `decay_convolution` (up to rounding) in O(S·C)."""
    B, S, H, d = u.shape
    dtype = _compute_dtype(u)
    C = max(1, min(chunk, S))
    n = -(-S // C)
    with _full_precision(u.device):
        log_lam = F.logsigmoid(logit.to(dtype))  # [H]
        uc = u.to(dtype)
        if n * C != S:  # zeros appended at the end change nothing before them
            uc = F.pad(uc, (0, 0, 0, 0, 0, n * C - S))
        uc = uc.view(B, n, C, H, d)
        inner = torch.einsum("htj,bnjhd->bnthd", _toeplitz(C, log_lam, torch.sigmoid(-logit.to(dtype))), uc)
        carry = torch.exp(torch.arange(1, C + 1, device=u.device, dtype=dtype)[:, None] * log_lam[None, :])  # [C, H]
        if n > 1 or h0 is not None:
            ends = inner[:, :, -1]  # [B, n, H, d]: each chunk's final state from a zero start
            # state entering chunk k: Σ_{j<k} λ^{C(k−1−j)} e_j  (+ λ^{Ck} h_0)
            between = _toeplitz(n, log_lam, None, step=C)  # [H, n, n], (k, j) → λ^{C(k−j)}
            shifted = F.pad(ends, (0, 0, 0, 0, 1, 0))[:, :n]  # e_{k−1} at k, zero at k = 0
            entering = torch.einsum("hkj,bjhd->bkhd", between, shifted)
            if h0 is not None:
                k = torch.arange(n, device=u.device, dtype=dtype)
                entering = entering + torch.exp(k[:, None] * C * log_lam[None, :])[None, :, :, None] * h0.to(dtype)[:, None]
            inner = inner + carry[None, None, :, :, None] * entering[:, :, None]
        ctx = inner.reshape(B, n * C, H, d)[:, :S]
    return ctx.to(u.dtype), ctx[:, -1].to(u.dtype)


class _DecayScan(torch.autograd.Function):
    """The recurrence as one native pass over time (channels vectorised, accumulated in double), and
    its adjoint pass backward: O(S·D) time, no [C, C] weights, no layout copies."""

    @staticmethod
    def forward(ctx, u: Tensor, logit: Tensor, h0: Tensor | None) -> Tensor:
        B, S, H, d = u.shape
        uc = u.detach().contiguous()
        h0c = None if h0 is None else h0.detach().to(u.dtype).contiguous()
        lam = torch.sigmoid(logit.detach().double()).contiguous()
        oml = torch.sigmoid(-logit.detach().double()).contiguous()
        out = torch.empty_like(uc)
        scratch = torch.empty(H * d, dtype=torch.float64)
        getattr(native.kernels(), f"dscan_{native.suffix(uc)}")(
            native.ptr(uc), native.ptr(h0c), native.ptr(out), B, S, H * d, d, native.ptr(lam), native.ptr(oml),
            native.ptr(scratch))
        ctx.save_for_backward(uc, out, h0c, lam, oml)
        ctx.logit_dtype = logit.dtype
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        uc, out, h0c, lam, oml = ctx.saved_tensors
        B, S, H, d = uc.shape
        g = grad.contiguous()
        gu = torch.empty_like(uc)
        gh0 = torch.empty_like(h0c) if h0c is not None and ctx.needs_input_grad[2] else None
        glam = torch.zeros(H, dtype=torch.float64)
        scratch = torch.empty(H * d, dtype=torch.float64)
        getattr(native.kernels(), f"dscanbwd_{native.suffix(uc)}")(
            native.ptr(g), native.ptr(uc), native.ptr(out), native.ptr(h0c), native.ptr(gu), native.ptr(gh0),
            native.ptr(glam), B, S, H * d, d, native.ptr(lam), native.ptr(oml), native.ptr(scratch))
        g_logit = (glam * lam * oml).to(ctx.logit_dtype)  # dλ/dlogit = λ(1 − λ)
        return gu, g_logit, gh0


def decay_scan(u: Tensor, logit: Tensor, h0: Tensor | None = None, chunk: int = 64) -> tuple[Tensor, Tensor]:
    """The CPU fast path: the native scan where it can run, else `decay_chunked` (GPU, bf16, no compiler)."""
    if native.usable(u) and (h0 is None or h0.dtype == u.dtype) and not torch.is_autocast_enabled(u.device.type):
        ctx = _DecayScan.apply(u, logit, h0)
        return ctx, ctx[:, -1]
    return decay_chunked(u, logit, h0, chunk)


def decay_parallel(u: Tensor, logit: Tensor, h0: Tensor | None = None, chunk: int = 64) -> tuple[Tensor, Tensor]:
    """Chunked form of `decay_recurrent` (kept name; same as `decay_chunked`)."""
    return decay_chunked(u, logit, h0, chunk)


class _ActiveGrad(torch.autograd.Function):
    """s·a without the product: a silent position's spikes are all zeros, so s·a = s in value; only
    the gradient differs (cut at silent positions), so forward is a view and backward one multiply."""

    @staticmethod
    def forward(ctx, spikes: Tensor, active: Tensor) -> Tensor:
        ctx.save_for_backward(active)
        return spikes.view_as(spikes)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (active,) = ctx.saved_tensors
        return grad * active[..., None].to(grad.dtype), None


class DecayPath(nn.Module):
    """W_tcam projection of the active spikes followed by the per-head decay recurrence."""

    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.chunk = cfg.n_heads, cfg.head_dim, cfg.decay_chunk
        self.oracle = cfg.impl == "oracle"
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.logit = nn.Parameter(torch.full((cfg.n_heads,), cfg.decay_init_logit))
        self._step_coef: tuple[tuple, Tensor, Tensor] | None = None  # decoding: (λ, 1 − λ) per head

    def forward(self, spikes: Tensor, active: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """spikes [B, S, D], active [B, S] bool, state [B, H, d_h] or None → (decay_output [B, S, D], state)."""
        B, S, D = spikes.shape
        # s·a equals s in value (a silent position is all zeros) but not in gradient: the surrogate
        # gradient of a silent position's spikes is cut by a = 0, so the product stays in both forms
        if self.oracle:
            gated = spikes * active[..., None].to(spikes.dtype)
        else:
            gated = _ActiveGrad.apply(spikes, active) if spikes.requires_grad else spikes
        u = self.proj(gated).view(B, S, self.n_heads, self.head_dim)
        if S == 1 and state is not None and not torch.is_grad_enabled():
            ctx, h = self._step(u, state)
        elif S == 1 and state is not None:
            ctx, h = decay_recurrent(u, self.logit, state)
        elif self.oracle:
            ctx, h = decay_convolution(u, self.logit, state)
        else:
            ctx, h = decay_scan(u, self.logit, state, self.chunk)
        return ctx.reshape(B, S, D), h

    def _step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One decoding step h = λh + (1 − λ)u, as `decay_recurrent` computes it (inference only)."""
        key = (self.logit.data_ptr(), self.logit._version, u.dtype)
        if self._step_coef is None or self._step_coef[0] != key:  # fixed while the logits are
            with torch.inference_mode(False), torch.no_grad():
                self._step_coef = (key, torch.sigmoid(self.logit).to(u.dtype)[:, None],
                                   torch.sigmoid(-self.logit).to(u.dtype)[:, None])
        _, lam, one_minus = self._step_coef
        h = torch.addcmul(lam * state.to(u.dtype), one_minus, u[:, 0])
        return h[:, None], h
