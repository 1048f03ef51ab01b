"""What each kind of graph node does when it runs: the stages' own functions, called with the
versions and directories the plan resolved.

Every node checks afterwards that its stage produced the version the graph predicted, so the plan
(`--dry-run`, skipping, Airflow, Slurm) can never silently disagree with what the stages write.
Training is the one stage without a manifest of its own: the graph writes `manifest.json` into the
run directory after the run report, which makes a run directory a finished artifact like the others
(a run killed before that resumes from its newest checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import Artifact, read_artifact, write_manifest
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.typed_config import to_dict

from .graph import Planned

Echo = Callable[[str], None]


@dataclass
class NodeContext:
    """One node's run: its plan entry, its parents' entries, and where/how to run."""

    planned: Planned
    inputs: dict[str, Planned]
    workdir: Path
    executor: Any  # pipeline.stages.executors.ExecutorConfig
    strict: bool = False
    resume_command: list[str] | None = None
    echo: Echo = print
    progress: bool = True

    def input_path(self, name: str) -> str:
        return str(self.inputs[name].path)


class VersionDrift(RuntimeError):
    """A stage wrote a different version than the graph predicted: the graph's version function and
    the stage's disagree (a bug to fix in `graph.py`, never a user error)."""


def _check(ctx: NodeContext, got: str) -> None:
    if got != ctx.planned.version:
        raise VersionDrift(f"stage {ctx.planned.node.name}: produced version {got}, the graph predicted "
                           f"{ctx.planned.version}")


def check_inputs(ctx: NodeContext) -> None:
    for name, p in ctx.inputs.items():
        if not p.done:
            raise UserError(f"stage {ctx.planned.node.name}: input {name} ({p.version}) is not finished at {p.path}")


def run_node(ctx: NodeContext) -> str:
    """Run one node whose parents are finished; returns "done" or "submitted" (queued on Slurm)."""
    check_inputs(ctx)
    return _OPS[ctx.planned.node.op](ctx)


def _sample(ctx: NodeContext) -> str:
    from symboliclight.pipeline.sample import build_sample, summary

    art = build_sample(ctx.planned.node.config, workdir=str(ctx.workdir), progress=ctx.progress)
    _check(ctx, art.version)
    ctx.echo(summary(art))
    return "done"


def _artifact(ctx: NodeContext) -> str:
    return "done"  # an existing corpus: nothing to run (its manifest was read when the graph was built)


def _datastage(ctx: NodeContext) -> str:
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.runner import run_stage

    node = ctx.planned.node
    (parent,) = node.parents
    res = run_stage(get_stage(node.name), read_artifact(ctx.inputs[parent].path), node.config,
                    workdir=ctx.workdir, executor=ctx.executor, strict=ctx.strict,
                    resume_command=ctx.resume_command)
    _check(ctx, res.version)
    if res.status == "submitted":
        ctx.echo(f"{node.name}: Slurm arrays submitted for {res.version}; the follow-up job continues the graph")
        return "submitted"
    c = res.artifact.manifest["counts"]
    ctx.echo(f"{node.name} {res.version}: {c['in']['documents']:,} documents in, {c['kept']['documents']:,} kept, "
             f"{c['dropped']['documents']:,} dropped, {c['quarantined']:,} quarantined")
    return "done"


def _tokenizer(ctx: NodeContext) -> str:
    from symboliclight.tokenizer.report import format_report
    from symboliclight.tokenizer.train import REPORT_FILE, train

    (corpus,) = ctx.planned.node.parents
    art = train(ctx.input_path(corpus), ctx.planned.node.config, workdir=ctx.workdir)
    _check(ctx, art.version)
    report = art.path / REPORT_FILE
    ctx.echo(f"tokenizer {art.version} at {art.path}")
    if report.is_file():
        ctx.echo(format_report(json.loads(report.read_text(encoding="utf-8"))))
    return "done"


def _shards(ctx: NodeContext) -> str:
    from symboliclight.tokenizer.pack import pack
    from symboliclight.tokenizer.shards import format_info, summarize

    corpus, tok = ctx.planned.node.parents
    res = pack(ctx.input_path(corpus), ctx.input_path(tok), ctx.planned.node.config, workdir=ctx.workdir)
    _check(ctx, res.artifact.version)
    ctx.echo(format_info(summarize(res.artifact)))
    return "done"


