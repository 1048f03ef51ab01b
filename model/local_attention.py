"""Blockwise spike-gated local attention: the fast path of `attention.masked_attention` with a
`local_mask`, without ever forming an [S, S] mask or score matrix.

Queries are cut into blocks of Q positions. Block b (queries [bQ, bQ + Q)) can only see keys in
[bQ − W, bQ + Q) (its own block and the W keys before it) plus the A global anchors, so each block
attends over A + W + Q key slots: the anchors, then that key span (gathered with `unfold`, with W
zero keys padded in front). The per-block mask, a few KB per block, encodes causality, the window,
padding, the anchors (an anchor slot is open only when the anchor is *not* already inside the
block's span, so no key counts twice) and the keys' spike activity. All blocks go through one SDPA
call. Time and memory are O(S·(A + W + Q)) instead of O(S²).

Rows with no admissible key are handled as in `masked_attention`: opened for SDPA, zeroed after.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _block_mask(n_blocks: int, block: int, window: int, n_anchor_slots: int, offset: int, n_anchors: int,
                length: int, device: torch.device) -> Tensor:
    """[n, Q, A' + W + Q] bool: positional admissibility of each key slot for each query."""
    b = torch.arange(n_blocks, device=device)[:, None, None]
    qi = torch.arange(block, device=device)[None, :, None]
    q_local = b * block + qi  # [n, Q, 1] local query index
    span = torch.arange(window + block, device=device)[None, None, :]
    k_local = b * block - window + span  # [n, 1, W + Q] local key index of each span slot
    dist = q_local - k_local
    in_span = (k_local >= 0) & (k_local < length) & (dist >= 0) & (
        (dist <= window) | (k_local + offset < n_anchors))
    a = torch.arange(n_anchor_slots, device=device)[None, None, :]
    anchor = (a + offset < n_anchors) & (a < b * block - window) & (a <= q_local)  # not inside the span
    return torch.cat([anchor.expand(n_blocks, block, -1), in_span.expand(n_blocks, block, -1)], dim=-1)


def blocked_local_attention(q: Tensor, k: Tensor, v: Tensor, k_active: Tensor, *, window: int, n_anchors: int,
                            block: int, offset: int = 0) -> Tensor:
    """q, k, v [B, H, S, d] at absolute positions offset..offset+S−1, k_active [B, S] bool →
    [B, H, S, d] (a transposed view of a [B, S, H, d] tensor): query i attends key j iff j ≤ i and
    (i − j ≤ W or j < A) and k_active[j]."""
    B, H, S, d = q.shape
    Q = max(1, min(block, S))
    n = -(-S // Q)
    pad_end = n * Q - S
    n_anchor_slots = max(0, min(n_anchors - offset, S))  # anchors among these keys: positions < A

    def spans(x: Tensor) -> Tensor:  # [B, H, S, d] → [B·n, H, A' + W + Q, d], built with one copy
        windows = F.pad(x, (0, 0, window, pad_end)).unfold(2, window + Q, Q).permute(0, 2, 1, 4, 3)
        parts = [windows]
        if n_anchor_slots:
            parts.insert(0, x[:, None, :, :n_anchor_slots].expand(B, n, H, n_anchor_slots, d))
        return torch.cat(parts, dim=3).reshape(B * n, H, -1, d)

    active = F.pad(k_active, (window, pad_end)).unfold(1, window + Q, Q)  # [B, n, W + Q]
    if n_anchor_slots:
        active = torch.cat([k_active[:, None, :n_anchor_slots].expand(B, n, -1), active], dim=2)
    allowed = _block_mask(n, Q, window, n_anchor_slots, offset, n_anchors, S, q.device)[None] & active[:, :, None, :]
    has_key = allowed.any(dim=-1, keepdim=True)  # [B, n, Q, 1]
    # additive mask, broadcast over heads; rows without a key are opened (and zeroed below)
    bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~(allowed | ~has_key),
                                                                                    float("-inf"))
    qb = F.pad(q, (0, 0, 0, pad_end)).view(B, H, n, Q, d).transpose(1, 2).reshape(B * n, H, Q, d)
    out = F.scaled_dot_product_attention(qb, spans(k), spans(v), attn_mask=bias.view(B * n, 1, Q, -1),
                                         dropout_p=0.0)  # [B·n, H, Q, d]
    out = out.view(B, n, H, Q, d)
    if not bool(has_key.all()):
        out = out * has_key[:, :, None].to(out.dtype)
    out = out.transpose(2, 3).reshape(B, n * Q, H, d)[:, :S]
    return out.transpose(1, 2)
