"""Training callbacks: throughput and MFU, sparsity accounting, and the two loss guards.

What is logged and how it is defined:
- `perf/tokens_per_s`: tokens of all ranks per second of wall time over the logging window;
  `perf/step_time_s`: wall time per optimiser step; `perf/data_wait_share`: the share of that time
  spent between the end of one batch and the start of the next (waiting for the loader, plus
  Lightning's own per-batch work); `perf/mfu`: model FLOPs per second divided by the device's
  *dense* peak at the run's precision, with the peak logged alongside (`perf/peak_tflops`). Model
  FLOPs per token are measured once by running a forward and backward of the network on the meta
  device under `torch.utils.flop_counter` (so they are the FLOPs this implementation executes,
  masked attention included); without a known peak (CPU, an unlisted GPU, and no
  `trainer.peak_tflops`), MFU is not logged.
- sparsity (spec §5): per layer and site 1 − ones/elements over the window's training batches
  (`sparsity/L{layer}/{site}`, layer 0 = encoder); per site pooled over layers; `sparsity/global` =
  the element-weighted pool of encoder + block-output spikes (the headline); dead and always-on
  fractions = the share of neurons (layer, site, channel) that never fired, or fired at every
  element, over the window. The same on the validation batches under `val/sparsity/...`.
- guards: a non-finite loss or gradient norm on any rank skips the optimiser step (gradients are
  dropped before `optimizer.step`, so nothing non-finite reaches the optimiser); after warmup a
  loss above the spike threshold on any rank stops the run so the driver reloads the newest
  checkpoint with a lower peak LR (spec §6.1).
"""

from __future__ import annotations

import math
import resource
import sys
import time
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from symboliclight.pipeline.errors import UserError

from .sparsity import HEADLINE_SITES, SparsityMeter

if TYPE_CHECKING:
    from .train import LanguageModelModule

