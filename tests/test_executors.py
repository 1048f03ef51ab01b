"""Executors: Slurm script generation without a cluster (a recording fake `sbatch`), Ray for real."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from clean_fixtures import english_docs, load, make_corpus, small_corpus
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.executors import ExecutorConfig, RayConfig, SlurmConfig
from symboliclight.pipeline.stages.runner import PipelineSpec, load_stage_config, run_stage

FAKE_SBATCH = """#!/bin/bash
# records its arguments and the submitted script, answers like sbatch does
n=$(($(ls "$SBATCH_LOG" | wc -l) + 1))
mkdir -p "$SBATCH_LOG/$n"
printf '%s\\n' "$@" > "$SBATCH_LOG/$n/args"
for a in "$@"; do [ -f "$a" ] && cp "$a" "$SBATCH_LOG/$n/script"; done
echo "Submitted batch job $((1000 + n))"
"""


def _fake_sbatch(tmp_path: Path, monkeypatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sb = bindir / "sbatch"
    sb.write_text(FAKE_SBATCH)
    sb.chmod(sb.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "sbatch_log"
    log.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_LOG", str(log))
    return log


def _submissions(log: Path) -> list[dict]:
    out = []
    for d in sorted(log.iterdir(), key=lambda p: int(p.name)):
        out.append({"id": str(1000 + int(d.name)), "args": (d / "args").read_text().split("\n")[:-1],
                    "script": (d / "script").read_text() if (d / "script").exists() else ""})
    return out


def test_slurm_arrays_dependencies_and_followup(tmp_path, monkeypatch):
    log = _fake_sbatch(tmp_path, monkeypatch)
    inp = load(small_corpus(tmp_path / "in", n_en=8, n_zh=4, n_code=1))
    clean = get_stage("clean")
    # a two-pipeline stage (like MinHash's chained steps) on the clean stage's own blocks
    two = type(clean)(name="clean", config_cls=clean.config_cls,
                      plan=lambda ctx: [PipelineSpec("first", [ctx.reader(emit_quarantine=False)], tasks=3),
                                        *clean.plan(ctx)])
    ex = ExecutorConfig(kind="slurm", tasks=4, slurm=SlurmConfig(partition="cpu", time="01:00:00",
                                                                   env_command="source /venv/bin/activate"))
    cmd = ["symboliclight", "pipeline", "run", "--input", str(inp.path), "--executor", "slurm"]
    res = run_stage(two, inp, load_stage_config(clean), workdir=tmp_path / "w", executor=ex, resume_command=cmd)
    assert res.status == "submitted"
    subs = _submissions(log)
    arrays = [s for s in subs if "launch_pickled_pipeline" in s["script"]]
    merges = [s for s in subs if "merge_stats" in s["script"]]
    finish = [s for s in subs if "SYMBOLICLIGHT_SLURM_FOLLOWUP" in s["script"]]
    assert len(arrays) == 2 and len(merges) == 2 and len(finish) == 1
    first, second = arrays
    assert "#SBATCH --array=0-2" in first["script"] and "#SBATCH --array=0-3" in second["script"]
    assert "#SBATCH --partition=cpu" in first["script"] and "source /venv/bin/activate" in first["script"]
    assert not any(a.startswith("--dependency") for a in first["args"])
    assert f"--dependency=afterok:{first['id']}" in second["args"]
    assert f"--dependency=afterok:{second['id']}" in finish[0]["args"]
    assert "symboliclight pipeline run --input" in finish[0]["script"]
    # the pickled executors sit where the arrays will load them, with the ranks to run
    dt = res.path / "_datatrove"
    assert json.loads((dt / "first.t3" / "ranks_to_run.json").read_text()) == [0, 1, 2]
    assert json.loads((dt / "clean.t4" / "ranks_to_run.json").read_text()) == [0, 1, 2, 3]
    assert re.search(r"launch_pickled_pipeline \S*clean\.t4/executor\.pik", second["script"])
    assert not (res.path / "manifest.json").exists()
    # the follow-up names the version it finishes: only that stage treats incomplete tasks as failure
    assert f"export SYMBOLICLIGHT_SLURM_FOLLOWUP={res.version}" in finish[0]["script"]
    monkeypatch.setenv("SYMBOLICLIGHT_SLURM_FOLLOWUP", res.version)
    with pytest.raises(UserError, match="Slurm tasks incomplete"):
        run_stage(two, inp, load_stage_config(clean), workdir=tmp_path / "w", executor=ex, resume_command=cmd)
    monkeypatch.setenv("SYMBOLICLIGHT_SLURM_FOLLOWUP", "another-stage-version")
    again = run_stage(two, inp, load_stage_config(clean), workdir=tmp_path / "w", executor=ex, resume_command=cmd)
    assert again.status == "submitted"


def test_ray_local_instance_runs_clean_and_matches_local(tmp_path):
    pytest.importorskip("ray")
    import ray

    en = english_docs()
    inp = load(make_corpus(tmp_path / "in", {"tech-en": [("en", t) for t in en[:80]]}))
    stage = get_stage("clean")
    cfg = load_stage_config(stage)
    local = run_stage(stage, inp, cfg, workdir=tmp_path / "local", executor=ExecutorConfig(tasks=2, workers=1))
    try:
        res = run_stage(stage, inp, cfg, workdir=tmp_path / "ray",
                        executor=ExecutorConfig(kind="ray", tasks=2, ray=RayConfig(num_cpus=2)))
    finally:
        ray.shutdown()
    assert res.status == "done" and res.version == local.version
    for f in local.artifact.manifest["files"]:
        if f["path"].endswith(".jsonl.zst"):
            assert (res.path / f["path"]).read_bytes() == (local.path / f["path"]).read_bytes()
    assert sorted(p.name for p in (res.path / "_datatrove/clean.t2/completions").iterdir()) == ["00000", "00001"]
