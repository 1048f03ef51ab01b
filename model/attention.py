"""Spike-gated causal local attention (spec §2.4 item 4), over the *continuous* stream.

Query i may attend key j iff  j ≤ i  and  (i − j ≤ W  or  j < A)  and  a_j = 1,
with W the window, A the global anchors and a_j = 1 when position j fired any spike. Positions are
absolute (they start at the cache offset when decoding). Scores are softmax(QKᵀ/√d_h) without
dropout; a query with no admissible key outputs 0 (no NaN, no gradient), and every output row is
multiplied by the query's own activity a_i. RoPE (rotate-half, frequencies θ^{−2i/d_h}) is applied
to Q and K per head.

Two implementations, chosen by `cfg.impl`:
- oracle: a dense [S, S] boolean mask through SDPA (O(S²) memory and time);
- fast: `local_attention.fused_local_attention` (one fused QKV GEMM, RoPE inside the native pack,
  blockwise attention over strided key spans), O(S·(A + W + Q)), used whenever no cached keys
  precede the call; `blocked_local_attention` where the native kernels cannot run.
Decoding keeps a ring-buffer cache (`decoding.AttentionCache`): a one-token step writes its key into
its slot and attends over the A + W + 1 slots under the cache's activity bias; several new tokens
after cached ones use the dense mask over the live slots plus the new keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import native
from .config import SymbolicLightConfig
from .decoding import AttentionCache
from .local_attention import _FLASH, blocked_local_attention, fused_local_attention, fused_usable


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
        self._tables: dict[tuple, tuple[Tensor, Tensor]] = {}  # fast path: RoPE half tables per dtype/device
        self._wqkv: tuple[tuple, Tensor] | None = None  # fused weight reused while no weight changes (inference)

    # --- fast-path helpers -------------------------------------------------------------------------

    def _rope(self, offset: int, S: int, x: Tensor) -> tuple[Tensor, Tensor]:
        """(cos, sin) [S, d_h/2] for positions offset..offset+S−1, sliced from a table built once per
        dtype/device (as normal tensors, so inference and training share them)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        key = (dtype, x.device, self.inv_freq.dtype)
        table = self._tables.get(key)
        if table is None or table[0].shape[0] < offset + S:
            n = max(self.cfg.max_seq_len, 2 * (offset + S))  # grows geometrically past max_seq_len
            with torch.inference_mode(False), torch.no_grad():
                table = rope_tables(torch.arange(n, device=x.device), self.inv_freq.clone(), dtype)
            self._tables[key] = table
        return table[0][offset:offset + S], table[1][offset:offset + S]

    def _qkv_weight(self) -> Tensor:
        """[q; k; v] weights as one [3D, D] matrix: one GEMM instead of three (and one input gradient)."""
        ws = (self.q.weight, self.k.weight, self.v.weight)
        if torch.is_grad_enabled() and any(w.requires_grad for w in ws):
            return torch.cat(ws)
        key = tuple((w.data_ptr(), w._version, w.dtype, w.device) for w in ws)
        if self._wqkv is None or self._wqkv[0] != key:
            with torch.inference_mode(False), torch.no_grad():
                self._wqkv = (key, torch.cat([w.detach() for w in ws]))
        return self._wqkv[1]

    def _rotate(self, x: Tensor, positions: Tensor, offset: int) -> Tensor:
        if self.cfg.impl == "oracle":
            return apply_rope(x, positions, self.inv_freq)
        return apply_rope_tables(x, *self._rope(offset, positions.numel(), x))

    def _heads(self, x: Tensor) -> Tensor:
        B, S, _ = x.shape
        return x.view(B, S, self.n_heads, self.head_dim).transpose(1, 2)

    # --- cache ---------------------------------------------------------------------------------------

    def _cache_init(self, cache: AttentionCache, like: Tensor) -> None:
        A, W = self.cfg.n_anchors, self.cfg.window
        B, n = like.shape[0], A + W + 1
        cache.k = like.new_zeros(B, n, self.n_heads, self.head_dim)
        cache.v = like.new_zeros(B, n, self.n_heads, self.head_dim)
        cache.bias = like.new_full((B, n), float("-inf"))
        cache.slot_pos = torch.full((n,), -1, dtype=torch.long, device=like.device)
        cache.n_anchors, cache.window = A, W

    def _cache_write(self, cache: AttentionCache, k: Tensor, v: Tensor, active: Tensor, positions: Tensor) -> None:
        """Store the keys that later queries can see: anchors and the last W + 1 positions."""
        if cache.k is None:
            self._cache_init(cache, k)
        S = positions.numel()
        keep = (positions < cache.n_anchors) | (torch.arange(S, device=positions.device) >= S - (cache.window + 1))
        if not bool(keep.all()):
            k, v, active, positions = k[:, :, keep], v[:, :, keep], active[:, keep], positions[keep]
        slots = cache.slots(positions)
        cache.k[:, slots] = k.detach().transpose(1, 2)
        cache.v[:, slots] = v.detach().transpose(1, 2)
        cache.bias[:, slots] = torch.zeros_like(active, dtype=cache.bias.dtype).masked_fill_(~active, float("-inf"))
        cache.slot_pos[slots] = positions
        cache.end = int(positions[-1]) + 1

    def _step(self, x: Tensor, active: Tensor, offset: int, cache: AttentionCache) -> Tensor:
        """One new token against the ring buffer: write its key into its slot, attend over all slots
        (inference only). The fast path rotates q into a small buffer and k straight into the slot."""
        B, _, D = x.shape
        H, d = self.n_heads, self.head_dim
        A, R = cache.n_anchors, cache.window + 1
        slot = offset if offset < A else A + (offset - A) % R
        if self.cfg.impl == "fast" and native.usable(x, cache.k):
            qkv = F.linear(x, self._qkv_weight())
            cos, sin = self._rope(offset, 1, x)
            q = torch.empty(B, 1, H, d, dtype=x.dtype)
            pack, item, w = getattr(native.kernels(), f"pack_{native.suffix(x)}"), x.element_size(), H * d
            base, row = native.ptr(qkv), 3 * D
            n = cache.k.shape[1] * w
            pack(base, row, row, native.ptr(q), w, B, 1, 1, H, d, native.ptr(cos), native.ptr(sin))
            pack(base + D * item, row, row, native.ptr(cache.k[:, slot]), n, B, 1, 1, H, d, native.ptr(cos),
                 native.ptr(sin))
            pack(base + 2 * D * item, row, row, native.ptr(cache.v[:, slot]), n, B, 1, 1, H, d, None, None)
            q = q.transpose(1, 2)
        else:
            qkv = torch.cat([self.q(x), self.k(x), self.v(x)], dim=-1)
            q, k, v = (t.view(B, 1, H, d).transpose(1, 2) for t in qkv.split(D, dim=-1))
            pos = torch.tensor([offset], device=x.device)
            q, k = self._rotate(q, pos, offset), self._rotate(k, pos, offset)
            cache.k[:, slot] = k[:, :, 0]
            cache.v[:, slot] = v[:, :, 0]
        cache.bias[:, slot] = torch.where(active[:, 0], 0.0, float("-inf"))
        cache.slot_pos[slot] = offset
        cache.end = offset + 1
        k_all, v_all = cache.k.transpose(1, 2), cache.v.transpose(1, 2)
        if x.device.type == "cpu":  # the flash kernel outputs 0 for a row with no open key
            out = _FLASH(q, k_all, v_all, 0.0, False, attn_mask=cache.bias[:, None, None, :])[0]
        else:
            out = masked_attention(q, k_all, v_all, (cache.bias == 0)[:, None, None, :])
        return torch.mul(out.transpose(1, 2).reshape(B, 1, D), active[..., None])

    def forward(self, x: Tensor, active: Tensor, offset: int = 0, cache: AttentionCache | None = None) -> Tensor:
        """x [B, S, D] continuous stream, active [B, S] bool → attn_output [B, S, D].

        With a cache, keys/values of earlier calls take part and the new ones are written into it."""
        B, S, D = x.shape
        cached = cache is not None and cache.k is not None
        if cached and S == 1 and not torch.is_grad_enabled():
            return self._step(x, active, offset, cache)
        fast = self.cfg.impl == "fast"
        if fast and not cached and fused_usable(x):
            qkv = F.linear(x, self._qkv_weight())
            rope = self._rope(offset, S, x)
            out = fused_local_attention(qkv, active, (self.n_heads, self.head_dim), window=self.cfg.window,
                                        n_anchors=self.cfg.n_anchors, block=self.cfg.attn_block, offset=offset,
                                        rope=rope)
            if cache is not None:  # rotate only the keys the cache keeps: anchors and the last W + 1
                t = torch.arange(S, device=x.device)
                sel = t[(t + offset < self.cfg.n_anchors) | (t >= S - self.cfg.window - 1)]
                part = qkv[:, sel]
                k = apply_rope_tables(self._heads(part[..., D:2 * D]), rope[0][sel], rope[1][sel])
                self._cache_write(cache, k, self._heads(part[..., 2 * D:]), active[:, sel], sel + offset)
            return out
        positions = torch.arange(offset, offset + S, device=x.device)
        q = self._rotate(self._heads(self.q(x)), positions, offset)
        k = self._rotate(self._heads(self.k(x)), positions, offset)
        v = self._heads(self.v(x))
        if cached:  # several new tokens after cached ones: the live slots plus the new keys, dense mask
            live = cache.live()
            k_all = torch.cat([cache.k[:, live].transpose(1, 2), k], dim=2)
            v_all = torch.cat([cache.v[:, live].transpose(1, 2), v], dim=2)
            k_active = torch.cat([cache.bias[:, live] == 0, active], dim=1)
            k_pos = torch.cat([cache.slot_pos[live], positions])
            mask = local_mask(positions, k_pos, self.cfg.window, self.cfg.n_anchors)[None, None] \
                & k_active[:, None, None, :]
            out = masked_attention(q, k_all, v_all, mask)
        elif fast:
            out = blocked_local_attention(q, k, v, active, window=self.cfg.window, n_anchors=self.cfg.n_anchors,
                                          block=self.cfg.attn_block, offset=offset)
        else:
            mask = local_mask(positions, positions, self.cfg.window, self.cfg.n_anchors)[None, None] \
                & active[:, None, None, :]
            out = masked_attention(q, k, v, mask)
        if cache is not None:
            self._cache_write(cache, k, v, active, positions)
        out = out.transpose(1, 2).reshape(B, S, D)
        return out * active[..., None].to(out.dtype)
