"""Shared helpers for the model tests: small configs and seeded models."""

from __future__ import annotations

import torch
from symboliclight.model.attention import apply_rope, local_mask, masked_attention, rope_inv_freq
from symboliclight.model.build import build_model
from symboliclight.model.config import load_model_config

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no_attention": ["attention=false"],
    "no_decay": ["decay=false"],
    "static_prior": ["dynamic_prior=false"],
    "decay_only_static": ["attention=false", "dynamic_prior=false"],
    "topk": ["encoder_mask=topk"],
    "learnable_prior": ["learnable_prior_weight=true"],
}


def tiny_model(overrides: list[str] | None = None, seed: int = 0, eval_mode: bool = True):
    torch.manual_seed(seed)
    cfg = load_model_config("tiny", overrides or [])
    model = build_model(cfg)
    return model.eval() if eval_mode else model.train()


def tokens(batch: int, length: int, vocab: int = 512, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g)


REL = 1e-5  # fast paths against the oracle, fp32


def assert_rel(actual: torch.Tensor, expected: torch.Tensor, rel: float = REL) -> None:
    """max |a − e| ≤ rel · max |e|: relative to the tensor's scale (fp32 rounding is relative)."""
    actual, expected = actual.detach(), expected.detach()
    scale = expected.abs().max().clamp_min(torch.finfo(expected.dtype).tiny)
    err = float((actual - expected).abs().max() / scale)
    assert err <= rel, f"relative error {err:.3g} > {rel:g}"


def dense_local_attention(qkv: torch.Tensor, active: torch.Tensor, H: int, d: int, window: int, anchors: int,
                          offset: int = 0, q_active: bool = True, rope: bool = True) -> torch.Tensor:
    """The oracle for the fused local attention: RoPE, then attention under the dense sliding-window
    + anchors mask restricted to active keys; inactive queries zeroed when `q_active`."""
    B, S, _ = qkv.shape
    pos = torch.arange(offset, offset + S)
    q, k, v = (t.view(B, S, H, d).transpose(1, 2) for t in qkv.split(H * d, dim=-1))
    if rope:
        inv = rope_inv_freq(d, 10000.0)
        q, k = apply_rope(q, pos, inv), apply_rope(k, pos, inv)
    mask = local_mask(pos, pos, window, anchors)[None, None] & active[:, None, None, :]
    out = masked_attention(q, k, v, mask).transpose(1, 2).reshape(B, S, H * d)
    return out * active[..., None].to(out.dtype) if q_active else out


def assert_same_values_and_grads(fast: torch.Tensor, ref: torch.Tensor, inp: torch.Tensor) -> None:
    """`fast` equals `ref`, and so do their gradients with respect to `inp` under a random upstream gradient."""
    assert_rel(fast, ref)
    g = torch.randn_like(ref)
    (g_fast,) = torch.autograd.grad((fast * g).sum(), inp)
    (g_ref,) = torch.autograd.grad((ref * g).sum(), inp)
    assert_rel(g_fast, g_ref)
