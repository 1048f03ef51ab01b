"""Running the graph: every selected node in order, finished versions skipped, timings recorded.

Nodes run in this process, one after the other; a data stage runs its datatrove pipelines on the
configured executor (local processes or a Ray cluster here; on Slurm it submits job arrays plus a
follow-up job that reruns this command, see `scaleout.py`). Because versions are content-derived
and an artifact is finished only by its manifest, a rerun after a crash or a kill starts at the
first unfinished node, and inside it the stage's own resume (datatrove completion markers, packing
spills, training checkpoints) picks up where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import atomic_write_text

from .graph import Graph, Planned
from .nodes import NodeContext, check_inputs, run_node, stderr


@dataclass
class StepRecord:
    stage: str
    version: str
    status: str  # cached | done | submitted
    seconds: float
    path: str


def select(graph: Graph, until: str | None = None, only: str | None = None) -> list[str]:
    """The nodes a run covers: one node (`only`), a node and its ancestors (`until`), or all."""
    if only is not None:
        graph.node(only)
        return [only]
    if until is not None:
        return graph.ancestors(until)
    return graph.names


def executor_config(graph: Graph) -> Any:
    from symboliclight.pipeline.stages.runner import load_executor_config

    return load_executor_config({"executor": graph.config.executor}, {})


def run_graph(graph: Graph, workdir: str | Path, *, until: str | None = None, only: str | None = None,
              resume_command: list[str] | None = None, echo: Callable[[str], None] = print,
              log: Callable[[str], None] = stderr, progress: bool = True) -> list[StepRecord]:
    """Run the selected nodes; returns one record per node (stops early after a Slurm submission)."""
    workdir = Path(workdir).resolve()
    executor = executor_config(graph)
    plan = graph.plan(workdir)
    by_name = {p.node.name: p for p in plan}
    selected = select(graph, until, only)
    records: list[StepRecord] = []
    for p in plan:
        if p.node.name not in selected:
            continue
        if p.done:
            log(f"[graph] {p.node.name} {p.version}: done already, skipped")
            records.append(StepRecord(p.node.name, p.version, "cached", 0.0, str(p.path)))
            continue
        if executor.kind == "slurm" and only is None and not p.node.datatrove:
            from .scaleout import submit_python_chain

            jobs = submit_python_chain(graph, plan, selected, p.node.name, workdir, executor, resume_command)
            log(f"[graph] submitted to Slurm: {', '.join(f'{n}={j}' for n, j in jobs)}")
            records.append(StepRecord(p.node.name, p.version, "submitted", 0.0, str(p.path)))
            break
        ctx = NodeContext(p, {name: by_name[name] for name in p.node.parents}, workdir, executor,
                          graph.config.strict, resume_command, echo, progress)
        check_inputs(ctx)
        log(f"[graph] {p.node.name} {p.version}: running")
        t0 = time.perf_counter()
        status = run_node(ctx)
        seconds = time.perf_counter() - t0
        records.append(StepRecord(p.node.name, p.version, status, round(seconds, 2), str(p.path)))
        log(f"[graph] {p.node.name} {p.version}: {status} in {seconds:.1f}s")
        if status == "submitted":
            break
    if records and all(r.status in ("cached", "done") for r in records) and only is None:
        write_run_report(workdir, [by_name[r.stage] for r in records], records)
    return records


def write_run_report(workdir: Path, planned: list[Planned], records: list[StepRecord]) -> Path:
    """`<workdir>/report.md` (+ `report.json`): each stage's version, status and wall time, with links
    to the artifacts' own reports and plots."""
    from .job_report import render

    text, data = render(workdir, planned, records)
    atomic_write_text(workdir / "report.json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(workdir / "report.md", text)
    return workdir / "report.md"


def records_json(records: list[StepRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]
