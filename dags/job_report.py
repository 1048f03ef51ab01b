"""The main job's report (`<workdir>/report.md`): what ran, how long each stage took, and the
stages' own results and plots (data funnel, tokenizer report, shards, training curves, evaluation),
linked by paths relative to the workdir so the folder can be moved or archived as a whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .graph import Planned


def _rel(path: Path, workdir: Path) -> str:
    return os.path.relpath(path, workdir)


def _section_for(p: Planned, workdir: Path) -> list[str]:
    name, path = p.node.name, p.path
    if p.node.datatrove and (path / "funnel.png").is_file():
        return [f"### {name}", "", f"![{name} funnel]({_rel(path / 'funnel.png', workdir)})", ""]
    if name == "tokenizer" and (path / "report.json").is_file():
        from symboliclight.tokenizer.report import format_report

        text = format_report(json.loads((path / "report.json").read_text(encoding="utf-8")))
        return ["### tokenizer", "", "```", text, "```", ""]
    if name == "shards":
        from symboliclight.pipeline.artifacts import read_artifact
        from symboliclight.tokenizer.shards import format_info, summarize

        return ["### shards", "", "```", format_info(summarize(read_artifact(path))), "```", ""]
    if name == "train":
        out = ["### train", "", f"Run report: [{_rel(path / 'report.md', workdir)}]({_rel(path / 'report.md', workdir)})", ""]
        for png in ("loss.png", "sparsity.png"):
            if (path / png).is_file():
                out += [f"![{png}]({_rel(path / png, workdir)})", ""]
        return out
    if name == "eval" and (path / "eval.md").is_file():
        body = (path / "eval.md").read_text(encoding="utf-8").replace("# Evaluation", "### eval", 1)
        body = body.replace("\n## ", "\n#### ")
        return [body, ""]
    return []


def render(workdir: Path, planned: list[Planned], records: list[Any]) -> tuple[str, dict[str, Any]]:
    total = sum(r.seconds for r in records)
    lines = ["# SymbolicLight main job", "",
             "| stage | version | status | wall time (s) | artifact |", "|---|---|---|---:|---|"]
    for p, r in zip(planned, records, strict=True):
        lines.append(f"| {r.stage} | `{r.version}` | {r.status} | {r.seconds:.1f} | `{_rel(p.path, workdir)}` |")
    lines += [f"| **total** | | | {total:.1f} | |", ""]
    for p in planned:
        lines += _section_for(p, workdir)
    data = {"stages": [{"stage": r.stage, "version": r.version, "status": r.status, "seconds": r.seconds,
                        "path": _rel(Path(r.path), workdir), "parents": p.parents}
                       for p, r in zip(planned, records, strict=True)],
            "total_seconds": round(total, 2), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    return "\n".join(lines) + "\n", data
