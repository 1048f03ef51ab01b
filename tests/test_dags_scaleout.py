"""The graph on scale-out engines: Slurm submission scripts and their afterok chain (a recording fake
`sbatch` on PATH, no cluster), and the data stages through Ray on a local instance (2 CPUs)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from dags_fixtures import (
    file_digests,
    run_in_process,
    shared_tiny_run,
    statuses,
    tiny_run_config,
    write_config,
)
from symboliclight.dags.cli import main

FAKE_SBATCH = """#!/bin/bash
# records its arguments and the submitted script, answers like sbatch does
n=$(($(ls "$SBATCH_LOG" | wc -l) + 1))
mkdir -p "$SBATCH_LOG/$n"
printf '%s\\n' "$@" > "$SBATCH_LOG/$n/args"
for a in "$@"; do [ -f "$a" ] && cp "$a" "$SBATCH_LOG/$n/script"; done
echo "Submitted batch job $((1000 + n))"
"""


@pytest.fixture
def sbatch_log(tmp_path, monkeypatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sb = bindir / "sbatch"
    sb.write_text(FAKE_SBATCH)
    sb.chmod(sb.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "sbatch_log"
    log.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_LOG", str(log))
    monkeypatch.delenv("SYMBOLICLIGHT_SLURM_FOLLOWUP", raising=False)
    return log


def submissions(log: Path) -> list[dict]:
    out = []
    for d in sorted(log.iterdir(), key=lambda p: int(p.name)):
        args = (d / "args").read_text().split("\n")[:-1]
        deps = [a.split(":", 1)[1] for a in args if a.startswith("--dependency=afterok:")]
        out.append({"id": str(1000 + int(d.name)), "after": deps[0] if deps else None,
                    "script": (d / "script").read_text() if (d / "script").exists() else ""})
    return out


SLURM = {"kind": "slurm", "tasks": 4, "slurm": {"partition": "cpu", "env_command": "source /venv/bin/activate",
                                                 "job_name": "sl"}}


@pytest.fixture(scope="module")
def data_done(tmp_path_factory):
    """A tiny corpus taken through the graph locally up to the tokenizer (once per session)."""
    return shared_tiny_run(tmp_path_factory)


def test_slurm_data_stage_arrays_then_graph_followup(tmp_path, sbatch_log, data_done):
    cfg = write_config(tmp_path / "slurm.yaml", tiny_run_config(data_done["corpus"], executor=SLURM))
    workdir = tmp_path / "w"
    assert main(["run", "--config", str(cfg), "--workdir", str(workdir), "--executor", "slurm"]) == 0
    subs = submissions(sbatch_log)
    arrays = [s for s in subs if "launch_pickled_pipeline" in s["script"]]
    finish = [s for s in subs if "SYMBOLICLIGHT_SLURM_FOLLOWUP" in s["script"]]
    # clean is one datatrove pipeline: one array of 4 tasks, then the graph command again after it
    assert len(arrays) == 1 and "#SBATCH --array=0-3" in arrays[0]["script"]
    assert "source /venv/bin/activate" in arrays[0]["script"] and arrays[0]["after"] is None
    assert len(finish) == 1 and finish[0]["after"] == arrays[0]["id"]
    cmd = finish[0]["script"].strip().splitlines()[-1]
    assert "-m symboliclight.dags.cli run" in cmd and "--executor slurm" in cmd
    assert f"--workdir {workdir.resolve()}" in cmd and f"--config {cfg.resolve()}" in cmd
    clean_dir = workdir / "corpus" / data_done["records"][1].version
    assert clean_dir.is_dir() and not (clean_dir / "manifest.json").exists()


def test_slurm_python_stages_chain_with_multinode_training(tmp_path, sbatch_log, data_done):
    train = {"overrides": {"trainer": {"num_nodes": 2, "devices": 8, "accelerator": "gpu", "strategy": "fsdp"}}}
    jobs = {"default": {"cpus_per_task": 2, "mem_gb": 8, "time": "01:00:00"},
            "train": {"cpus_per_task": 12, "mem_gb": 200, "time": "48:00:00", "partition": "gpu",
                      "sbatch_args": {"exclusive": ""}}}
    # another vocabulary: the chain starts at the tokenizer (the data stages are finished)
    cfg = write_config(tmp_path / "slurm.yaml", tiny_run_config(data_done["corpus"], executor=SLURM, train=train,
                                                                slurm_jobs=jobs,
                                                                tokenizer={"overrides": {"vocab_size": 410}}))
    workdir = data_done["workdir"]
    assert main(["run", "--config", str(cfg), "--workdir", str(workdir), "--executor", "slurm"]) == 0
    subs = submissions(sbatch_log)
    nodes = [re.search(r"--node (\w+)$", s["script"].strip().splitlines()[-1]).group(1) for s in subs]
    assert nodes == ["tokenizer", "shards", "train", "eval"]
    # a chain: each job starts only after the previous one succeeded
    assert subs[0]["after"] is None
    assert [s["after"] for s in subs[1:]] == [s["id"] for s in subs[:-1]]
    tok, _, tr, ev = (s["script"] for s in subs)
    assert "#SBATCH --nodes=1" in tok and "#SBATCH --cpus-per-task=2" in tok and "#SBATCH --partition=cpu" in tok
    assert "srun" not in tok and "source /venv/bin/activate" in tok
    # training: Lightning's layout (num_nodes x devices) as Slurm's, one task per GPU, launched by srun
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --partition=gpu", "#SBATCH --mem=200G", "#SBATCH --time=48:00:00", "#SBATCH --exclusive="):
        assert line in tr
    assert tr.strip().splitlines()[-1].startswith("srun ")
    assert "--executor slurm" in ev and "srun" not in ev
    logs = workdir.resolve() / "slurm" / "logs"
    assert logs.is_dir() and all(f"#SBATCH --output={logs}/" in s["script"] for s in subs)


def test_slurm_sample_job_then_graph_driver(tmp_path, sbatch_log):
    cfg = write_config(tmp_path / "slurm.yaml", tiny_run_config(None, corpus={"size_mb": 0.2}, executor=SLURM))
    assert main(["run", "--config", str(cfg), "--workdir", str(tmp_path / "w"), "--executor", "slurm"]) == 0
    subs = submissions(sbatch_log)
    assert len(subs) == 2
    assert subs[0]["script"].strip().endswith("--node corpus") and subs[0]["after"] is None
    # the data stages cannot be planned before their input exists: the graph command runs again
    last = subs[1]["script"].strip().splitlines()[-1]
    assert subs[1]["after"] == subs[0]["id"] and "--node" not in last and last.endswith("--executor slurm")
    assert not (tmp_path / "w" / "corpus").exists()


# 17 s on a quiet 2-core machine, ~75 s under load (Ray start-up plus three stages)
def test_ray_local_instance_runs_the_data_stages_like_local(tmp_path, data_done):
    ray = pytest.importorskip("ray")
    ray_exec = {"kind": "ray", "tasks": 2, "ray": {"num_cpus": 2}}
    cfg = write_config(tmp_path / "ray.yaml", tiny_run_config(data_done["corpus"], executor=ray_exec))
    try:
        records = run_in_process(cfg, tmp_path / "w", until="balance")
    finally:
        ray.shutdown()
    assert statuses(records) == {"corpus": "cached", "clean": "done", "dedup": "done", "balance": "done"}
    for got, local in zip(records[1:], data_done["records"][1:4], strict=True):
        assert got.version == local.version
        assert file_digests(Path(got.path), skip=("funnel.png",)) == file_digests(Path(local.path), skip=("funnel.png",))
        tasks = Path(got.path) / "_datatrove"
        assert any(tasks.glob("*/completions/00001"))
