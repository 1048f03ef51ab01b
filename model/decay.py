"""The mixer's exponential-decay path (spec §2.4 items 2-3), over projected *spikes* only.

    u_t = W_tcam (s_t · a_t)          (reshaped to [H, d_h])
    h_t = λ_h h_{t−1} + (1 − λ_h) u_t,   λ_h = sigmoid(r_h), r_h learnable, init 3.0

Two exact forms of the same recurrence:
- `decay_recurrent`: the step loop (the oracle, and the O(1)-per-token decoding step);
- `decay_parallel`: chunked. Inside a chunk of C steps the output is a [C, C] lower-triangular
  matrix (1 − λ) λ^{t−j} applied to u, plus λ^{t+1} times the state entering the chunk; the state
  leaving the chunk is the chunk's last row. Cost O(S·C·D) instead of the reference's O(S²)
  S-long convolution, and the powers are formed as exp((t − j)·log λ) with the upper triangle
  masked *before* the exp, so nothing overflows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


def decay_parallel(u: Tensor, logit: Tensor, h0: Tensor | None = None, chunk: int = 64) -> tuple[Tensor, Tensor]:
    """Chunked form of `decay_recurrent` (same signature, same values up to rounding)."""
    B, S, H, d = u.shape
    dtype = torch.promote_types(u.dtype, torch.float32)  # fp32 at least, fp64 stays fp64
    log_lam = F.logsigmoid(logit.to(dtype))  # [H]
    one_minus = torch.sigmoid(-logit.to(dtype))  # [H], 1 − λ without cancellation
    h = u.new_zeros(B, H, d, dtype=dtype) if h0 is None else h0.to(dtype)
    outs: list[Tensor] = []
    with torch.autocast(device_type=u.device.type, enabled=False):  # keep the powers of λ in fp32
        for start in range(0, S, chunk):
            h = _decay_chunk(u[:, start:start + chunk].to(dtype), log_lam, one_minus, h, outs)
    return torch.cat(outs, dim=1).to(u.dtype), h.to(u.dtype)


def _decay_chunk(uc: Tensor, log_lam: Tensor, one_minus: Tensor, h: Tensor, outs: list[Tensor]) -> Tensor:
    """One chunk of `decay_parallel`: appends the chunk's context to `outs`, returns the leaving state."""
    c = uc.shape[1]  # uc [B, c, H, d]
    idx = torch.arange(c, device=uc.device)
    diff = idx[:, None] - idx[None, :]  # [c, c], t − j
    causal = diff >= 0
    expo = torch.where(causal, diff, torch.zeros_like(diff)).to(log_lam.dtype)
    weights = torch.exp(expo[None] * log_lam[:, None, None]) * causal * one_minus[:, None, None]  # [H, c, c]
    ctx = torch.einsum("htj,bjhd->bthd", weights, uc)
    carry = torch.exp((idx + 1).to(log_lam.dtype)[:, None] * log_lam[None, :])  # [c, H], λ^{t+1}
    ctx = ctx + carry[None, :, :, None] * h[:, None]
    outs.append(ctx)
    return ctx[:, -1]


class DecayPath(nn.Module):
    """W_tcam projection of the active spikes followed by the per-head decay recurrence."""

    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.chunk = cfg.n_heads, cfg.head_dim, cfg.decay_chunk
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.logit = nn.Parameter(torch.full((cfg.n_heads,), cfg.decay_init_logit))

    def forward(self, spikes: Tensor, active: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """spikes [B, S, D], active [B, S] bool, state [B, H, d_h] or None → (decay_output [B, S, D], state)."""
        B, S, D = spikes.shape
        u = self.proj(spikes * active[..., None].to(spikes.dtype)).view(B, S, self.n_heads, self.head_dim)
        if S == 1 and state is not None:
            ctx, h = decay_recurrent(u, self.logit, state)
        else:
            ctx, h = decay_parallel(u, self.logit, state, self.chunk)
        return ctx.reshape(B, S, D), h
