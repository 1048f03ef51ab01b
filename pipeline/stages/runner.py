"""The stage runner: versioning, resume, integrity checks, count conservation and manifests.

Stage contract (how a stage plugs in)
-------------------------------------
A stage module exposes `STAGE = Stage(name, config_cls, plan, finalize=None, conserves=True)`:

* `config_cls`: a dataclass; its YAML defaults live in `configs/pipeline/<name>.yaml` and a user's
  `--config FILE` section `<name>:` is merged over them. The version id is
  `version_id(name, identity(config), {"corpus": input.version})`: the config without its
  `speed_only` fields (batch and chunk sizes); executor settings are not part of it either.
* `plan(ctx) -> list[PipelineSpec]`: the datatrove pipelines, run in order. The LAST one must start
  with `ctx.reader()` and end with `ctx.part_writer()`; in between, blocks never drop a document:
  they call `parts.mark_drop(doc, reason)` (or wrap a datatrove filter in `parts.MarkingFilter`)
  and pass marked documents through untouched (`parts.is_marked`). A kept document goes to
  `<domain>.jsonl.zst` unless a block sets `doc.metadata["_out"] = "train/news"` etc. Earlier
  pipelines (e.g. MinHash signatures/buckets/clusters) may read with `ctx.reader(emit_quarantine=False)`
  and write scratch files under `ctx.scratch(name)`; give a single-task pipeline `tasks=1`.
* `finalize(ctx, counts) -> dict`: optional; runs after the merge, may write extra files into
  `ctx.out_dir` (they are hashed into the manifest) and returns extra manifest fields.
* `conserves`: when True the runner asserts in = kept + dropped + quarantined per task and overall.

The runner resolves and verifies the input (size + sha256 of every file listed in its manifest),
computes the version, returns at once if that artifact is finished, otherwise runs the pipelines
with datatrove's executor (its completion markers under `_datatrove/` make a rerun skip finished
tasks), merges task parts by input position (bytes independent of task count and of crashes),
checks counts, draws the funnel chart, writes `manifest.json` last and moves `latest`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import MANIFEST, Artifact, artifact_dir, existing, set_latest, write_manifest
from ..errors import UserError
from ..hashing import version_id
from ..typed_config import from_dict, identity, load_yaml
from .executors import FOLLOWUP_ENV, ExecutorConfig, make_executor, submit_followup
from .parts import CorpusReader, MergeCounts, PartWriter, merge_parts

KIND = "corpus"
DATATROVE_DIR = "_datatrove"
PARTS_DIR = "_parts"
SCRATCH_DIR = "_scratch"
INTERNAL_DIRS = (DATATROVE_DIR, PARTS_DIR, SCRATCH_DIR)


@dataclass
class PipelineSpec:
    """One datatrove pipeline of a stage; `tasks` None means the executor's task count."""

    name: str
    steps: list[Any]
    tasks: int | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    config_cls: type
    plan: Callable[[StageContext], list[PipelineSpec]]
    finalize: Callable[[StageContext, MergeCounts], dict[str, Any]] | None = None
    conserves: bool = True


@dataclass
class StageContext:
    """Everything a stage's `plan`/`finalize` needs; paths are absolute strings for pickling."""

    stage: Stage
    config: Any
    input: Artifact
    out_dir: Path
    version: str
    executor: ExecutorConfig
    strict: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return self.executor.tasks

    @property
    def parts_dir(self) -> Path:
        # keyed by task count: a rerun with another count never mixes with stale parts
        return self.out_dir / PARTS_DIR / f"t{self.tasks}"

    def input_files(self) -> list[str]:
        return [str(p) for p in document_files(self.input)]

    def reader(self, emit_quarantine: bool = True, count: bool | None = None) -> CorpusReader:
        """The input reader; `count` (default: with emit_quarantine) records per-task read counts."""
        count = emit_quarantine if count is None else count
        return CorpusReader(self.input_files(), strict=self.strict,
                            counts_dir=str(self.parts_dir) if count else None, emit_quarantine=emit_quarantine)

    def part_writer(self) -> PartWriter:
        return PartWriter(str(self.parts_dir))

    def scratch(self, name: str) -> Path:
        p = self.out_dir / SCRATCH_DIR / f"t{self.tasks}" / name
        p.mkdir(parents=True, exist_ok=True)
        return p


