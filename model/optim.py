"""Optimisation as the reference does it (spec §6.1): AdamW param groups and the LR schedule.

- AdamW with betas (0.9, 0.95), eps 1e-8 and weight decay 0.1 on every parameter except
  normalisation parameters, biases and the head's prior scalars. The reference decides by name
  substring ("bias", "norm", "log_prior", "prior_weight"); the GPT-2 baseline's LayerNorms are named
  `ln_*`, so normalisation layers are recognised by module type instead, and the remaining patterns
  by name. As in the reference, embeddings, the unembedding, the prior net, the decay logits and the
  gate logits *are* decayed.
- Schedule: linear warmup to the peak over `warmup_steps` optimiser steps, then cosine decay to
  `min_lr` at `decay_steps`, constant `min_lr` after. `peak_scale` multiplies the peak; the
  loss-spike guard lowers it, and it is part of the scheduler's state so a resumed run keeps it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from .optim_config import OptimConfig, ScheduleConfig  # noqa: F401  (re-exported; defined apart so configs load without torch)

NORM_TYPES: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.RMSNorm)


def split_decay(model: nn.Module, cfg: OptimConfig) -> tuple[list[str], list[str]]:
    """Names of parameters that get weight decay, and those that do not (each shared tensor once)."""
    norm_params: set[int] = set()
    if cfg.no_decay_norms:
        for module in model.modules():
            if isinstance(module, NORM_TYPES):
                norm_params.update(id(p) for p in module.parameters(recurse=False))
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        if id(p) in norm_params or any(s in name for s in cfg.no_decay_names):
            no_decay.append(name)
        else:
            decay.append(name)
    return decay, no_decay


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    decay, no_decay = split_decay(model, cfg)
    params = dict(model.named_parameters())
    groups = [
        {"params": [params[n] for n in decay], "weight_decay": cfg.weight_decay, "group": "decay"},
        {"params": [params[n] for n in no_decay], "weight_decay": 0.0, "group": "no_decay"},
    ]
    groups = [g for g in groups if g["params"]]
    kwargs = {"fused": True} if cfg.fused else {}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, **kwargs)


def lr_at(step: int, peak: float, warmup_steps: int, decay_steps: int, min_lr: float) -> float:
    """LR for optimiser step `step` (0-based): (step+1)/warmup·peak, then cosine to min_lr, then flat.

    The floor never exceeds the peak (a lowered peak below min_lr decays to itself, i.e. stays flat).
    """
    floor = min(min_lr, peak)
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if step >= decay_steps:
        return floor
    span = max(1, decay_steps - warmup_steps)
    progress = (step - warmup_steps) / span
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


class WarmupCosine(LRScheduler):
    """`lr_at` as a torch scheduler stepped once per optimiser step (`last_epoch` = steps taken).

    Its state (`state_dict` holds every attribute but the optimiser) is plain numbers, so it loads
    with `torch.load(weights_only=True)`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, peak_lr: float, warmup_steps: int, decay_steps: int,
                 min_lr: float, peak_scale: float = 1.0) -> None:
        self.peak_lr = peak_lr
        self.warmup_steps = warmup_steps
        self.decay_steps = decay_steps
        self.min_lr = min_lr
        self.peak_scale = peak_scale
        super().__init__(optimizer)

    def lr_for(self, step: int) -> float:
        return lr_at(step, self.peak_lr * self.peak_scale, self.warmup_steps, self.decay_steps, self.min_lr)

    def get_lr(self) -> list[float]:
        lr = self.lr_for(max(0, self.last_epoch))
        return [lr for _ in self.optimizer.param_groups]

    def load_state_dict(self, state_dict: dict) -> None:
        """Take the position (steps taken) and the peak scale from a checkpoint; the schedule's shape
        (peak, warmup, decay steps, floor) stays the current config's, so a resumed run that extends
        `max_steps` gets the schedule its config describes."""
        for key in ("last_epoch", "_step_count", "peak_scale"):
            if key in state_dict:
                setattr(self, key, state_dict[key])

    def refresh(self) -> None:
        """Set the optimiser's LR for the current step from the schedule (after a resume)."""
        self.set_peak_scale(self.peak_scale)

    def set_peak_scale(self, scale: float) -> None:
        """Rescale the peak from now on (the spike guard); applies to the current step at once."""
        self.peak_scale = scale
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
