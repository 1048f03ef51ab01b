"""Optimiser and schedule settings (spec §6.1), apart from `optim` so configs load without torch."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OptimConfig:
    """AdamW settings; `no_decay_names` are substrings of a parameter's full name."""

    lr: float = 3.0e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1.0e-8
    weight_decay: float = 0.1
    no_decay_names: list[str] = field(default_factory=lambda: ["bias", "log_prior", "prior_weight"])
    no_decay_norms: bool = True  # parameters of normalisation layers are never decayed
    fused: bool = False  # torch's fused AdamW kernel (CUDA only)


@dataclass
class ScheduleConfig:
    """Linear warmup then cosine to a floor; `decay_steps` null means the run's max_steps."""

    warmup_steps: int = 2000
    min_lr: float = 1.0e-5
    decay_steps: int | None = None