def document_files(art: Artifact) -> list[Path]:
    """Kept document files of a corpus artifact (not `excluded/`), in manifest (sorted path) order."""
    return [art.file(e["path"]) for e in art.manifest.get("files", [])
            if e["path"].endswith(".jsonl.zst") and not e["path"].startswith("excluded/")]


# ---------------------------------------------------------------------------------------------
# configuration


def shipped_stage_yaml(name: str) -> Path:
    from ..recipe import shipped_config

    return Path(shipped_config("pipeline", f"{name}.yaml"))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_stage_config(stage: Stage, user: dict[str, Any] | None = None) -> Any:
    """Shipped YAML defaults for the stage, with the user's `<stage>:` section merged over them."""
    path = shipped_stage_yaml(stage.name)
    data = load_yaml(path) if path.is_file() else {}
    if user and isinstance(user.get(stage.name), dict):
        data = _deep_merge(data, user[stage.name])
    return from_dict(stage.config_cls, data, where=f"{stage.name}")


def load_executor_config(user: dict[str, Any] | None, overrides: dict[str, Any]) -> ExecutorConfig:
    data = dict((user or {}).get("executor") or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(ExecutorConfig, data, where="executor")


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class StageResult:
    stage: str
    version: str
    path: Path
    status: str  # "done" (ran now), "cached" (already finished), "submitted" (queued on Slurm)
    artifact: Artifact | None = None


def stage_version(stage: Stage, config: Any, input_art: Artifact) -> str:
    return version_id(stage.name, identity(config), {"corpus": input_art.version})


def verify_input(art: Artifact) -> None:
    """Size and sha256 of every listed file, before a stage reads any of it."""
    art.verify_files(hashes=True)


def _all_complete(logging_dir: Path, tasks: int) -> bool:
    done = logging_dir / "completions"
    return done.is_dir() and all((done / f"{r:05d}").is_file() for r in range(tasks))


def run_stage(stage: Stage, input_art: Artifact, config: Any, *, workdir: str | Path,
              executor: ExecutorConfig | None = None, strict: bool = False, out: str | Path | None = None,
              resume_command: list[str] | None = None, verify: bool = True) -> StageResult:
    """Run one stage on a finished input artifact (see the module docstring for the contract)."""
    executor = executor or ExecutorConfig()
    version = stage_version(stage, config, input_art)
    out_dir = artifact_dir(workdir, KIND, version, out).resolve()
    done = existing(out_dir)
    if done is not None:
        if done.version != version:
            raise UserError(f"{out_dir}: holds version {done.version}, expected {version}")
        _cleanup(out_dir)
        if out is None:
            set_latest(workdir, KIND, version)
        return StageResult(stage.name, version, out_dir, "cached", done)
    if verify:
        verify_input(input_art)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(stage, config, input_art, out_dir, version, executor, strict)
    specs = stage.plan(ctx)
    if not specs:
        raise UserError(f"stage {stage.name}: plan returned no pipelines")

    if executor.kind == "slurm":
        pending = [s for s in specs if not _all_complete(out_dir / DATATROVE_DIR / _logname(s, ctx), s.tasks or ctx.tasks)]
        if pending:
            if os.environ.get(FOLLOWUP_ENV) == version:
                raise UserError(f"stage {stage.name}: Slurm tasks incomplete in {out_dir / DATATROVE_DIR}; see its logs")
            _submit_slurm(ctx, specs, resume_command)
            return StageResult(stage.name, version, out_dir, "submitted")
    else:
        for spec in specs:
            ex = make_executor(executor, spec.steps, spec.tasks or ctx.tasks, out_dir / DATATROVE_DIR / _logname(spec, ctx))
            ex.run()
            if not _all_complete(out_dir / DATATROVE_DIR / _logname(spec, ctx), spec.tasks or ctx.tasks):
                raise UserError(f"stage {stage.name}: pipeline {spec.name} did not complete all tasks "
                                f"(logs in {out_dir / DATATROVE_DIR / _logname(spec, ctx) / 'logs'})")

    art = _finish(ctx)
    if out is None:
        set_latest(workdir, KIND, version)
    return StageResult(stage.name, version, out_dir, "done", art)


def _logname(spec: PipelineSpec, ctx: StageContext) -> str:
    return f"{spec.name}.t{spec.tasks or ctx.tasks}"


def _submit_slurm(ctx: StageContext, specs: list[PipelineSpec], resume_command: list[str] | None) -> None:
    if not resume_command:
        raise UserError("executor 'slurm' needs the command to rerun after the arrays finish")
    prev = None
    for spec in specs:
        ex = make_executor(ctx.executor, spec.steps, spec.tasks or ctx.tasks,
                           ctx.out_dir / DATATROVE_DIR / _logname(spec, ctx), depends=prev)
        prev = ex
    prev.launch_job()
    job = prev.job_id
    if job in (None, -1):  # everything was already complete
        job = "0"
    dt = ctx.out_dir / DATATROVE_DIR
    submit_followup(ctx.executor.slurm, dt / "finish.slurm", resume_command, str(job), dt / "slurm_logs", ctx.version)


def _finish(ctx: StageContext) -> Artifact:
    """Merge parts, check counts, chart, manifest (last), then drop the intermediate parts."""
    files, counts = merge_parts(ctx.parts_dir, ctx.out_dir, ctx.tasks)
    totals = counts.totals()
    if ctx.stage.conserves:
        read = counts.read_records
        accounted = totals["kept"]["documents"] + totals["dropped"]["documents"] + totals["quarantined"]
        if read != accounted:
            raise UserError(f"stage {ctx.stage.name}: read {read} records but accounted for {accounted} "
                            "(kept + dropped + quarantined)")
    extra = {}
    if ctx.stage.finalize is not None:
        extra = ctx.stage.finalize(ctx, counts) or {}
    counts_dict = counts.to_dict()
    from .funnel import lineage_counts, write_funnel

    chain = lineage_counts(ctx.input, counts_dict) + [{"stage": ctx.stage.name, "version": ctx.version, "counts": counts_dict}]
    write_funnel(chain, ctx.out_dir / "funnel.png")
    art = write_manifest(
        ctx.out_dir, stage=ctx.stage.name, version=ctx.version, parents={"corpus": ctx.input.version},
        config=dataclasses.asdict(ctx.config), counts=counts_dict, files=_payload_files(ctx.out_dir),
        extra={"input_path": str(ctx.input.path), "executor": {"kind": ctx.executor.kind, "tasks": ctx.tasks},
               **extra},
    )
    _cleanup(ctx.out_dir)
    return art


def _payload_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in INTERNAL_DIRS]
        for f in filenames:
            if f == MANIFEST or f.endswith(".tmp") or f.startswith("."):
                continue
            out.append(Path(dirpath) / f)
    return sorted(out)


def _cleanup(out_dir: Path) -> None:
    for d in (PARTS_DIR, SCRATCH_DIR):
        shutil.rmtree(out_dir / d, ignore_errors=True)


def run_stages(names: list[str], input_art: Artifact, *, workdir: str | Path, user_config: dict[str, Any] | None = None,
               executor: ExecutorConfig | None = None, strict: bool = False,
               resume_command: list[str] | None = None, log: Callable[[str], None] | None = None) -> list[StageResult]:
    """Run stages in order, each reading the previous one's artifact; stops after a Slurm submission."""
    from . import get_stage

    log = log or (lambda msg: print(msg, file=sys.stderr))
    results = []
    current = input_art
    for name in names:
        stage = get_stage(name)
        config = load_stage_config(stage, user_config)
        res = run_stage(stage, current, config, workdir=workdir, executor=executor, strict=strict,
                        resume_command=resume_command)
        results.append(res)
        log(f"{name}: {res.status} {res.version} ({res.path})")
        if res.status == "submitted":
            break
        current = res.artifact
    return results
