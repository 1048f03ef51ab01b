"""Multi-process and crash tests through the real `symboliclight train` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from symboliclight.model.checkpointing import list_checkpoints
from train_fixtures import SMALL_RUN, build_train_shards, step_losses


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return build_train_shards(tmp_path_factory.mktemp("ddp-data"))


def _cmd(shards: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "symboliclight.dags.cli", "train", "--config", "tiny-cpu", "--shards", str(shards),
            "--out", str(out), "--set", *SMALL_RUN, *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def test_ddp_two_processes_gloo(shards, tmp_path):
    out = tmp_path / "ddp"
    proc = subprocess.run(_cmd(shards, out, "trainer.devices=2", "trainer.strategy=ddp", "trainer.max_steps=3",
                               "trainer.val_every_n_steps=0", "trainer.ckpt_every_n_steps=3"),
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(out / "step-00000003.ckpt", weights_only=True, map_location="cpu")
    meta = ckpt["symboliclight"]
    assert meta["world_size"] == 2 and len(meta["rng"]) == 2
    assert meta["tokens_seen"] == 3 * 4 * 32 * 2  # both ranks' tokens
    assert ckpt["ShardsDataModule"]["windows_consumed"] == 3 * 4 and ckpt["ShardsDataModule"]["world_size"] == 2
    assert sorted(step_losses(out)) == [1, 2, 3]
    assert "val/loss" in (out / "metrics.csv").read_text()  # the end-of-run validation, reduced over ranks


def test_sigkilled_run_resumes_from_last_checkpoint(shards, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "killed"
    common = ("trainer.max_steps=10", "trainer.ckpt_every_n_steps=3", "trainer.val_every_n_steps=0",
              "schedule.decay_steps=10")
    assert subprocess.run(_cmd(shards, ref, *common), env=_env(), capture_output=True, timeout=600).returncode == 0
    proc = subprocess.Popen(_cmd(shards, out, *common), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (out / "step-00000006.ckpt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    kept = [p.name for p in list_checkpoints(out)]
    assert "step-00000006.ckpt" in kept and not any(p.name.startswith(".") for p in out.iterdir() if p.suffix == ".ckpt")
    resumed = subprocess.run(_cmd(shards, out, *common, ) + ["--resume"], env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = step_losses(ref), step_losses(out)
    assert sorted(b) == list(range(1, 11))
    assert all(a[s] == b[s] for s in range(1, 11))
