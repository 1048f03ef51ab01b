"""Lightning pre-training: `LanguageModelModule` (SymbolicLight or the GPT-2 baseline) and the run driver.

The module trains either network through the same code path (the objective is the network's own:
CE, plus z-loss and auxiliary CE when configured; only CE is logged). Lightning's automatic
optimisation does accumulation, precision and distribution; this module adds what the reference
recipe needs on top:
- the clipping hook computes the global gradient norm before clipping (FSDP-aware), logs it, and
  drops the step when it is not finite; the guards in `callbacks.py` drop it for a non-finite or
  exploding loss (decided on every rank alike with one small all-reduce per optimiser step);
- a training RNG stream kept apart from everything else: the generator state is restored before
  each training batch and saved after it, so validation, dataloader iterators or anything else
  that draws random numbers between steps never shifts dropout masks; the per-rank stream state is
  checkpointed, which is what makes a resumed run's losses identical to an uninterrupted one;
- tokens seen, skipped steps and the LR peak scale, checkpointed with the run config.

`prepare_run` does every check (config, shards, vocabulary, checkpoint, resume compatibility)
before any work; `run_fit` trains (restarting from the newest checkpoint with a lower peak LR when
the loss-spike guard fires) and writes the run report.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from symboliclight.pipeline.artifacts import atomic_write_text, resolve
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.typed_config import to_dict
from torch import Tensor

from .build import build_model, count_params
from .callbacks import (
    EssentialsProgressBar,
    LossSpikeGuard,
    NonFiniteGuard,
    ProgressLines,
    SparsityMonitor,
    TrainMetrics,
    analytic_flops_per_token,
    drop_gradients,
    log_metrics,
    measure_flops_per_token,
)
from .checkpointing import (
    OUR_KEY,
    AtomicCheckpointIO,
    StepCheckpoint,
    capture_stream,
    gather_streams,
    list_checkpoints,
    resolve_resume,
    restore_stream,
    verify_checkpoint,
)
from .config import GPT2Config, ModelConfig, SymbolicLightConfig, config_from_dict, load_model_config
from .data import ShardsDataModule, ValWindows
from .gpt2 import matched_gpt2_config
from .optim import WarmupCosine, build_optimizer
from .run_logging import run_loggers
from .train_config import TrainConfig, config_to_yaml

CKPT_FORMAT = 1


# --- network config ----------------------------------------------------------------------------------

def resolve_model_config(cfg: TrainConfig, shards_vocab: int | None) -> ModelConfig:
    """The network config the run trains: the named config, its overrides, loss options, vocabulary."""
    base = load_model_config(cfg.model.config)
    data = dataclasses.asdict(base)
    data.update(cfg.model.overrides)
    if cfg.model.vocab_from_shards:
        if shards_vocab is None:
            raise UserError("model.vocab_from_shards needs shards to read the vocabulary from")
        data["vocab_size"] = shards_vocab
    where = f"model ({cfg.model.config})"
    model_cfg = config_from_dict(data, where=where)
    if cfg.model.matched_gpt2:
        if not isinstance(model_cfg, SymbolicLightConfig):
            raise UserError(f"model.matched_gpt2 needs a SymbolicLight config, {cfg.model.config!r} is {model_cfg.arch}")
        model_cfg = matched_gpt2_config(model_cfg)
        model_cfg = dataclasses.replace(model_cfg, block_size=max(model_cfg.block_size, cfg.data.seq_len))
    loss = {k: v for k, v in dataclasses.asdict(cfg.loss).items() if v is not None}
    if isinstance(model_cfg, GPT2Config) and any(k.startswith("aux") for k in loss):
        raise UserError("loss.aux_loss_*: auxiliary CE exists only for SymbolicLight, not the GPT-2 baseline")
    if loss:
        model_cfg = config_from_dict({**dataclasses.asdict(model_cfg), **loss}, where=where)
    context = model_cfg.max_seq_len if isinstance(model_cfg, SymbolicLightConfig) else model_cfg.block_size
    if cfg.data.seq_len > context:
        raise UserError(f"data.seq_len {cfg.data.seq_len} exceeds the model's context {context}")
    return model_cfg


def shards_vocab(cfg: TrainConfig, workdir: str | Path) -> tuple[int, str]:
    """(vocabulary size, version) from the shards manifest, without opening any shard."""
    art = resolve(cfg.data.shards, "shards", workdir)
    try:
        return int(art.manifest["tokenizer"]["vocab_size"]), art.version
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{art.path}: shards manifest has no tokenizer.vocab_size") from None


# --- the module --------------------------------------------------------------------------------------

class LanguageModelModule(pl.LightningModule):
    """One training/validation code path for SymbolicLight and the GPT-2 baseline."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig, lr_scale: float | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.model_cfg = model_cfg
        self.net = build_model(model_cfg)
        self.n_params = count_params(self.net)
        self.tokens_seen = 0
        self.skipped_steps = 0
        self.consecutive_skips = 0
        self.last_skip_reason = ""
        self.lr_scale = 1.0 if lr_scale is None else lr_scale
        self._forced_lr_scale = lr_scale
        self.progress: dict[str, Any] = {}
        self.last_step: dict[str, Any] = {}
        self.last_val: dict[str, float] = {}
        self.last_val_step = -1
        self._flops: float | None | bool = False
        self.flops_method = ""
        self._train_rng: dict[str, Any] | None = None
        self._reset_window()

    # -- objective -----------------------------------------------------------------------------------
    def forward(self, idx: Tensor, targets: Tensor | None = None) -> Any:
        return self.net(idx, targets)

    @staticmethod
    def split_batch(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        tokens = batch["tokens"]
        return tokens[:, :-1], tokens[:, 1:]

    def _reset_window(self) -> None:
        self._win_ce: Tensor | None = None
        self._win_max: Tensor | None = None
        self._win_bad: Tensor | None = None
        self._win_micro = 0
        self._win_tokens = 0
        self._win_skipped = False
        self._win_stats: dict[str, Any] | None = None

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        x, y = self.split_batch(batch)
        out = self.net(x, y)
        ce = out.ce.detach().float()
        bad = (~torch.isfinite(out.loss.detach())).float()
        self._win_ce = ce if self._win_ce is None else self._win_ce + ce
        self._win_max = ce if self._win_max is None else torch.maximum(self._win_max, ce)
        self._win_bad = bad if self._win_bad is None else self._win_bad + bad
        self._win_micro += 1
        self._win_tokens += y.numel()
        self._train_rng = capture_stream(self.device)
        return out.loss

    def window_stats(self) -> dict[str, Any]:
        """This accumulation window's loss over all ranks, and whether any rank saw a non-finite or
        spiking loss (one all-reduce, computed once per window)."""
        if self._win_stats is None:
            thr = self.cfg.guard.threshold
            local_max = self._win_max if self._win_max is not None else torch.zeros((), device=self.device)
            spike = (torch.nan_to_num(local_max, nan=0.0, posinf=thr + 1) > thr).float()
            packed = torch.stack([
                self._win_bad if self._win_bad is not None else torch.zeros((), device=self.device),
                spike,
                torch.nan_to_num(self._win_ce, nan=0.0, posinf=0.0) if self._win_ce is not None else torch.zeros((), device=self.device),
                torch.tensor(float(self._win_micro), device=self.device),
            ]).to(self.device)
            packed = self.trainer.strategy.reduce(packed, reduce_op="sum") if self.trainer.world_size > 1 else packed
            bad, spikes, ce_sum, n = packed.tolist()
            self._win_stats = {"nonfinite": bad > 0, "spike": spikes > 0, "loss": ce_sum / n if n else float("nan"),
                               "max_loss": float(local_max)}
            if bad > 0:
                self._win_stats["loss"] = float("nan")
        return self._win_stats

    def mark_skipped(self, reason: str, consecutive: bool = True) -> None:
        if not self._win_skipped:
            self.skipped_steps += 1
            if consecutive:
                self.consecutive_skips += 1
        self._win_skipped = True
        self.last_skip_reason = reason

    def _grad_norm_and_clip(self, max_norm: float) -> float:
        limit = max_norm if max_norm > 0 else float("inf")
        model = self.trainer.model
        from torch.distributed.fsdp import FullyShardedDataParallel

        if isinstance(model, FullyShardedDataParallel):
            norm = model.clip_grad_norm_(limit)
        else:
            params = [p for p in self.parameters() if p.grad is not None]
            if not params:
                return float("nan")
            norm = torch.nn.utils.clip_grad_norm_(params, limit)
        return float(norm)

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Any = None) -> None:
        """Runs once per optimiser step, after unscaling: norm, clip, skip decisions, step record."""
        stats = self.window_stats()
        norm = float("nan")
        if not self._win_skipped:
            norm = self._grad_norm_and_clip(self.cfg.trainer.gradient_clip)
            if not math.isfinite(norm):
                drop_gradients(self.trainer)
                self.mark_skipped("non-finite gradient norm")
        if not self._win_skipped:
            self.consecutive_skips = 0
        self.tokens_seen += self._win_tokens * self.trainer.world_size
        self.last_step = {"loss": stats["loss"], "grad_norm": norm, "lr": optimizer.param_groups[0]["lr"],
                          "skipped": self._win_skipped}
        self._reset_window()

    def configure_optimizers(self) -> dict[str, Any]:
        opt = build_optimizer(self.net, self.cfg.optim)
        sched = WarmupCosine(opt, self.cfg.optim.lr, self.cfg.schedule.warmup_steps, self.cfg.decay_steps,
                             self.cfg.schedule.min_lr, peak_scale=self.lr_scale)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # -- RNG stream and lifecycle --------------------------------------------------------------------
    def on_train_start(self) -> None:
        sched = self.lr_schedulers()
        if isinstance(sched, WarmupCosine):
            sched.set_peak_scale(self.lr_scale)  # also re-derives this step's LR from the current config
        self._reset_window()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._train_rng is not None:
            restore_stream(self._train_rng, self.device)

    def flops_per_token(self) -> float | None:
        if self._flops is False:
            cfg = self.model_cfg
            if isinstance(cfg, SymbolicLightConfig):
                cfg = dataclasses.replace(cfg, grad_checkpoint=False, dropout=0.0)
            seq = self.cfg.data.seq_len
            self._flops = measure_flops_per_token(lambda: build_model(cfg), seq)
            self.flops_method = "measured (meta device)"
            if self._flops is None:
                if isinstance(cfg, SymbolicLightConfig):
                    layers, width = cfg.n_layers, cfg.embed_dim
                    attended = min(seq, cfg.window + 1 + cfg.n_anchors) if cfg.attention else 0
                else:
                    layers, width, attended = cfg.n_layer, cfg.n_embd, seq
                self._flops = analytic_flops_per_token(self.net, layers, width, attended)
                self.flops_method = "analytic 6N + 12·L·D·keys"
        return self._flops or None

    # -- validation ----------------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        dm = self.trainer.datamodule
        n = len(dm.domains) if dm is not None else 1
        self._val_loss = torch.zeros(n, dtype=torch.float64, device=self.device)
        self._val_tokens = torch.zeros(n, dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x, y = self.split_batch(batch)
        logits = self.net(x).logits
        per_token = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
        per_window = per_token.view(y.shape).sum(1).double()
        domain = batch["domain"].to(self.device)
        self._val_loss.index_add_(0, domain, per_window)
        self._val_tokens.index_add_(0, domain, torch.full_like(per_window, float(y.shape[1])))

    def on_validation_epoch_end(self) -> None:
        packed = torch.stack([self._val_loss, self._val_tokens])
        if self.trainer.world_size > 1:
            packed = self.trainer.strategy.reduce(packed, reduce_op="sum")
        loss, tokens = packed[0].tolist(), packed[1].tolist()
        dm = self.trainer.datamodule
        names = dm.domains if dm is not None else ["all"]
        m: dict[str, float] = {}
        total_loss, total_tokens = sum(loss), sum(tokens)
        if total_tokens:
            m["val/loss"] = total_loss / total_tokens
            m["val/ppl"] = math.exp(min(m["val/loss"], 50.0))
            m["val/tokens"] = total_tokens
        for name, lsum, tok in zip(names, loss, tokens, strict=True):
            if tok:
                m[f"val/{name}/loss"] = lsum / tok
                m[f"val/{name}/ppl"] = math.exp(min(lsum / tok, 50.0))
        self.last_val = m
        self.last_val_step = self.trainer.global_step
        if not self.trainer.sanity_checking:
            log_metrics(self.trainer, m)
        if "val/loss" in m:
            self.progress["val_ppl"] = round(m["val/ppl"], 2)

    # -- checkpoints ---------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        mine = self._train_rng or capture_stream(self.device)
        streams = gather_streams(self.trainer, mine)
        checkpoint[OUR_KEY] = {
            "format": CKPT_FORMAT,
            "config": _plain(to_dict(self.cfg)),
            "model_config": _plain(dataclasses.asdict(self.model_cfg)),
            "tokens_seen": self.tokens_seen,
            "skipped_steps": self.skipped_steps,
            "lr_scale": self.lr_scale,
            "rng": streams,
            "world_size": self.trainer.world_size,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(OUR_KEY)
        if not isinstance(meta, dict) or meta.get("format") != CKPT_FORMAT:
            raise UserError("checkpoint was not written by this trainer (format mismatch)")
        self.tokens_seen = int(meta["tokens_seen"])
        self.skipped_steps = int(meta["skipped_steps"])
        self.lr_scale = float(meta["lr_scale"]) if self._forced_lr_scale is None else self._forced_lr_scale
        streams = meta["rng"]
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self._train_rng = streams[rank % len(streams)] if meta.get("world_size") == self.trainer.world_size else None


def _plain(obj: Any) -> Any:
    """Tuples to lists, recursively: the config stays plain data in the checkpoint."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


# --- the run ---------------------------------------------------------------------------------------------

@dataclass
class RunPlan:
    """Everything checked before any work starts."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    run_dir: Path
    workdir: Path
    resume_from: Path | None
    shards_version: str
    shards_vocab: int


def prepare_run(cfg: TrainConfig, *, workdir: str | Path = "work", out: str | Path | None = None,
                resume: str | None = None, mode: str = "fit") -> RunPlan:
    """Validate config, shards, vocabulary and resume target; raise `UserError` (one line) on any problem."""
    workdir = Path(workdir)
    run_dir = Path(out) if out else workdir / "runs" / cfg.name
    vocab, version = shards_vocab(cfg, workdir)
    model_cfg = resolve_model_config(cfg, vocab)
    padded = cfg.model.allow_padded_vocab and model_cfg.vocab_size > vocab
    if model_cfg.vocab_size != vocab and not padded:
        raise UserError(f"vocabulary mismatch: the model has {model_cfg.vocab_size} tokens, shards {version} "
                        f"were made with a {vocab}-token tokenizer (set model.vocab_from_shards=true for a toy "
                        "model, or use shards of the model's tokenizer)")
    t = cfg.trainer
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    resolve_precision(t.precision, "cpu" if on_cpu else t.accelerator)
    if on_cpu and t.strategy == "fsdp":
        raise UserError("trainer.strategy=fsdp needs GPUs; use ddp on CPU")
    if not on_cpu and not torch.cuda.is_available():
        raise UserError(f"trainer.accelerator={t.accelerator} but no CUDA device is visible; use --set trainer.accelerator=cpu")
    resume_from = resolve_resume(run_dir, resume)
    if resume is None and mode == "fit" and list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds checkpoints: pass --resume to continue that run, or choose "
                        "another --out / name")
    if resume_from is not None:
        meta = verify_checkpoint(resume_from)
        saved = meta.get("model_config")
        if saved != _plain(dataclasses.asdict(model_cfg)):
            raise UserError(f"{resume_from}: the checkpoint's model config differs from this run's; resume with "
                            "the same config")
        if mode == "fit" and meta["global_step"] >= cfg.trainer.max_steps:
            raise UserError(f"{resume_from} is at step {meta['global_step']}, the run stops at "
                            f"trainer.max_steps={cfg.trainer.max_steps}; raise it to train further")
    return RunPlan(cfg, model_cfg, run_dir, workdir, resume_from, version, vocab)


def resolve_precision(requested: str, accelerator: str) -> str:
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if requested == "auto":
        return "bf16-mixed" if gpu and torch.cuda.is_bf16_supported() else "32-true"
    if not gpu and requested != "32-true":
        raise UserError(f"trainer.precision={requested} needs a GPU; use 32-true (or auto) on CPU")
    return requested


def _strategy(cfg: TrainConfig, on_cpu: bool) -> Any:
    t = cfg.trainer
    if t.strategy == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(broadcast_buffers=False, find_unused_parameters=False,
                           process_group_backend="gloo" if on_cpu else None)
    if t.strategy == "fsdp":
        if on_cpu:
            raise UserError("trainer.strategy=fsdp needs GPUs; use ddp on CPU")
        from lightning.pytorch.strategies import FSDPStrategy

        from .gpt2 import GPT2Block
        from .symboliclight import Block

        return FSDPStrategy(auto_wrap_policy={Block, GPT2Block}, sharding_strategy=t.fsdp_sharding,
                            state_dict_type="full", use_orig_params=True, limit_all_gathers=True)
    return "auto"


def build_trainer(cfg: TrainConfig, run_dir: Path, callbacks: list[pl.Callback], limit_val_batches: int | float | None
                  ) -> pl.Trainer:
    t = cfg.trainer
    on_cpu = t.accelerator == "cpu" or (t.accelerator == "auto" and not torch.cuda.is_available())
    precision = resolve_precision(t.precision, "cpu" if on_cpu else t.accelerator)
    val_every = t.val_every_n_steps if t.val_every_n_steps else t.max_steps + 1
    return pl.Trainer(
        accelerator="cpu" if on_cpu else ("gpu" if t.accelerator == "auto" else t.accelerator),
        devices=t.devices, num_nodes=t.num_nodes, strategy=_strategy(cfg, on_cpu), precision=precision,
        max_steps=t.max_steps, max_epochs=-1, accumulate_grad_batches=t.accumulate_grad_batches,
        val_check_interval=val_every * t.accumulate_grad_batches, check_val_every_n_epoch=None,
        limit_val_batches=limit_val_batches, num_sanity_val_steps=0, logger=run_loggers(run_dir),
        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=t.progress_bar,
        enable_model_summary=False, log_every_n_steps=t.log_every_n_steps, plugins=[AtomicCheckpointIO()],
        default_root_dir=str(run_dir), use_distributed_sampler=False,
    )


def _val_batches(dm: ShardsDataModule, world_size: int) -> int | None:
    """With several ranks, every rank runs the same number of validation batches (the smallest
    rank's count), so collective ops inside forward (FSDP) never wait for a rank that finished."""
    if world_size == 1:
        return None  # all of them (Lightning's default; 1.0 would print a notice saying so)
    dm.setup("validate")
    bs = dm.cfg.val_batch_size or dm.cfg.batch_size
    counts = [len(ValWindows(dm.val_streams, dm.cfg.seq_len, bs, r, world_size, dm.cfg.val_max_windows_per_domain))
              for r in range(world_size)]
    return min(counts)


def world_size_of(cfg: TrainConfig) -> int:
    devices = cfg.trainer.devices
    if devices == "auto":
        devices = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    return int(devices) * cfg.trainer.num_nodes


def quiet_lightning() -> None:
    """Silence Lightning's notices that do not apply here (our train loader's length is exact per rank
    and worker; the cloud-logger tip)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*IterableDataset.*has `__len__` defined")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")

    class _NoTips(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "litlogger" not in record.getMessage()

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoTips())


def run_fit(plan: RunPlan, *, report: bool = True) -> dict[str, Any]:
    """Train the planned run to `max_steps`; returns the summary (also written to report.md/json)."""
    quiet_lightning()
    cfg, run_dir = plan.cfg, plan.run_dir
    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.set_float32_matmul_precision(t.matmul_precision)
    run_dir.mkdir(parents=True, exist_ok=True)
    if _is_rank_zero():
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    ckpt = plan.resume_from
    lr_scale: float | None = None
    restarts = 0
    world = world_size_of(cfg)
    while True:
        pl.seed_everything(t.seed, workers=True, verbose=False)
        module = LanguageModelModule(cfg, plan.model_cfg, lr_scale=lr_scale)
        dm = ShardsDataModule(cfg.data, workdir=plan.workdir, expected_vocab_size=plan.shards_vocab)
        guard = LossSpikeGuard(cfg.guard.threshold, cfg.schedule.warmup_steps) if cfg.guard.enabled else None
        sparsity = SparsityMonitor(t.log_every_n_steps, enabled=t.sparsity_logging)
        callbacks: list[pl.Callback] = [NonFiniteGuard(t.max_skipped_steps)]
        callbacks += [guard] if guard else []
        callbacks += [TrainMetrics(t.log_every_n_steps, t.peak_tflops), sparsity,
                      StepCheckpoint(run_dir, t.ckpt_every_n_steps, t.keep_last_k)]
        if t.progress_bar:
            callbacks.append(EssentialsProgressBar(refresh_rate=1))
        elif t.progress_lines:
            callbacks.append(ProgressLines(t.progress_lines))
        trainer = build_trainer(cfg, run_dir, callbacks, _val_batches(dm, world))
        trainer.fit(module, datamodule=dm, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
        if guard is None or guard.triggered is None:
            break
        restarts += 1
        if restarts > cfg.guard.max_restarts:
            raise UserError(f"loss spiked {restarts} times (last at step {guard.triggered['step']}); giving up")
        lr_scale = max(module.lr_scale * cfg.guard.lr_factor, cfg.guard.min_lr_scale)
        ckpts = list_checkpoints(run_dir)
        ckpt = ckpts[-1] if ckpts else None
        event = {**guard.triggered, "new_lr_scale": lr_scale, "resume_from": str(ckpt) if ckpt else None}
        if _is_rank_zero():
            with open(run_dir / "guard_events.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")
        print(f"loss spike at step {event['step']} (loss {event['loss']:.2f}): peak LR scale -> {lr_scale:g}, "
              f"resuming from {event['resume_from'] or 'scratch'}", flush=True)
    if t.val_at_end and module.last_val_step != trainer.global_step:
        trainer.validate(module, datamodule=dm, verbose=False)
    summary = {
        "run_dir": str(run_dir), "arch": plan.model_cfg.arch, "params": module.n_params,
        "steps": trainer.global_step, "tokens": module.tokens_seen, "skipped_steps": module.skipped_steps,
        "lr_scale": module.lr_scale, "spike_restarts": restarts, "flops_per_token": module.flops_per_token(),
        "flops_method": module.flops_method, "shards": plan.shards_version,
        "val": module.last_val, "sparsity_val": sparsity.last_val, "sparsity_train": sparsity.last_train,
    }
    if report and trainer.is_global_zero:
        from .run_report import write_report

        write_report(run_dir, summary)
    return summary


def run_validate(plan: RunPlan) -> dict[str, float]:
    """Validation only (per-domain loss/PPL and sparsity) of the checkpoint being resumed, or of a fresh model."""
    quiet_lightning()
    cfg = plan.cfg
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    module = LanguageModelModule(cfg, plan.model_cfg)
    dm = ShardsDataModule(cfg.data, workdir=plan.workdir, expected_vocab_size=plan.shards_vocab)
    sparsity = SparsityMonitor(cfg.trainer.log_every_n_steps, enabled=True)
    trainer = build_trainer(cfg, plan.run_dir, [sparsity], _val_batches(dm, world_size_of(cfg)))
    trainer.validate(module, datamodule=dm, ckpt_path=str(plan.resume_from) if plan.resume_from else None,
                     verbose=False, weights_only=True)
    return {**module.last_val, **sparsity.last_val}


def _is_rank_zero() -> bool:
    import os

    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0
