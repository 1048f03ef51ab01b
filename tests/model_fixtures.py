"""Shared helpers for the model tests: small configs and seeded models."""

from __future__ import annotations

import torch
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
