"""Blockwise spike-gated local attention: the fast path of `attention.masked_attention` with a
`local_mask`, without ever forming an [S, S] mask or score matrix.

Queries are cut into blocks of Q positions. Block b (queries [bQ, bQ + Q)) can only see keys in
[bQ − W, bQ + Q) plus the A global anchors. Two implementations of the same function:

- `fused_local_attention` (CPU, native kernels): one native pass packs Q, K, V out of the fused
  projection (applying RoPE on the way) into padded [rows, H, d] buffers; each block's key span
  (P = ⌈W/Q⌉·Q keys before it and its own Q) is then a *strided view* of the key buffer (blocks
  overlap, nothing is copied), and one flash-attention call covers every block. Anchors outside a
  block's window go through a second, [S, A]-sized call; the two partial softmaxes are merged with
  their log-sum-exps (rows where a part has no key get weight 0). Backward calls the flash backward
  of each part with the *merged* output and log-sum-exp (which gives each part's exact share of the
  gradient), and one native pass folds the overlapping span gradients back, adds the anchor part's
  and applies the inverse rotation, writing the fused projection's gradient directly. Masks are a
  per-shape positional table (cached) plus the keys' activity, O(S·(P + Q)).
- `gathered_local_attention` (any device): gathers each block's keys (anchors, then the span) with
  `unfold` into a copy and calls SDPA once; used where the native kernels or the CPU flash kernel
  are unavailable.

Rows with no admissible key output exactly 0, as in `masked_attention`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from . import native
from .csrc_local_attention import TILE


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


def gathered_local_attention(q: Tensor, k: Tensor, v: Tensor, k_active: Tensor, *, window: int, n_anchors: int,
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


_FLASH = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_FLASH_BWD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
_MASKS: dict[tuple, tuple[Tensor, Tensor | None]] = {}


def _positional(S: int, Q: int, n: int, P: int, window: int, A: int, dtype: torch.dtype, device: torch.device
                ) -> tuple[Tensor, Tensor | None]:
    """Cached per shape: span bias [n, Q, P + Q] (0 / −inf: causal, inside the window, key ≥ 0) and
    anchor bias [n·Q, A] (anchor a open to query i iff i − a > W)."""
    key = (S, Q, n, P, window, A, dtype, device)
    hit = _MASKS.get(key)
    if hit is not None:
        return hit
    j = torch.arange(n, device=device)[:, None, None]
    i = j * Q + torch.arange(Q, device=device)[None, :, None]
    t = j * Q - P + torch.arange(P + Q, device=device)[None, None, :]
    dist = i - t
    ok1 = (t >= 0) & (dist >= 0) & (dist <= window)
    span = torch.zeros(ok1.shape, dtype=dtype, device=device).masked_fill_(~ok1, float("-inf"))
    anchor = None
    if A:
        rows = torch.arange(n * Q, device=device)[:, None] - torch.arange(A, device=device)[None, :]
        anchor = torch.zeros(rows.shape, dtype=dtype, device=device).masked_fill_(~(rows > window), float("-inf"))
    if len(_MASKS) > 32:
        _MASKS.clear()
    _MASKS[key] = (span, anchor)
    return _MASKS[key]


class _FusedLocalAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: Tensor, active: Tensor, cos: Tensor | None, sin: Tensor | None, q_active: bool,
                heads: tuple[int, int], window: int, n_anchors: int, block: int, offset: int) -> Tensor:
        qkv = qkv.detach()
        B, S, D3 = qkv.shape
        D = D3 // 3
        H, d = heads
        Q = max(1, min(block, S))
        n = -(-S // Q)
        rows, G = n * Q, B * n
        P = -(-window // Q) * Q
        span_len = P + Q
        A = max(0, min(n_anchors - offset, S))
        A = A if S - 1 > window else 0  # no query is far enough from an anchor to need it
        lib, sfx = native.kernels(), native.suffix(qkv)
        dtype, dev = qkv.dtype, qkv.device
        span_pos, anchor_pos = _positional(S, Q, n, P, window, A, dtype, dev)
        qbuf = torch.empty(B * rows, H, d, dtype=dtype)
        kbuf = torch.empty(P + B * rows, H, d, dtype=dtype)
        vbuf = torch.empty_like(kbuf)
        kbuf[:P].zero_()
        vbuf[:P].zero_()
        pack = getattr(lib, f"pack_{sfx}")
        base = native.ptr(qkv)
        item = qkv.element_size()
        for buf, part, rot in ((qbuf, 0, True), (kbuf[P:], 1, True), (vbuf[P:], 2, False)):
            pack(base + part * D * item, S * D3, D3, native.ptr(buf), rows * H * d, B, S, rows, H, d,
                 native.ptr(cos) if rot and cos is not None else None,
                 native.ptr(sin) if rot and cos is not None else None)
        # key activity as an additive bias over the padded key rows (pad and silent keys: −inf)
        act = torch.full((P + B * rows,), float("-inf"), dtype=dtype)
        act[P:].view(B, rows)[:, :S].masked_fill_(active, 0.0)
        act_span = act.as_strided((B, n, 1, span_len), (rows, Q, span_len, 1))
        mask1 = (span_pos[None] + act_span).view(G, 1, Q, span_len)
        stride = (Q * H * d, H * d, d, 1)
        k1 = kbuf.as_strided((G, span_len, H, d), stride).transpose(1, 2)
        v1 = vbuf.as_strided((G, span_len, H, d), stride).transpose(1, 2)
        q1 = qbuf.view(G, Q, H, d).transpose(1, 2)
        o1, l1 = _FLASH(q1, k1, v1, 0.0, False, attn_mask=mask1)
        # has-key flags of each part per row (query activity folded in), then the lse merge, natively
        m1 = torch.empty(B * rows, dtype=torch.uint8)
        m2 = torch.empty(B * rows, dtype=torch.uint8)
        act_bytes = active.to(torch.uint8).contiguous()  # held in a local: the kernel reads its memory
        lib.attn_flags(native.ptr(act_bytes), B, S, rows, window, A, int(q_active), native.ptr(m1), native.ptr(m2))
        o2c = l2c = None
        mask2 = None
        if A:
            k2 = kbuf.as_strided((B, A, H, d), (rows * H * d, H * d, d, 1), P * H * d).transpose(1, 2)
            v2 = vbuf.as_strided((B, A, H, d), (rows * H * d, H * d, d, 1), P * H * d).transpose(1, 2)
            mask2 = (anchor_pos[None] + act[P:].view(B, rows)[:, None, :A]).view(B, 1, rows, A)
            q2 = qbuf.view(B, rows, H, d).transpose(1, 2)
            o2, l2 = _FLASH(q2, k2, v2, 0.0, False, attn_mask=mask2)
            o2c, l2c = o2.transpose(1, 2).contiguous(), l2.transpose(1, 2).contiguous()
        o1c, l1c = o1.transpose(1, 2).contiguous(), l1.transpose(1, 2).contiguous()
        out = torch.empty(B * rows, H, d, dtype=dtype)
        lse = torch.empty(B * rows, H, dtype=dtype)
        getattr(lib, f"merge_{sfx}")(native.ptr(o1c), native.ptr(l1c), native.ptr(m1), native.ptr(o2c),
                                     native.ptr(l2c), native.ptr(m2), native.ptr(out), native.ptr(lse), B * rows,
                                     H, d)
        lse = lse.contiguous()
        ctx.save_for_backward(qbuf, kbuf, vbuf, out, lse, mask1, mask2, active, cos, sin)
        ctx.dims = (B, S, H, d, Q, n, rows, G, P, span_len, A, q_active)
        result = out.view(B, rows, H * d)
        return result if rows == S else result[:, :S].contiguous()

    @staticmethod
    def backward(ctx, grad: Tensor):
        qbuf, kbuf, vbuf, out, lse, mask1, mask2, active, cos, sin = ctx.saved_tensors
        B, S, H, d, Q, n, rows, G, P, span_len, A, q_active = ctx.dims
        D = H * d
        g = torch.zeros(B, rows, D, dtype=grad.dtype)
        if q_active:
            torch.mul(grad, active[..., None].to(grad.dtype), out=g[:, :S])
        else:
            g[:, :S] = grad
        stride = (Q * H * d, H * d, d, 1)
        k1 = kbuf.as_strided((G, span_len, H, d), stride).transpose(1, 2)
        v1 = vbuf.as_strided((G, span_len, H, d), stride).transpose(1, 2)
        q1 = qbuf.view(G, Q, H, d).transpose(1, 2)
        o1 = out.view(G, Q, H, d).transpose(1, 2)
        l1 = lse.view(G, Q, H).transpose(1, 2)
        gq1, gk1, gv1 = _FLASH_BWD(g.view(G, Q, H, d).transpose(1, 2), q1, k1, v1, o1, l1, 0.0, False,
                                   attn_mask=mask1)
        gq2 = gk2 = gv2 = None
        if A:
            k2 = kbuf.as_strided((B, A, H, d), (rows * H * d, H * d, d, 1), P * H * d).transpose(1, 2)
            v2 = vbuf.as_strided((B, A, H, d), (rows * H * d, H * d, d, 1), P * H * d).transpose(1, 2)
            gq2, gk2, gv2 = _FLASH_BWD(g.view(B, rows, H, d).transpose(1, 2), qbuf.view(B, rows, H, d).transpose(1, 2),
                                       k2, v2, out.view(B, rows, H, d).transpose(1, 2),
                                       lse.view(B, rows, H).transpose(1, 2), 0.0, False, attn_mask=mask2)
            gq2, gk2, gv2 = (x.transpose(1, 2).contiguous() for x in (gq2, gk2, gv2))
        gq1, gk1, gv1 = (x.transpose(1, 2).contiguous() for x in (gq1, gk1, gv1))
        lib, sfx = native.kernels(), native.suffix(qbuf)
        unpack = getattr(lib, f"unpack_{sfx}")
        gqkv = torch.empty(B, S, 3 * D, dtype=qbuf.dtype)
        base, item = native.ptr(gqkv), gqkv.element_size()
        tmp = torch.empty(D, dtype=qbuf.dtype)
        rc, rs = native.ptr(cos), native.ptr(sin)
        for part, (gs, span, pad, ga, arows, rot) in enumerate((
                (gq1, Q, 0, gq2, rows, True), (gk1, span_len, P, gk2, A, True), (gv1, span_len, P, gv2, A, False))):
            unpack(native.ptr(gs), G, span, Q, pad, native.ptr(ga), arows, base + part * D * item, S * 3 * D, 3 * D,
                   B, S, rows, H, d, rc if rot else None, rs if rot else None, native.ptr(tmp))
        return gqkv, None, None, None, None, None, None, None, None, None


# Direct kernel up to this many admissible keys per query (A + W + 1); above it the blockwise flash
# path wins (its GEMM tiles amortise the span's extra keys). Measured on CPU: at W = 16 the direct
# kernel is ~4x faster forward + backward, at W = 256 (the 20M and larger configs) several times slower.
DIRECT_MAX_KEYS = 64
DIRECT_TILE = TILE  # queries per vectorised tile of the direct kernel (its buffers are padded to it)


class _DirectLocalAttention(torch.autograd.Function):
    """Each query scores exactly its admissible keys, diagonal by diagonal (native, see
    `csrc_local_attention.py`); the transposed rotated q, k, v and the probabilities are kept for
    backward."""

    @staticmethod
    def forward(ctx, qkv: Tensor, active: Tensor, cos: Tensor | None, sin: Tensor | None, q_active: bool,
                heads: tuple[int, int], window: int, n_anchors: int, offset: int) -> Tensor:
        qkv = qkv.detach()
        B, S, _ = qkv.shape
        H, d = heads
        A = max(0, min(n_anchors - offset, S))
        fn, dtype = getattr(native.kernels(), f"lattn_{native.suffix(qkv)}"), qkv.dtype
        rows = -(-S // DIRECT_TILE) * DIRECT_TILE
        L, K = rows + 2 * window, window + 1 + A
        qT = torch.empty(B * H, d, L, dtype=dtype)
        kT, vT = torch.empty_like(qT), torch.empty_like(qT)
        probs = torch.empty(B * H, K, rows + window, dtype=dtype)
        out = torch.empty(B, S, H * d, dtype=dtype)
        act = active.to(torch.uint8).contiguous()
        scale = 1.0 / math.sqrt(d)
        fn(native.ptr(qkv), B, S, H, d, native.ptr(cos), native.ptr(sin), native.ptr(act), window, A, int(q_active),
           scale, native.ptr(qT), native.ptr(kT), native.ptr(vT), native.ptr(probs), native.ptr(out))
        ctx.save_for_backward(qT, kT, vT, probs, cos, sin)
        ctx.dims = (B, S, H, d, window, A, scale)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        qT, kT, vT, probs, cos, sin = ctx.saved_tensors
        B, S, H, d, window, A, scale = ctx.dims
        g = grad.contiguous()
        gqkv = torch.empty(B, S, 3 * H * d, dtype=qT.dtype)
        gT = torch.empty_like(qT)  # the output gradient, transposed like q, k, v (held: C reads it)
        getattr(native.kernels(), f"lattnbwd_{native.suffix(qT)}")(
            native.ptr(g), native.ptr(qT), native.ptr(kT), native.ptr(vT), native.ptr(probs), B, S, H, d,
            native.ptr(cos), native.ptr(sin), window, A, scale, native.ptr(gqkv), native.ptr(gT))
        return gqkv, None, None, None, None, None, None, None, None


def fused_usable(x: Tensor) -> bool:
    """The fused path runs on CPU fp32/fp64 with the native kernels, outside autocast."""
    return native.usable(x) and not torch.is_autocast_enabled("cpu")


def fused_local_attention(qkv: Tensor, active: Tensor, heads: tuple[int, int], *, window: int, n_anchors: int,
                          block: int, offset: int = 0, rope: tuple[Tensor, Tensor] | None = None,
                          q_active: bool = True) -> Tensor:
    """qkv [B, S, 3·H·d] (the fused projection, before RoPE), active [B, S] bool → [B, S, H·d]: RoPE
    (half tables cos, sin [S, d/2]) on q and k, local attention, output rows times the query's
    activity when `q_active`."""
    cos, sin = rope if rope is not None else (None, None)
    if max(0, min(n_anchors - offset, qkv.shape[1])) + window + 1 <= DIRECT_MAX_KEYS:
        return _DirectLocalAttention.apply(qkv.contiguous(), active, None if cos is None else cos.contiguous(),
                                           None if sin is None else sin.contiguous(), q_active, heads, window,
                                           n_anchors, offset)
    return _FusedLocalAttention.apply(qkv.contiguous(), active, cos, sin, q_active, heads, window, n_anchors, block,
                                      offset)


def blocked_local_attention(q: Tensor, k: Tensor, v: Tensor, k_active: Tensor, *, window: int, n_anchors: int,
                            block: int, offset: int = 0) -> Tensor:
    """q, k, v [B, H, S, d] (RoPE applied) at absolute positions offset..offset+S−1, k_active [B, S]
    bool → [B, H, S, d]: query i attends key j iff j ≤ i and (i − j ≤ W or j < A) and k_active[j]."""
    if not fused_usable(q):
        return gathered_local_attention(q, k, v, k_active, window=window, n_anchors=n_anchors, block=block,
                                        offset=offset)
    B, H, S, d = q.shape
    qkv = torch.cat([x.transpose(1, 2).reshape(B, S, H * d) for x in (q, k, v)], dim=-1)
    out = fused_local_attention(qkv, k_active, (H, d), window=window, n_anchors=n_anchors, block=block,
                                offset=offset, q_active=False)
    return out.view(B, S, H, d).transpose(1, 2)
