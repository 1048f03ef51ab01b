"""Spike-gated causal local attention (spec §2.4 item 4), over the *continuous* stream.

Query i may attend key j iff  j ≤ i  and  (i − j ≤ W  or  j < A)  and  a_j = 1,
with W the window, A the global anchors and a_j = 1 when position j fired any spike. Positions are
absolute (they start at the cache offset when decoding). Scores are softmax(QKᵀ/√d_h) without
dropout; a query with no admissible key outputs 0 (no NaN, no gradient), and every output row is
multiplied by the query's own activity a_i. RoPE (rotate-half, frequencies θ^{−2i/d_h}) is applied
to Q and K per head.

Two implementations, chosen by `cfg.impl`:
- oracle: a dense [S, S] boolean mask through SDPA (O(S²) memory and time);
- fast: `local_attention.blocked_local_attention`, query blocks against their own keys, the W keys
  before them and the anchors, O(S·(A + W + Q)), used whenever no cached keys precede the call.
Decoding with cached keys (a few new queries against at most A + W + S keys) uses the dense mask
over that short key list in both, whose positions say which mask entries apply.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import SymbolicLightConfig
from .decoding import AttentionCache
from .local_attention import blocked_local_attention


def rope_inv_freq(head_dim: int, theta: float) -> Tensor:
    """Inverse frequencies θ^{−2i/d_h}, i = 0..d_h/2 − 1."""
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


def apply_rope(x: Tensor, positions: Tensor, inv_freq: Tensor) -> Tensor:
    """Rotate-half RoPE: x [..., S, d_h] at absolute `positions` [S]; dimension i pairs with i + d_h/2."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    angles = positions.to(dtype)[:, None] * inv_freq.to(x.device, dtype)[None, :]  # [S, d_h/2]
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.to(dtype) * cos + rotated.to(dtype) * sin).to(x.dtype)


def rope_tables(positions: Tensor, inv_freq: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(cos, sin) [S, d_h/2] of the RoPE angles, in `apply_rope`'s compute dtype."""
    angles = positions.to(dtype)[:, None] * inv_freq.to(positions.device, dtype)[None, :]
    return angles.cos(), angles.sin()


def apply_rope_tables(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """`apply_rope` from precomputed half tables, working on the two halves (no rotated copy, no
    full-width cos/sin): (x1·c − x2·s, x2·c + x1·s), the same roundings as x·cos + rotate_half(x)·sin."""
    half = x.shape[-1] // 2
    xd = x.to(cos.dtype)
    x1, x2 = xd[..., :half], xd[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


def local_mask(q_pos: Tensor, k_pos: Tensor, window: int, n_anchors: int) -> Tensor:
    """[Sq, Skv] bool: causal and (inside the window or an anchor key); key activity is applied apart."""
    dist = q_pos[:, None] - k_pos[None, :]
    return (dist >= 0) & ((dist <= window) | (k_pos[None, :] < n_anchors))


def masked_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """SDPA with a boolean mask [B or 1, 1, Sq, Skv]; rows with no admissible key give exactly 0.

    Such rows are opened fully for SDPA (so softmax never sees an all −inf row) and zeroed after."""
    has_key = mask.any(dim=-1, keepdim=True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~has_key, dropout_p=0.0)
    return out * has_key.to(out.dtype)


class SpikeGatedAttention(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.q = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.k = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.v = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.register_buffer("inv_freq", rope_inv_freq(cfg.head_dim, cfg.rope_theta), persistent=False)
        self._rope_key: tuple | None = None  # fast path: the last (offset, S, dtype, device) tables
        self._rope: tuple[Tensor, Tensor] | None = None

    def _rotate(self, x: Tensor, positions: Tensor, offset: int) -> Tensor:
        if self.cfg.impl == "oracle":
            return apply_rope(x, positions, self.inv_freq)
        dtype = torch.promote_types(x.dtype, torch.float32)
        key = (offset, positions.numel(), dtype, x.device, self.inv_freq.dtype, torch.is_inference_mode_enabled())
        if key != self._rope_key:  # same every training step; recomputed per decoding step
            self._rope, self._rope_key = rope_tables(positions, self.inv_freq, dtype), key
        return apply_rope_tables(x, *self._rope)

    def _heads(self, x: Tensor) -> Tensor:
        B, S, _ = x.shape
        return x.view(B, S, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, active: Tensor, offset: int = 0, cache: AttentionCache | None = None) -> Tensor:
        """x [B, S, D] continuous stream, active [B, S] bool → attn_output [B, S, D].

        With a cache, keys/values of earlier calls are prepended and the cache is updated, then
        trimmed to the anchors plus the last W positions."""
        B, S, D = x.shape
        positions = torch.arange(offset, offset + S, device=x.device)
        q = self._rotate(self._heads(self.q(x)), positions, offset)
        k = self._rotate(self._heads(self.k(x)), positions, offset)
        v = self._heads(self.v(x))
        k_new, v_new = k, v
        k_active, k_pos = active, positions
        blocked = self.cfg.impl == "fast" and (cache is None or cache.k is None)
        if cache is not None:
            if cache.k is not None:
                k = torch.cat([cache.k, k], dim=2)
                v = torch.cat([cache.v, v], dim=2)
                k_active = torch.cat([cache.active, active], dim=1)
                k_pos = torch.cat([cache.positions, positions])
            keep = (k_pos < self.cfg.n_anchors) | (k_pos >= offset + S - self.cfg.window)
            cache.k, cache.v = k[:, :, keep].detach(), v[:, :, keep].detach()
            cache.active, cache.positions = k_active[:, keep], k_pos[keep]
        if blocked:
            out = blocked_local_attention(q, k_new, v_new, active, window=self.cfg.window,
                                          n_anchors=self.cfg.n_anchors, block=self.cfg.attn_block, offset=offset)
        else:
            mask = local_mask(positions, k_pos, self.cfg.window, self.cfg.n_anchors)[None, None] \
                & k_active[:, None, None, :]
            out = masked_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, S, D)
        return out * active[..., None].to(out.dtype)
