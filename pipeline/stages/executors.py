"""Where a stage's datatrove pipelines run: local processes, a Slurm cluster, or a Ray cluster.

Each kind maps onto datatrove's own executor (`LocalPipelineExecutor`, `SlurmPipelineExecutor`,
`RayPipelineExecutor`), so datatrove's per-task completion markers give task-level resume on all
three. Executor settings never enter a version id: outputs do not depend on where they were made
(the runner merges task outputs by input position, so even the task count does not matter).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import UserError

ExecutorKind = Literal["local", "slurm", "ray"]


@dataclass
class SlurmConfig:
    """sbatch settings; `env_command` activates the environment inside each job."""

    partition: str = "cpu"
    time: str = "04:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    qos: str = "normal"
    job_name: str = "symboliclight"
    env_command: str | None = None
    sbatch_args: dict[str, str] = field(default_factory=dict)
    max_array_size: int = 1001


@dataclass
class RayConfig:
    """`address` None starts a private local Ray instance with `num_cpus` CPUs."""

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 1.0


@dataclass
class ExecutorConfig:
    kind: ExecutorKind = "local"
    tasks: int = 2
    workers: int = -1
    # "auto": fork when this process runs a single Python thread (workers inherit the loaded modules
    # instead of importing them again, ~0.5 s each), else forkserver (forking a threaded process can
    # copy a held lock); or any multiprocessing start method by name
    start_method: str = "auto"
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    ray: RayConfig = field(default_factory=RayConfig)

    def __post_init__(self) -> None:
        if self.tasks < 1:
            raise UserError(f"executor.tasks must be >= 1, got {self.tasks}")
        if self.workers == 0 or self.workers < -1:
            raise UserError(f"executor.workers must be >= 1 or -1 (one per task), got {self.workers}")


def make_executor(cfg: ExecutorConfig, steps: list[Any], tasks: int, logging_dir: Path, depends: Any = None) -> Any:
    """One datatrove executor for one pipeline; `depends` chains Slurm arrays (afterok)."""
    workers = cfg.workers if cfg.workers == -1 else min(cfg.workers, tasks)
    if cfg.kind == "local":
        from .local_executor import QuietLocalExecutor

        return QuietLocalExecutor(steps, tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                                  start_method=resolve_start_method(cfg.start_method))
    if cfg.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        s = cfg.slurm
        return SlurmPipelineExecutor(
            steps, tasks=tasks, workers=workers, time=s.time, partition=s.partition,
            cpus_per_task=s.cpus_per_task, mem_per_cpu_gb=s.mem_per_cpu_gb, qos=s.qos,
            job_name=f"{s.job_name}-{logging_dir.name}", env_command=s.env_command,
            sbatch_args=dict(s.sbatch_args), max_array_size=s.max_array_size, depends=depends,
            logging_dir=str(logging_dir), mail_type="NONE",
        )
    if cfg.kind == "ray":
        _ensure_ray(cfg.ray)
        from datatrove.executor import RayPipelineExecutor

        return RayPipelineExecutor(steps, tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                                   cpus_per_task=cfg.ray.cpus_per_task, mem_per_cpu_gb=cfg.ray.mem_per_cpu_gb)
    raise UserError(f"unknown executor {cfg.kind!r} (local, slurm or ray)")


def resolve_start_method(method: str) -> str:
    """The multiprocessing start method `method` stands for ("auto": see `ExecutorConfig`)."""
    import multiprocessing
    import threading

    if method != "auto":
        if method not in multiprocessing.get_all_start_methods():
            raise UserError(f"executor.start_method {method!r}: not available here "
                            f"(auto, {', '.join(multiprocessing.get_all_start_methods())})")
        return method
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _ensure_ray(rc: RayConfig) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("executor 'ray' needs the ray package: pip install 'ray[default]'") from None
    if not ray.is_initialized():
        env = {"worker_process_setup_hook": "symboliclight.pipeline.stages.executors.ray_worker_setup"}
        if rc.address:
            ray.init(address=rc.address, log_to_driver=False, runtime_env=env)
        else:
            ray.init(num_cpus=rc.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env=env)


def _default_sigterm() -> None:
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def ray_worker_setup() -> None:
    """Runs in every Ray worker: processes it forks get the default SIGTERM action back.

    datatrove's Ray rank worker runs its ranks in a forked process pool and terminates the pool
    with SIGTERM when done. A pool process that inherits Ray's own SIGTERM handler does not die
    from it, and the rank then waits forever in `Pool.__exit__` (seen as a hung Ray test).
    """
    os.register_at_fork(after_in_child=_default_sigterm)


FOLLOWUP_ENV = "SYMBOLICLIGHT_SLURM_FOLLOWUP"


def submit_followup(cfg: SlurmConfig, script_path: Path, command: list[str], after_job: str, log_dir: Path,
                    version: str) -> str:
    """Queue the command that finishes the stage (merge + manifest) once the arrays succeed.

    The follow-up is the same `pipeline run` command again: with every datatrove task complete it
    only merges and writes the manifest, then submits the next stage's arrays the same way. It
    carries the version it was queued for (`FOLLOWUP_ENV`), so only that stage treats incomplete
    tasks as a failure; later stages in the same command submit their arrays normally.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={cfg.job_name}-finish",
             f"#SBATCH --partition={cfg.partition}",
             f"#SBATCH --time={cfg.time}",
             "#SBATCH --cpus-per-task=1",
             f"#SBATCH --mem-per-cpu={cfg.mem_per_cpu_gb}G",
             f"#SBATCH --output={log_dir}/finish_%j.out",
             f"#SBATCH --error={log_dir}/finish_%j.out"]
    if cfg.qos:
        lines.append(f"#SBATCH --qos={cfg.qos}")
    if cfg.env_command:
        lines.append(cfg.env_command)
    lines += ["set -e", f"export {FOLLOWUP_ENV}={version}", shlex.join(command), ""]
    script_path.write_text("\n".join(lines), encoding="utf-8")
    try:
        out = subprocess.check_output(["sbatch", f"--dependency=afterok:{after_job}", str(script_path)], text=True)
    except FileNotFoundError:
        raise UserError("executor 'slurm': sbatch not found on PATH") from None
    except subprocess.CalledProcessError as e:
        raise UserError(f"sbatch failed for {script_path} (exit {e.returncode})") from None
    return out.split()[-1]
