"""The main job's configuration (`configs/run/*.yaml`): one file names every stage's settings.

Each section points at a stage's own shipped config (or a YAML path) and lists `overrides` that are
deep-merged over it, so the stage configs stay the single source of their defaults and the run file
only says what the main job changes (a vocabulary sized for the sample, a training budget that fits
the 20-minute target on 2 cores, ...). The executor section says where the data stages run; it never
enters a version id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml

STAGE_NAMES = ("clean", "dedup", "balance")


@dataclass
class CorpusSection:
    """The graph's input: the offline sample (`source: sample`) or a finished corpus artifact
    (`source: artifact`, `input` = a version id in the workdir, `latest`, or a path), e.g. an import."""

    source: Literal["sample", "artifact"] = "sample"
    input: str | None = None
    recipe: str = "default"
    size_mb: float | None = None
    seed: int = 0
    catalogue: str = "offline"
    sources_dir: str | None = None

    def __post_init__(self) -> None:
        if self.source == "artifact" and not self.input:
            raise UserError("run config: corpus.source=artifact needs corpus.input (a corpus version or path)")
        if self.size_mb is not None and self.size_mb <= 0:
            raise UserError(f"run config: corpus.size_mb must be positive, got {self.size_mb}")


@dataclass
class StageSection:
    """A stage's config: `config` is a YAML path (null: the stage's shipped default), `overrides` are
    merged over it key by key."""

    config: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainSection:
    """The training node: a shipped train config name or YAML path, with overrides merged over it."""

    config: str = "tiny-cpu"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSection:
    """The evaluation node: `ppl` (model.eval_ppl.PplConfig) on the shards' validation split, then
    one generation (model.generate.GenerationConfig) per prompt."""

    enabled: bool = True
    device: str = "cpu"
    ppl: dict[str, Any] = field(default_factory=dict)
    generate: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=lambda: ["The history of", "今天的新闻"])


@dataclass
class SlurmJob:
    """sbatch resources of one non-datatrove node's job (the data stages use `executor.slurm`)."""

    nodes: int = 1
    cpus_per_task: int = 4
    mem_gb: int = 16
    time: str = "04:00:00"
    gpus_per_node: int = 0
    tasks_per_node: int = 1
    partition: str | None = None  # null: executor.slurm.partition
    sbatch_args: dict[str, str] = field(default_factory=dict)


@dataclass
class RunConfig:
    corpus: CorpusSection = field(default_factory=CorpusSection)
    stages: list[str] = field(default_factory=lambda: list(STAGE_NAMES))
    pipeline: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-stage sections (clean:, dedup:, ...)
    tokenizer: StageSection = field(default_factory=StageSection)
    shards: StageSection = field(default_factory=StageSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    executor: dict[str, Any] = field(default_factory=dict)  # pipeline.stages.executors.ExecutorConfig
    strict: bool = False
    slurm_jobs: dict[str, SlurmJob] = field(default_factory=dict)  # per node name; `default` for the rest

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGE_NAMES]
        if unknown:
            raise UserError(f"run config: unknown data stage {unknown[0]!r} (known: {', '.join(STAGE_NAMES)})")
        if len(set(self.stages)) != len(self.stages):
            raise UserError("run config: stages lists a stage twice")
        bad = sorted(set(self.pipeline) - set(STAGE_NAMES))
        if bad:
            raise UserError(f"run config: pipeline section {bad[0]!r} is not a data stage")

    def slurm_job(self, node: str) -> SlurmJob:
        return self.slurm_jobs.get(node) or self.slurm_jobs.get("default") or SlurmJob()


def default_run_config_path() -> Path:
    return Path(shipped_config("run", "default.yaml"))


def load_run_config(path: str | Path | None = None, overrides: list[str] | None = None,
                    size_mb: float | None = None, executor: str | None = None) -> RunConfig:
    """The run YAML (default: the shipped one), `key=value` overrides, then the command-line flags."""
    source = Path(path) if path else default_run_config_path()
    data = apply_overrides(load_yaml(source), overrides or [])
    if size_mb is not None:
        data.setdefault("corpus", {})
        data["corpus"] = {**(data["corpus"] or {}), "size_mb": size_mb}
    if executor is not None:
        data["executor"] = {**(data.get("executor") or {}), "kind": executor}
    return from_dict(RunConfig, data, where=source.name)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base` key by key (mappings recursively, everything else replaced)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
