"""Checkpoints of a training run: atomic writes, safe loads, keep-newest-k, RNG state, resume lookup.

A checkpoint is Lightning's own dictionary (model, optimiser, LR scheduler, loop counters, the data
module's position under its class name, callback states) plus our `symboliclight` entry (the run
config, the model config, tokens seen, the LR peak scale and every rank's RNG states). Everything
in it is tensors and plain Python values, so it loads with `torch.load(weights_only=True)`: a
checkpoint can never run code. Files are `step-XXXXXXXX.ckpt` in the run directory, written under a
temporary name, fsynced and renamed, so a run killed mid-save (SIGKILL) leaves the previous
checkpoints intact and never a half-written one under the final name.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from symboliclight.pipeline.errors import UserError

CKPT_RE = re.compile(r"^step-(\d{8})\.ckpt$")
OUR_KEY = "symboliclight"


def ckpt_name(step: int) -> str:
    return f"step-{step:08d}.ckpt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoints, oldest first (by step)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := CKPT_RE.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found)]


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """`torch.load(weights_only=True)`; a damaged or unsafe file is one clear `UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError/zip errors for damage
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: corrupted or unsafe checkpoint ({reason[:160]})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"{path}: not a training checkpoint (no state_dict)")
    return ckpt


def verify_checkpoint(path: str | Path) -> dict[str, Any]:
    """Check the zip members' CRCs (any flipped byte) and that it loads with weights_only.

    Returns our metadata entry (config, step); tensors are memory-mapped, so this is cheap even for
    a multi-GB checkpoint.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        raise UserError(f"{path}: corrupted checkpoint ({e})") from None
    if bad is not None:
        raise UserError(f"{path}: corrupted checkpoint (CRC mismatch in {bad})")
    ckpt = load_checkpoint_file(path, mmap=True)
    meta = ckpt.get(OUR_KEY)
    if not isinstance(meta, dict):
        raise UserError(f"{path}: not a symboliclight training checkpoint (no {OUR_KEY!r} entry)")
    return {**meta, "global_step": int(ckpt.get("global_step", -1))}


def resolve_resume(run_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint to resume from: a path, or `auto` = the newest one in `run_dir` (None if none).

    The chosen checkpoint is verified; if it is damaged the error names it and the newest intact
    earlier one, which stays usable (`--resume PATH`).
    """
    if resume is None:
        return None
    if resume != "auto":
        path = Path(resume)
        verify_checkpoint(path)
        return path
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        return None
    newest = ckpts[-1]
    try:
        verify_checkpoint(newest)
    except UserError as e:
        for older in reversed(ckpts[:-1]):
            try:
                verify_checkpoint(older)
            except UserError:
                continue
            raise UserError(f"{e}; the previous checkpoint {older} is intact: resume with --resume {older} "
                            f"(or delete {newest.name})") from None
        raise UserError(f"{e}; no intact earlier checkpoint in {run_dir}") from None
    return newest


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save to a temporary file, fsync, rename; loads always with weights_only=True."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def load_checkpoint(self, path: Any, map_location: Callable | Any = None, weights_only: bool | None = None
                        ) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location=map_location or "cpu")


# --- RNG stream (dropout, z-loss sampling) --------------------------------------------------------
# The training step draws only from torch's generators (CPU, and CUDA on a GPU); Python's `random`
# and NumPy are not used by it (the data module's sampling is counter-based), so the stream is those.

def capture_stream(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_stream(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_streams(trainer: pl.Trainer, mine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's stream state, indexed by global rank (a collective: call it on all ranks)."""
    if trainer.world_size == 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return [mine]
    out: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(out, {k: v.cpu() for k, v in mine.items()})
    return out


# --- the callback ---------------------------------------------------------------------------------

class StepCheckpoint(pl.Callback):
    """Save `step-XXXXXXXX.ckpt` every `every_n_steps` optimiser steps and at the end; keep the newest k.

    Saves happen right after an optimiser step (the accumulation window is complete), so a checkpoint
    never holds half-accumulated gradients. `skip_final` is set by the loss-spike guard: a run stopped
    because its loss exploded must not checkpoint the exploded state.
    """

    def __init__(self, run_dir: str | Path, every_n_steps: int, keep_last_k: int) -> None:
        self.run_dir = Path(run_dir)
        self.every_n_steps = every_n_steps
        self.keep_last_k = keep_last_k
        self.skip_final = False
        self._last_saved = -1

    def _save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step == self._last_saved or step == 0:
            return
        trainer.save_checkpoint(self.run_dir / ckpt_name(step), weights_only=False)  # = full state, not model-only
        self._last_saved = step
        if trainer.is_global_zero and self.keep_last_k > 0:
            for old in list_checkpoints(self.run_dir)[:-self.keep_last_k]:
                old.unlink(missing_ok=True)
        trainer.strategy.barrier("checkpoint-pruned")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_saved = trainer.global_step  # a resumed run does not re-save the step it loaded

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0 and step != self._last_saved:
            self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.skip_final:
            self._save(trainer)