# --- training ----------------------------------------------------------------------------------------------

RUN_FILES = ("config.yaml", "metrics.csv", "report.md", "report.json", "loss.png", "sparsity.png")


def _rank() -> int:
    for var in ("RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _single_process() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) <= 1 and int(os.environ.get("SLURM_NTASKS", "1")) <= 1


def train_config_for(ctx: NodeContext) -> Any:
    """The node's training config with the graph's shards and the versioned run name filled in."""
    cfg = ctx.planned.node.config
    data = dataclasses.replace(cfg.data, shards=ctx.input_path("shards"))
    return dataclasses.replace(cfg, data=data, name=ctx.planned.path.name)


def _train(ctx: NodeContext) -> str:
    from symboliclight.model.checkpointing import list_checkpoints, verify_checkpoint
    from symboliclight.model.run_report import write_report
    from symboliclight.model.train import prepare_run, run_fit, run_validate

    cfg = train_config_for(ctx)
    run_dir = ctx.planned.path
    ckpts = list_checkpoints(run_dir) if run_dir.is_dir() else []
    if not ckpts and run_dir.exists() and _single_process():
        shutil.rmtree(run_dir)  # a start killed before its first checkpoint: begin again from nothing
    resume = "auto" if ckpts else None
    newest_step = verify_checkpoint(ckpts[-1])["global_step"] if ckpts else -1
    if newest_step >= cfg.trainer.max_steps:
        # killed after the final checkpoint, before the report: validate that checkpoint and report
        plan = prepare_run(cfg, workdir=ctx.workdir, out=run_dir, resume=str(ckpts[-1]), mode="validate")
        summary: dict[str, Any] = {"run_dir": str(run_dir), "steps": newest_step, "val": run_validate(plan),
                                   "shards": plan.shards_version, "arch": plan.model_cfg.arch}
        if _rank() == 0:
            write_report(run_dir, summary)
    else:
        if resume:
            ctx.echo(f"train: resuming {run_dir.name} from {ckpts[-1].name}")
        plan = prepare_run(cfg, workdir=ctx.workdir, out=run_dir, resume=resume)
        summary = run_fit(plan)
    if _rank() != 0:
        return "done"
    ckpts = list_checkpoints(run_dir)
    files = ckpts + [run_dir / f for f in RUN_FILES if (run_dir / f).is_file()]
    val = summary.get("val") or {}
    counts = {"steps": summary.get("steps"), "tokens": summary.get("tokens"), "params": summary.get("params")}
    write_manifest(run_dir, stage="train", version=ctx.planned.version, parents=dict(ctx.planned.parents),
                   config=to_dict(cfg), counts=counts, files=files,
                   extra={"summary": _jsonable(summary), "final_checkpoint": ckpts[-1].name if ckpts else None})
    ppl = f", val PPL {val['val/ppl']:.4g}" if "val/ppl" in val else ""
    ctx.echo(f"trained {summary.get('arch')} for {summary.get('steps')} steps{ppl}; report: {run_dir / 'report.md'}")
    return "done"


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def final_checkpoint(run: Artifact | Path) -> Path:
    """The newest checkpoint of a finished training run."""
    from symboliclight.model.checkpointing import list_checkpoints

    path = run.path if isinstance(run, Artifact) else Path(run)
    ckpts = list_checkpoints(path)
    if not ckpts:
        raise UserError(f"{path}: training run holds no checkpoint")
    return ckpts[-1]


# --- evaluation --------------------------------------------------------------------------------------------

def _eval(ctx: NodeContext) -> str:
    from .eval_node import run_eval

    return run_eval(ctx, final_checkpoint(ctx.inputs["train"].path))


_OPS: dict[str, Callable[[NodeContext], str]] = {
    "sample": _sample, "artifact": _artifact, "datastage": _datastage, "tokenizer": _tokenizer,
    "shards": _shards, "train": _train, "eval": _eval,
}


def stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