# Dense (no 2:4 sparsity) per-device peak TFLOPS by device-name fragment, most specific first.
# Sources: NVIDIA datasheets (dense tensor-core figures). fp32 means non-tensor-core FP32.
DENSE_PEAK_TFLOPS: list[tuple[str, dict[str, float]]] = [
    ("h200", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("h100 pcie", {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.2}),
    ("h100 nvl", {"bf16": 835.0, "fp16": 835.0, "tf32": 417.5, "fp32": 60.0}),
    ("h100", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("h800", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("b200", {"bf16": 2250.0, "fp16": 2250.0, "tf32": 1100.0, "fp32": 75.0}),
    ("a100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("a800", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("l40s", {"bf16": 362.1, "fp16": 362.1, "tf32": 183.0, "fp32": 91.6}),
    ("l4", {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    ("a10g", {"bf16": 70.0, "fp16": 70.0, "tf32": 35.0, "fp32": 31.2}),
    ("a10", {"bf16": 125.0, "fp16": 125.0, "tf32": 62.5, "fp32": 31.2}),
    ("v100", {"fp16": 125.0, "fp32": 15.7}),
    ("t4", {"fp16": 65.0, "fp32": 8.1}),
]


def precision_kind(precision: str) -> str:
    if precision.startswith("bf16"):
        return "bf16"
    if precision.startswith("16"):
        return "fp16"
    if torch.cuda.is_available() and torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    return "fp32"


def device_peak_flops(device: torch.device, precision: str, override_tflops: float | None) -> tuple[float, str] | None:
    """(peak FLOP/s per device, what it is) or None when unknown."""
    if override_tflops:
        return override_tflops * 1e12, "configured"
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    kind = precision_kind(precision)
    for fragment, peaks in DENSE_PEAK_TFLOPS:
        if fragment in name:
            if kind in peaks:
                return peaks[kind] * 1e12, f"{fragment} {kind} dense"
            return None
    return None


def measure_flops_per_token(build: Any, seq_len: int) -> float | None:
    """Forward + backward FLOPs per token of the network built by `build()` on the meta device
    (None if some op of the network cannot run there)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.device("meta"):
            net = build()
            idx = torch.zeros(1, seq_len, dtype=torch.long)
        counter = FlopCounterMode(display=False)
        with counter:
            out = net(idx, idx)
            out.loss.backward()
        return counter.get_total_flops() / seq_len
    except Exception:
        return None


def analytic_flops_per_token(net: torch.nn.Module, n_layers: int, width: int, attended: int) -> float:
    """The PaLM/nanoGPT estimate: 6 × (weights used in matmuls) + 12 · layers · width · keys attended.

    Matmul weights are every nn.Linear weight (a tied head counts: it is a matmul); embedding
    lookups are not. `attended` is the keys a query sees: the sequence for GPT-2, at most the local
    window plus the anchors for SymbolicLight (0 without its attention path). The decay path's
    recurrence and the elementwise spike ops are left out (small next to the projections).
    """
    mm = sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Linear))
    return 6.0 * mm + 12.0 * n_layers * width * attended


def log_metrics(trainer: pl.Trainer, metrics: dict[str, float]) -> None:
    """Write to every logger at the current optimiser step (loggers write on rank 0 only)."""
    clean = {k: float(v) for k, v in metrics.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
    if clean:
        for logger in trainer.loggers:
            logger.log_metrics(clean, step=trainer.global_step)


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory of this process: CUDA allocator peak on a GPU, max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


# --- step metrics and throughput -----------------------------------------------------------------

class TrainMetrics(pl.Callback):
    """Every `every_n_steps` optimiser steps: loss, LR, grad norm, tokens, throughput, MFU, memory.

    Timing syncs the device only at logging steps, so it does not slow the steps in between.
    """

    def __init__(self, every_n_steps: int, peak_tflops: float | None = None) -> None:
        self.every = every_n_steps
        self.peak_override = peak_tflops
        self.flops_per_token: float | None = None
        self.peak: tuple[float, str] | None = None
        self._reset_window(time.perf_counter(), 0)
        self._last_batch_end: float | None = None
        self._seen_step = 0

    def _reset_window(self, now: float, tokens: int) -> None:
        self._t0 = now
        self._tokens0 = tokens
        self._wait = 0.0
        self._steps = 0
        self._losses: list[float] = []
        self._norms: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        """The open logging window's step losses and gradient norms: a run resumed inside a window
        logs the mean an uninterrupted run logs. (Throughput restarts its clock: wall time is not
        resumable.)"""
        return {"losses": list(self._losses), "norms": list(self._norms)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict  # applied in on_train_start, after the window is opened

    def on_train_start(self, trainer: pl.Trainer, pl_module: LanguageModelModule) -> None:
        self.peak = device_peak_flops(pl_module.device, str(trainer.precision), self.peak_override)
        self.flops_per_token = pl_module.flops_per_token()
        self._seen_step = trainer.global_step
        self._reset_window(time.perf_counter(), pl_module.tokens_seen)
        restored, self._restored = getattr(self, "_restored", None), None
        if restored:
            self._losses, self._norms = list(restored.get("losses", [])), list(restored.get("norms", []))
        self._last_batch_end = None
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: LanguageModelModule, batch: Any,
                             batch_idx: int) -> None:
        now = time.perf_counter()
        if self._last_batch_end is not None:
            self._wait += now - self._last_batch_end

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._val_t0 = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Validation time is not training time: move the window start forward by it.
        self._t0 += time.perf_counter() - self._val_t0
        self._last_batch_end = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: LanguageModelModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._last_batch_end = time.perf_counter()
        step = trainer.global_step
        if step == self._seen_step:
            return  # inside an accumulation window
        self._seen_step = step
        self._steps += 1
        stats = pl_module.last_step
        if stats.get("loss") is not None:
            self._losses.append(stats["loss"])
        if stats.get("grad_norm") is not None and math.isfinite(stats["grad_norm"]):
            self._norms.append(stats["grad_norm"])
        if step % self.every and step != trainer.max_steps:
            return
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        now = time.perf_counter()
        elapsed = max(now - self._t0, 1e-9)
        tokens = pl_module.tokens_seen - self._tokens0
        tps = tokens / elapsed
        loss = sum(self._losses) / len(self._losses) if self._losses else float("nan")
        m: dict[str, Any] = {
            "train/loss": loss,
            "train/ppl": math.exp(min(loss, 20.0)) if math.isfinite(loss) else float("nan"),
            "train/lr": stats.get("lr"),
            "train/grad_norm": self._norms[-1] if self._norms else float("nan"),
            "train/grad_norm_mean": sum(self._norms) / len(self._norms) if self._norms else float("nan"),
            "train/tokens": pl_module.tokens_seen,
            "train/skipped_steps": pl_module.skipped_steps,
            "train/lr_scale": pl_module.lr_scale,
            "perf/tokens_per_s": tps,
            "perf/tokens_per_s_per_device": tps / trainer.world_size,
            "perf/step_time_s": elapsed / max(self._steps, 1),
            "perf/data_wait_share": min(1.0, self._wait / elapsed),
            "perf/peak_mem_gib": peak_memory_gib(pl_module.device),
        }
        if self.flops_per_token:
            achieved = self.flops_per_token * tps / trainer.world_size
            m["perf/model_tflops_per_s_per_device"] = achieved / 1e12
            if self.peak:
                m["perf/mfu"] = achieved / self.peak[0]
                m["perf/peak_tflops"] = self.peak[0] / 1e12
        pl_module.progress.update({"loss": round(loss, 4), "lr": f"{stats.get('lr', 0):.2e}", "tok/s": int(tps)})
        log_metrics(trainer, m)
        if step % self.every == 0:  # a run's final, partial window stays open: a longer resume continues it
            self._reset_window(now, pl_module.tokens_seen)


# --- sparsity ------------------------------------------------------------------------------------

class NeuronSparsityMeter(SparsityMeter):
    """The model's spike counter, plus ones per channel for each (layer, site): dead/always-on neurons.

    Counts stay on the device (float64, exact for integers below 2^53); nothing is read back until
    `summary`/`neuron_summary`, i.e. only at logging steps.
    """

    def __init__(self, n_layers: int) -> None:
        super().__init__(n_layers)
        self._per_channel: dict[tuple[int, str], torch.Tensor] = {}
        self._rows: dict[tuple[int, str], int] = {}

    def reset(self) -> None:
        super().reset()
        self._per_channel = {}
        self._rows = {}

    def record(self, layer: int, site: str, spikes: torch.Tensor) -> None:
        """Per-channel sums, and the site's total ones as their sum (one reduction per tensor).

        Replaces the base class's `count_nonzero` (about 30x slower than a float sum on CPU) while
        keeping its counters (`_ones`, `_elements`), so `summary()` is unchanged. A float32 sum of
        0/1 values is exact while a channel has fewer than 2^24 rows per call.
        """
        if not self.enabled:
            return
        key = (layer, site)
        i = self._index[key]
        with torch.no_grad():
            flat = spikes.reshape(-1, spikes.shape[-1])
            per_channel = flat.sum(0) if flat.dtype == torch.bool else flat.sum(0, dtype=torch.float32)
            per_channel = per_channel.to(torch.float64)
            if self._ones is None or self._ones.device != spikes.device:
                self._ones = torch.zeros(len(self.keys), dtype=torch.float64, device=spikes.device)
            self._ones[i] += per_channel.sum()
            if key in self._per_channel:
                self._per_channel[key] += per_channel
            else:
                self._per_channel[key] = per_channel
        self._elements[i] += spikes.numel()
        self._rows[key] = self._rows.get(key, 0) + flat.shape[0]

    def state(self) -> dict[str, Any]:
        """The counts so far, as plain lists and CPU tensors (loadable with `weights_only`)."""
        ones = self._ones
        return {"ones": [] if ones is None else [float(v) for v in ones.tolist()],
                "elements": list(self._elements),
                "per_channel": {f"{layer}/{site}": c.detach().cpu() for (layer, site), c in self._per_channel.items()},
                "rows": {f"{layer}/{site}": r for (layer, site), r in self._rows.items()}}

    def load_state(self, state: dict[str, Any], device: torch.device) -> None:
        """Continue counting from `state` (see `state`) on `device`."""
        def key(name: str) -> tuple[int, str]:
            layer, site = name.split("/", 1)
            return int(layer), site

        self.reset()
        if state.get("ones"):
            self._ones = torch.tensor(state["ones"], dtype=torch.float64, device=device)
        self._elements = [int(e) for e in state.get("elements", self._elements)]
        self._per_channel = {key(k): v.to(device, torch.float64) for k, v in state.get("per_channel", {}).items()}
        self._rows = {key(k): int(r) for k, r in state.get("rows", {}).items()}

    def neuron_summary(self) -> dict[str, float]:
        """Dead / always-on shares of neurons over everything recorded, overall and per site."""
        dead: dict[str, int] = {}
        always: dict[str, int] = {}
        total: dict[str, int] = {}
        for (_, site), counts in self._per_channel.items():
            c = counts.cpu()
            rows = self._rows[(_, site)]
            dead[site] = dead.get(site, 0) + int((c == 0).sum())
            always[site] = always.get(site, 0) + int((c == rows).sum())
            total[site] = total.get(site, 0) + c.numel()
        out: dict[str, float] = {}
        if total:
            n = sum(total.values())
            out["dead_frac"] = sum(dead.values()) / n
            out["always_on_frac"] = sum(always.values()) / n
            for site in total:
                out[f"dead_frac/{site}"] = dead[site] / total[site]
                out[f"always_on_frac/{site}"] = always[site] / total[site]
        return out


def sparsity_metrics(meter: NeuronSparsityMeter, prefix: str) -> dict[str, float]:
    s = meter.summary()
    m = {f"{prefix}/global": s["headline"], f"{prefix}/all_sites": s["all_sites"]}
    for site, value in s["per_site"].items():
        m[f"{prefix}/site/{site}"] = value
    for row in s["per_layer"]:
        m[f"{prefix}/L{row['layer']}/{row['site']}"] = row["sparsity"]
    for k, v in meter.neuron_summary().items():
        m[f"{prefix}/{k}"] = v
    return m


def _reduce_meter(trainer: pl.Trainer, meter: NeuronSparsityMeter) -> None:
    """Sum every rank's counts into every rank's meter (a collective), so rank 0 logs the global pool."""
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return
    device = meter._ones.device if meter._ones is not None else torch.device("cpu")
    if meter._ones is None:
        meter._ones = torch.zeros(len(meter.keys), dtype=torch.float64, device=device)
    elements = torch.tensor(meter._elements, dtype=torch.float64, device=device)
    keys = sorted(meter._per_channel)
    flat = [meter._ones, elements] + [meter._per_channel[k] for k in keys]
    rows = torch.tensor([meter._rows[k] for k in keys], dtype=torch.float64, device=device)
    packed = torch.cat([t.reshape(-1).to(device) for t in flat] + [rows])
    torch.distributed.all_reduce(packed)
    n = len(meter.keys)
    meter._ones = packed[:n]
    meter._elements = [int(e) for e in packed[n:2 * n].tolist()]
    offset = 2 * n
    for k in keys:
        width = meter._per_channel[k].numel()
        meter._per_channel[k] = packed[offset:offset + width]
        offset += width
    for k, r in zip(keys, packed[offset:].tolist(), strict=True):
        meter._rows[k] = int(r)


class SparsityMonitor(pl.Callback):
    """Installs a `NeuronSparsityMeter` in the network and logs it every `every_n_steps` steps.

    Training and validation count into separate meters, so held-out sparsity is reported on its own.
    With `enabled` false the network's meter is switched off (no counting at all), which is the
    "sparsity logging off" arm of the benchmark. Networks without spike sites (GPT-2) are ignored.
    """

    def __init__(self, every_n_steps: int, enabled: bool = True) -> None:
        self.every = every_n_steps
        self.enabled = enabled
        self.train_meter: NeuronSparsityMeter | None = None
        self.val_meter: NeuronSparsityMeter | None = None
        self._seen_step = 0
        self.last_train: dict[str, float] = {}
        self.last_val: dict[str, float] = {}

    @staticmethod
    def _net(pl_module: LanguageModelModule) -> Any:
        net = pl_module.net
        return net if isinstance(getattr(net, "sparsity", None), SparsityMeter) else None

    def setup(self, trainer: pl.Trainer, pl_module: LanguageModelModule, stage: str) -> None:
        net = self._net(pl_module)
        if net is None:
            return
        if self.train_meter is None:
            self.train_meter = NeuronSparsityMeter(net.sparsity.n_layers)
            self.val_meter = NeuronSparsityMeter(net.sparsity.n_layers)
        self.train_meter.enabled = self.enabled
        self.val_meter.enabled = self.enabled
        net.sparsity = self.train_meter

    def state_dict(self) -> dict[str, Any]:
        """The open logging window's training counts: a single-process run resumed inside a window
        logs the sparsity an uninterrupted run logs. (With several ranks each rank holds only its
        share until the logging step's all-reduce, so there the window restarts at a resume.)"""
        return {"train": self.train_meter.state()} if self.train_meter is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict.get("train")  # applied in on_train_start, on the module's device

    def on_train_start(self, trainer: pl.Trainer, pl_module: LanguageModelModule) -> None:
        self._seen_step = trainer.global_step
        restored, self._restored = getattr(self, "_restored", None), None
        if self.train_meter is not None:
            if restored and trainer.world_size == 1:
                self.train_meter.load_state(restored, pl_module.device)
            else:
                self.train_meter.reset()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: LanguageModelModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if self.train_meter is None or not self.enabled or step == self._seen_step:
            return
        self._seen_step = step
        if step % self.every and step != trainer.max_steps:
            return
        _reduce_meter(trainer, self.train_meter)
        m = sparsity_metrics(self.train_meter, "sparsity")
        self.last_train = m
        pl_module.progress["sparsity"] = round(m["sparsity/global"], 4)
        log_metrics(trainer, m)
        # a single process's final, partial window stays open (a longer resume continues it); the
        # all-reduce above put every rank's counts into each rank's meter, so with ranks it closes
        if step % self.every == 0 or trainer.world_size > 1:
            self.train_meter.reset()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: LanguageModelModule) -> None:
        net = self._net(pl_module)
        if net is not None and self.val_meter is not None:
            self.val_meter.reset()
            net.sparsity = self.val_meter

    def on_validation_end(self, trainer: pl.Trainer, pl_module: LanguageModelModule) -> None:
        net = self._net(pl_module)
        if net is None or self.val_meter is None:
            return
        net.sparsity = self.train_meter
        if not self.enabled:
            return
        _reduce_meter(trainer, self.val_meter)
        self.last_val = sparsity_metrics(self.val_meter, "val/sparsity")
        log_metrics(trainer, self.last_val)


# --- guards --------------------------------------------------------------------------------------

def drop_gradients(trainer: pl.Trainer) -> None:
    """Set every gradient to None: `optimizer.step` then changes nothing (AdamW skips grad-less params)."""
    for p in trainer.model.parameters():
        p.grad = None


class NonFiniteGuard(pl.Callback):
    """A non-finite loss on any rank: the step is skipped before the optimiser sees it.

    The gradient-norm half of the check runs in the module's clipping hook (the norm is computed
    there); both count into `pl_module.skipped_steps`. `max_consecutive` skipped steps in a row stop
    the run with one clear error (the LR or data is then the problem, not a rare bad batch).
    """

    def __init__(self, max_consecutive: int) -> None:
        self.max_consecutive = max_consecutive

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: LanguageModelModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        stats = pl_module.window_stats()
        if stats["nonfinite"]:
            drop_gradients(trainer)
            pl_module.mark_skipped("non-finite loss")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: LanguageModelModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.max_consecutive and pl_module.consecutive_skips >= self.max_consecutive:
            raise UserError(f"step {trainer.global_step}: {pl_module.consecutive_skips} consecutive steps had a "
                            f"non-finite loss or gradient ({pl_module.last_skip_reason}); lower optim.lr or check "
                            "the data")


class LossSpikeGuard(pl.Callback):
    """After warmup, a window loss above `threshold` on any rank: skip the step and stop the run.

    The driver (`train.run_fit`) sees `triggered`, lowers the peak LR scale and resumes from the
    newest checkpoint, which holds the model, optimiser, data position and RNG from before the spike.
    """

    def __init__(self, threshold: float, warmup_steps: int) -> None:
        self.threshold = threshold
        self.warmup_steps = warmup_steps
        self.triggered: dict[str, float] | None = None

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: LanguageModelModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        stats = pl_module.window_stats()
        if trainer.global_step < self.warmup_steps or stats["nonfinite"] or not stats["spike"]:
            return
        drop_gradients(trainer)
        pl_module.mark_skipped("loss spike", consecutive=False)
        self.triggered = {"step": trainer.global_step, "loss": stats["max_loss"]}
        trainer.should_stop = True
        for cb in trainer.callbacks:
            if hasattr(cb, "skip_final"):
                cb.skip_final = True


class ProgressLines(pl.Callback):
    """Without the tqdm bar (logs, batch jobs): `lines` one-line reports spread over the run, each
    with the step, the module's essentials (loss, lr, tok/s, sparsity) and the time left."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self._t0 = 0.0
        self._step0 = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: LanguageModelModule) -> None:
        self._t0, self._step0 = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: LanguageModelModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step, total = trainer.global_step, trainer.max_steps
        every = max(1, -(-total // self.lines))
        if step == getattr(self, "_last", None) or (step % every and step != total) or not trainer.is_global_zero:
            return
        self._last = step
        done = step - self._step0
        left = (time.perf_counter() - self._t0) / done * (total - step) if done > 0 else float("nan")
        info = "  ".join(f"{k} {v}" for k, v in getattr(pl_module, "progress", {}).items()) or "(not logged yet)"
        eta = f"{int(left // 60)}m{int(left % 60):02d}s" if math.isfinite(left) else "?"
        print(f"train: step {step}/{total} ({step / total:.0%})  {info}  eta {eta}", file=sys.stderr, flush=True)


class EssentialsProgressBar(TQDMProgressBar):
    """The tqdm bar with the essentials the module gathers (loss, lr, tok/s, sparsity)."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        items.update(getattr(pl_module, "progress", {}))
        return items


__all__ = ["HEADLINE_SITES", "DENSE_PEAK_TFLOPS", "TrainMetrics", "SparsityMonitor", "NonFiniteGuard",
           "LossSpikeGuard", "EssentialsProgressBar", "ProgressLines", "NeuronSparsityMeter", "device_peak_flops",
           "measure_flops_per_token", "log_metrics"]
