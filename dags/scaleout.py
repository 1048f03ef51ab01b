"""The graph on a Slurm cluster: chained sbatch jobs for the stages that are not datatrove pipelines.

With `executor.kind: slurm`, `symboliclight run` advances the graph as far as it can from where it
is started (a login node) and leaves the rest to queued jobs, each started only after the previous
one succeeded (`--dependency=afterok`):

* a data stage (clean, dedup, balance) is submitted by the stage runner as datatrove job arrays
  plus a follow-up job that reruns this same `symboliclight run` command; that rerun finishes the
  stage (merge + manifest) and submits whatever comes next;
* a run of other stages (corpus sample, tokenizer, shards, train, eval) is submitted here as one
  job per stage running `symboliclight run --node STAGE`, with that stage's resources from
  `slurm_jobs` in the run config; when a data stage follows, a last job reruns the whole command.

Training runs on `trainer.num_nodes` nodes with `trainer.devices` tasks per node under `srun`, which
is how Lightning's DDP/FSDP finds its ranks on Slurm (SLURMEnvironment). Every job reruns the same
graph, so a failed job is retried by submitting the command again: finished versions are skipped.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from symboliclight.pipeline.errors import UserError

from .graph import Graph, Planned
from .run_config import SlurmJob

SLURM_DIR = "slurm"


def chain_for(plan: list[Planned], selected: list[str], start: str) -> tuple[list[Planned], bool]:
    """The unfinished non-datatrove nodes from `start` up to the next data stage, and whether a data
    stage follows (then the graph command must run again after the chain)."""
    names = [p.node.name for p in plan if p.node.name in selected]
    by_name = {p.node.name: p for p in plan}
    chain: list[Planned] = []
    for name in names[names.index(start):]:
        p = by_name[name]
        if p.done:
            continue
        if p.node.datatrove:
            return chain, True
        chain.append(p)
    return chain, False


def job_shape(graph: Graph, p: Planned) -> tuple[SlurmJob, int, int, int]:
    """(resources, nodes, tasks per node, GPUs per node) of one node's job. Training takes its layout
    from the train config (`trainer.num_nodes` x `trainer.devices`), so Lightning and Slurm agree."""
    job = graph.config.slurm_job(p.node.name)
    nodes, tasks, gpus = job.nodes, job.tasks_per_node, job.gpus_per_node
    if p.node.op == "train":
        t = p.node.config.trainer
        devices = t.devices if isinstance(t.devices, int) else max(1, job.gpus_per_node)
        nodes, tasks = t.num_nodes, devices
        if t.accelerator in ("gpu", "cuda") or (t.accelerator == "auto" and job.gpus_per_node):
            gpus = devices
    return job, nodes, tasks, gpus


def job_script(graph: Graph, p: Planned | None, command: list[str], slurm: Any, log_dir: Path, label: str) -> str:
    """An sbatch script running `command` (under `srun` when the job has more than one task)."""
    if p is not None:
        job, nodes, tasks, gpus = job_shape(graph, p)
    else:
        job, nodes, tasks, gpus = graph.config.slurm_job("graph"), 1, 1, 0
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={slurm.job_name}-{label}",
             f"#SBATCH --partition={job.partition or slurm.partition}",
             f"#SBATCH --time={job.time}",
             f"#SBATCH --nodes={nodes}",
             f"#SBATCH --ntasks-per-node={tasks}",
             f"#SBATCH --cpus-per-task={job.cpus_per_task}",
             f"#SBATCH --mem={job.mem_gb}G",
             f"#SBATCH --output={log_dir}/{label}-%j.out",
             f"#SBATCH --error={log_dir}/{label}-%j.out"]
    if gpus:
        lines.append(f"#SBATCH --gpus-per-node={gpus}")
    if slurm.qos:
        lines.append(f"#SBATCH --qos={slurm.qos}")
    lines += [f"#SBATCH --{k}={v}" for k, v in sorted(job.sbatch_args.items())]
    if slurm.env_command:
        lines.append(slurm.env_command)
    lines += ["set -euo pipefail", "export PYTHONUNBUFFERED=1"]
    launch = shlex.join(command)
    lines.append(f"srun {launch}" if nodes * tasks > 1 else launch)
    return "\n".join(lines) + "\n"


def sbatch(script: Path, after: str | None) -> str:
    """Submit a script (after job `after` succeeded, when given); returns the job id."""
    cmd = ["sbatch"] + ([f"--dependency=afterok:{after}"] if after else []) + [str(script)]
    try:
        out = subprocess.check_output(cmd, text=True)
    except FileNotFoundError:
        raise UserError("executor 'slurm': sbatch not found on PATH") from None
    except subprocess.CalledProcessError as e:
        raise UserError(f"sbatch failed for {script} (exit {e.returncode})") from None
    return out.split()[-1].split(";")[0]


def node_command(resume_command: list[str], name: str) -> list[str]:
    """The graph command restricted to one node (`--node` replaces `--until`)."""
    cmd, skip = [], False
    for a in resume_command:
        if skip:
            skip = False
            continue
        if a == "--until":
            skip = True
            continue
        cmd.append(a)
    return cmd + ["--node", name]


def submit_python_chain(graph: Graph, plan: list[Planned], selected: list[str], start: str, workdir: Path,
                        executor: Any, resume_command: list[str] | None) -> list[tuple[str, str]]:
    """Queue `start` and the unfinished stages after it up to the next data stage, chained afterok;
    then, if a data stage follows, the graph command again. Returns (label, job id) pairs."""
    if not resume_command:
        raise UserError("executor 'slurm' needs the graph command to run in the jobs")
    chain, more = chain_for(plan, selected, start)
    out_dir = workdir / SLURM_DIR
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str]] = []
    prev: str | None = None
    for p in chain:
        script = out_dir / f"{p.node.name}-{p.version}.sbatch"
        script.write_text(job_script(graph, p, node_command(resume_command, p.node.name), executor.slurm,
                                     log_dir, p.node.name), encoding="utf-8")
        prev = sbatch(script, prev)
        jobs.append((p.node.name, prev))
    if more:
        tag = chain[-1].version if chain else "start"
        script = out_dir / f"graph-after-{tag}.sbatch"
        script.write_text(job_script(graph, None, resume_command, executor.slurm, log_dir, "graph"), encoding="utf-8")
        prev = sbatch(script, prev)
        jobs.append(("graph", prev))
    return jobs
