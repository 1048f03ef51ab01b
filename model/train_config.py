"""Typed configuration of a training run (`configs/train/*.yaml`), with `key=value` overrides.

One YAML file says everything a run needs: which network (a shipped model config or a path, with
field overrides, or the GPT-2 baseline matched to it in parameters), the data module's settings,
AdamW, the LR schedule, the optional loss terms, the loss-spike guard, and the trainer (steps,
accumulation, precision, logging/validation/checkpoint intervals, distribution). Unknown keys and
wrong types fail at load time with one line naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml, speed_only, to_dict

from .data_config import DataConfig
from .optim_config import OptimConfig, ScheduleConfig

Precision = Literal["auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true"]
Strategy = Literal["auto", "ddp", "fsdp"]


@dataclass
class ModelSection:
    """The network: `config` is a shipped model config name (`tiny`, `194m`, `0.8b`, `gpt2-124m`) or a
    YAML path; `overrides` set its fields; `matched_gpt2` trains the GPT-2 baseline matched in
    parameters to that SymbolicLight config instead; `vocab_from_shards` sets the vocabulary to the
    shards' tokenizer (for toy models on any tokenizer; real configs keep their fixed vocabulary and
    a mismatch is an error); `allow_padded_vocab` accepts a model vocabulary larger than the
    tokenizer's (unused padded rows, as the 0.8B release has 57,344 rows for 55,296 pieces)."""

    config: str = "tiny"
    overrides: dict[str, Any] = field(default_factory=dict)
    matched_gpt2: bool = False
    vocab_from_shards: bool = False
    allow_padded_vocab: bool = False


@dataclass
class LossSection:
    """Optional loss terms (spec §4), applied to the model config; null keeps the model config's value.

    z-loss: weight · mean(logsumexp²) over `z_loss_samples` sampled logit vectors (0.8B script: 1e-4,
    128). Auxiliary CE (SymbolicLight only): the shared head on the listed blocks, total weight
    `aux_loss_weight`.
    """

    z_loss_weight: float | None = None
    z_loss_samples: int | None = None
    aux_loss_layers: list[int] | None = None
    aux_loss_weight: float | None = None


@dataclass
class SpikeGuardConfig:
    """The reference's loss-spike guard (spec §6.1): after warmup, a step loss above `threshold` on any
    rank reloads the newest checkpoint and multiplies the peak LR by `lr_factor`, never below
    `min_lr_scale` of the configured peak; at most `max_restarts` times per run."""

    enabled: bool = False
    threshold: float = 15.0
    lr_factor: float = 0.5
    min_lr_scale: float = 0.125
    max_restarts: int = 8


@dataclass
class TrainerSection:
    """Steps, precision, intervals (in optimiser steps) and distribution."""

    max_steps: int = 1000
    accumulate_grad_batches: int = 1
    precision: Precision = "auto"  # auto: bf16-mixed on a GPU that supports it, else 32-true
    gradient_clip: float = 1.0  # global norm; 0 disables clipping (the norm is still logged)
    accelerator: Literal["auto", "cpu", "gpu", "cuda"] = "auto"
    devices: int | str = 1  # a count, or "auto"
    num_nodes: int = 1
    strategy: Strategy = "auto"
    fsdp_sharding: Literal["FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD"] = "FULL_SHARD"
    seed: int = 42
    log_every_n_steps: int = 10
    val_every_n_steps: int = 500  # 0: validate only at the end
    val_at_end: bool = True
    ckpt_every_n_steps: int = 2000
    keep_last_k: int = 3
    sparsity_logging: bool = True  # count spikes during training (per layer/site, dead/always-on)
    peak_tflops: float | None = None  # per-device dense peak for MFU; null: look the device up
    max_skipped_steps: int = 20  # consecutive non-finite steps before the run stops with an error
    progress_bar: bool = speed_only(True)  # the tqdm bar (cosmetic: not part of the run's version)
    progress_lines: int = speed_only(10)  # without the bar: this many one-line progress reports per run
    threads: int | None = None  # torch intra-op threads per process (null: torch's default)
    matmul_precision: Literal["highest", "high", "medium"] = "high"
    compile: bool = False  # torch.compile the network

    def __post_init__(self) -> None:
        for name in ("max_steps", "accumulate_grad_batches", "num_nodes", "log_every_n_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("val_every_n_steps", "ckpt_every_n_steps", "keep_last_k", "max_skipped_steps", "progress_lines"):
            if getattr(self, name) < 0:
                raise UserError(f"trainer.{name} must be >= 0, got {getattr(self, name)}")
        if isinstance(self.devices, str) and self.devices != "auto":
            raise UserError(f"trainer.devices must be a count or 'auto', got {self.devices!r}")
        if self.gradient_clip < 0:
            raise UserError("trainer.gradient_clip must be >= 0")


@dataclass
class TrainConfig:
    """A whole training run. The run directory is `<workdir>/runs/<name>` unless `--out` is given."""

    name: str = "run"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossSection = field(default_factory=LossSection)
    guard: SpikeGuardConfig = field(default_factory=SpikeGuardConfig)
    trainer: TrainerSection = field(default_factory=TrainerSection)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise UserError(f"name {self.name!r} must be a plain directory name")
        if self.schedule.warmup_steps < 0 or self.schedule.min_lr < 0 or self.optim.lr <= 0:
            raise UserError("optim.lr must be > 0; schedule.warmup_steps and schedule.min_lr must be >= 0")
        if self.schedule.decay_steps is not None and self.schedule.decay_steps < self.schedule.warmup_steps:
            raise UserError("schedule.decay_steps must be >= schedule.warmup_steps")
        if not 0.0 < self.guard.lr_factor < 1.0 or not 0.0 < self.guard.min_lr_scale <= 1.0:
            raise UserError("guard.lr_factor must be in (0, 1) and guard.min_lr_scale in (0, 1]")

    @property
    def decay_steps(self) -> int:
        return self.schedule.decay_steps if self.schedule.decay_steps is not None else self.trainer.max_steps

    def tokens_per_step(self, world_size: int) -> int:
        d = self.data
        return d.batch_size * d.seq_len * self.trainer.accumulate_grad_batches * world_size


def shipped_train_names() -> list[str]:
    return sorted(p.stem for p in Path(shipped_config("train")).glob("*.yaml"))


def train_config_path(name_or_path: str | Path) -> Path:
    ref = str(name_or_path)
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    shipped = shipped_config("train", f"{ref}.yaml")
    if not shipped.is_file():
        raise UserError(f"unknown train config {ref!r} (shipped: {', '.join(shipped_train_names())}; or give a YAML path)")
    return shipped


def load_train_config(name_or_path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """A shipped name (`tiny-cpu`) or a YAML path, then `a.b=value` overrides (values parsed as YAML)."""
    path = train_config_path(name_or_path)
    data = apply_overrides(load_yaml(path), overrides or [])
    return from_dict(TrainConfig, data, where=path.name)


def config_to_yaml(cfg: TrainConfig) -> str:
    data = to_dict(cfg)
    data["optim"]["betas"] = list(data["optim"]["betas"])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
