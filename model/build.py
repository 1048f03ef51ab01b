"""Building a network from its config, and counting its parameters (total and per module).

`build_model(cfg, device="meta")` allocates nothing, which is how `model info` and the parameter
tests count the 0.8B network. The closed-form count (`symboliclight_param_count`) is the spec's
§3 formula; tests check it against the module.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .config import GPT2Config, ModelConfig, SymbolicLightConfig


def build_model(cfg: ModelConfig, device: str | torch.device | None = None) -> nn.Module:
    from .gpt2 import GPT2
    from .symboliclight import SymbolicLight

    cls = GPT2 if isinstance(cfg, GPT2Config) else SymbolicLight
    if device is None:
        return cls(cfg)
    with torch.device(device):
        return cls(cfg)


def count_params(model: nn.Module) -> int:
    """Unique parameters (a tied weight counts once)."""
    return sum(p.numel() for p in model.parameters())


def _group(name: str, depth: int | None) -> str:
    parts = name.split(".")
    if parts[-1] in ("weight", "bias") and len(parts) > 1:
        parts = parts[:-1]
    if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit():
        parts = parts[:1] + parts[2:]  # sum over blocks
    return ".".join(parts if depth is None else parts[:depth])


def param_breakdown(model: nn.Module, depth: int | None = None) -> OrderedDict[str, int]:
    """Parameters per module path (block indices folded together, so `blocks.mixer.attn.q` is the sum
    over every block), cut to `depth` path components when given (1 = top-level modules)."""
    out: OrderedDict[str, int] = OrderedDict()
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) not in seen:
            seen.add(id(p))
            key = _group(name, depth)
            out[key] = out.get(key, 0) + p.numel()
    return out


def symboliclight_param_count(cfg: SymbolicLightConfig) -> int:
    """Spec §3: per block 5D² + 2DF + 4D + H + 1 (less the paths an ablation removes), plus the
    embedding VD, the encoder LayerNorm 2D, the head VD, the prior net (or static prior V), and
    +1 for a learnable prior weight."""
    D, F, H, V = cfg.embed_dim, cfg.intermediate_dim, cfg.n_heads, cfg.vocab_size
    block = D * D + 2 * D * F + 4 * D  # out_proj, ffn up/down, two LayerNorms
    block += (D * D + H) if cfg.decay else 0  # W_tcam, decay logits
    block += 3 * D * D if cfg.attention else 0  # W_q, W_k, W_v
    block += 1 if cfg.has_gate else 0
    prior = D * cfg.prior_dim + cfg.prior_dim * V if cfg.dynamic_prior else V
    return V * D + 2 * D + cfg.n_layers * block + V * D + prior + int(cfg.learnable_prior_weight)
