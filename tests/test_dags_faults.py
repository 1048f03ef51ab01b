"""Faults: `symboliclight run` killed with SIGKILL inside a data stage and again inside training, then
rerun, resumes at the interrupted stage and finishes with the artifacts of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import torch
from dags_fixtures import (
    SYMBOLICLIGHT,
    file_digests,
    manifest,
    offline_env,
    run_in_process,
    statuses,
    tiny_corpus,
    tiny_run_config,
    write_config,
)
from symboliclight.dags.graph import build_graph
from symboliclight.dags.run_config import load_run_config
from symboliclight.model.run_logging import read_metrics

TIMING_FILES = ("report.json",)  # the tokenizer report holds measured encode throughput


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w", encoding="utf-8")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=offline_env(), start_new_session=True)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    """SIGKILL the whole process group (datatrove workers included) as soon as `ready()` holds."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL


def _state_dict(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


# 27 s quiet, ~45 s under load: three runs of the graph (two killed) plus an uninterrupted one
def test_killed_in_clean_and_in_training_resumes_to_identical_artifacts(tmp_path):
    corpus = tiny_corpus(tmp_path / "in")
    cfg = tiny_run_config(corpus, executor={"tasks": 4, "workers": 1},
                          train={"overrides": {"trainer": {"max_steps": 30, "ckpt_every_n_steps": 6,
                                                           "val_every_n_steps": 10}}})
    path = write_config(tmp_path / "run.yaml", cfg)
    reference = {r.stage: r for r in run_in_process(path, tmp_path / "ref")}

    workdir = tmp_path / "w"
    plan = {p.node.name: p for p in build_graph(load_run_config(path), workdir).plan(workdir)}
    cmd = [*SYMBOLICLIGHT, "run", "--config", str(path), "--workdir", str(workdir)]
    first_task = plan["clean"].path / "_datatrove" / "clean.t4" / "completions" / "00000"

    # 1. killed inside the clean stage, after its first datatrove task finished
    proc = _start(cmd, tmp_path / "run1.log")
    _kill_when(proc, first_task.is_file)
    assert plan["corpus"].done and not plan["clean"].done
    task0_mtime = first_task.stat().st_mtime_ns

    # 2. rerun: resumes at clean (its finished task is not redone); killed inside training
    first_ckpt = plan["train"].path / "step-00000006.ckpt"
    proc = _start(cmd, tmp_path / "run2.log")
    _kill_when(proc, first_ckpt.is_file)
    log2 = (tmp_path / "run2.log").read_text(encoding="utf-8")
    assert f"[graph] clean {plan['clean'].version}: running" in log2
    assert "[graph] corpus" in log2 and f"[graph] corpus {plan['corpus'].version}: running" not in log2
    assert first_task.stat().st_mtime_ns == task0_mtime
    assert all(plan[s].done for s in ("clean", "dedup", "balance", "tokenizer", "shards"))
    assert not plan["train"].done

    # 3. rerun to the end: resumes training from its checkpoint
    proc = _start(cmd, tmp_path / "run3.log")
    assert proc.wait(600) == 0, (tmp_path / "run3.log").read_text(encoding="utf-8")[-3000:]
    log3 = (tmp_path / "run3.log").read_text(encoding="utf-8")
    for s in ("corpus", "clean", "dedup", "balance", "tokenizer", "shards"):
        assert f"[graph] {s} {plan[s].version}: done already, skipped" in log3
    assert f"train: resuming {plan['train'].path.name} from step-" in log3

    # identical to the uninterrupted run
    for s in ("clean", "dedup", "balance", "tokenizer", "shards"):
        assert reference[s].version == plan[s].version
        assert file_digests(plan[s].path, TIMING_FILES) == file_digests(Path(reference[s].path), TIMING_FILES), s
    ref_run, run = Path(reference["train"].path), plan["train"].path
    assert manifest(run)["final_checkpoint"] == manifest(ref_run)["final_checkpoint"] == "step-00000030.ckpt"
    a, b = _state_dict(run / "step-00000030.ckpt"), _state_dict(ref_run / "step-00000030.ckpt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the logged train loss (a mean over log_every_n_steps=2 steps; checkpoints every 6 keep the windows
    # aligned across the resume) and the validation loss are the uninterrupted run's, step for step
    for key in ("train/loss", "val/loss"):
        assert read_metrics(run)[key] == read_metrics(ref_run)[key], key
    assert manifest(plan["eval"].path)["counts"] == manifest(Path(reference["eval"].path))["counts"]

    # 4. a run killed after its final checkpoint, before the run's manifest: the rerun validates and
    # reports that checkpoint instead of training again
    final = (run / "step-00000030.ckpt").read_bytes()
    (run / "manifest.json").unlink()
    records = statuses(run_in_process(path, workdir))
    assert records["train"] == "done" and records["eval"] == "cached"
    assert (run / "step-00000030.ckpt").read_bytes() == final
    assert manifest(run)["final_checkpoint"] == "step-00000030.ckpt" and (run / "report.md").is_file()
