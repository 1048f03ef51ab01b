"""The balance stage: held-out validation split (`split.py`), then the domain mixture of the training
split (`mixture.py`), as three datatrove pipelines under the stage runner:

1. `BalanceScan` (all tasks): id, domain and character count of every document.
2. `BalancePlanStep` (one task): per domain the validation split, then the mixture plan over the
   training documents and the repeat count of each; writes checked decision files and the plan.
3. `BalanceApply` (all tasks): routes each document to `val/<domain>` or `train/<domain>`
   (`metadata.mix_repeats` = how many times the mixture uses it), or marks it dropped with reason
   `mix_subsampled` (a training document the mixture does not use).

`finalize` writes the extra copies of repeated training documents to
`train/<domain>.repeats.jsonl.zst` (ids `<id>#r1`, `<id>#r2`, ..., `metadata.repeat_of`), so the
training files realise the planned mixture for any reader, and writes `balance_report.json` and
`balance_report.txt`. Count conservation holds for the runner's records (every input document is
kept once in train or val, or dropped); the copies are reported under `mixture` in the manifest.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ..artifacts import atomic_write_text
from ..documents import Document, JsonlZstWriter, read_jsonl_zst
from ..errors import UserError
from ..recipe import load_recipe
from .arrays_io import load_arrays, save_arrays, walk_decisions
from .mixture import MixtureConfig, achieved, format_plan, plan_mixture, select_documents
from .parts import OUT, POS, MergeCounts, mark_drop
from .runner import PipelineSpec, Stage, StageContext
from .split import SplitConfig, held_out, stable_keys

VAL, TRAIN, DROPPED = 0, 1, 2
SUBSAMPLED = "mix_subsampled"
REPEATS_KEY = "mix_repeats"
_SAFE_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass
class BalanceConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    mixture: MixtureConfig = field(default_factory=MixtureConfig)


def scan_path(work: Path, rank: int) -> Path:
    return work / "scan" / f"{rank:05d}.npy"


def decision_path(work: Path, rank: int) -> Path:
    return work / "decisions" / f"{rank:05d}.npy"


def plan_path(work: Path) -> Path:
    return work / "plan.json"


class BalanceScan(PipelineStep):
    """Step 1: what the plan needs about every document (terminal step)."""

    type = "⚖️ - BALANCE"
    name = "📏 scan"

    def __init__(self, work_folder: str | Path):
        super().__init__()
        self.work = Path(work_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        ids, domains, chars, positions = [], [], [], []
        for doc in data or ():
            positions.append(doc.metadata.get(POS) or (0, len(ids)))
            ids.append(str(doc.id))
            domains.append(str(doc.metadata.get("domain", "")))
            chars.append(len(doc.text))
            self.stat_update("documents")
        save_arrays(scan_path(self.work, rank), {
            "ids": np.array(ids, dtype=str), "domains": np.array(domains, dtype=str),
            "chars": np.array(chars, dtype=np.int64),
            "position": np.array(positions, dtype=np.int64).reshape(-1, 2),
        }, meta={"rank": rank, "world_size": world_size})
        yield from ()


def decide(ids: np.ndarray, domains: np.ndarray, chars: np.ndarray, position: np.ndarray, cfg: BalanceConfig,
           recipe_shares: dict[str, float], max_oversample: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per document: VAL / TRAIN / DROPPED and its repeat count in the mixture; plus the plan.

    `position` is each document's (file, line) in the input: the last tie-break between documents
    sharing an id, so the result never depends on how documents were dealt to tasks.
    """
    n = len(ids)
    input_order = np.empty(n, dtype=np.int64)
    input_order[np.lexsort((position[:, 1], position[:, 0]))] = np.arange(n)
    for d in sorted(set(domains.tolist())):
        if not _SAFE_DOMAIN.match(d):
            raise UserError(f"balance: domain name {d!r} cannot be a file name")
    split_keys = stable_keys(ids, cfg.split.salt)
    dest = np.full(n, TRAIN, dtype=np.int8)
    split_counts: dict[str, dict[str, int]] = {}
    for d in sorted(set(domains.tolist())):
        members = np.flatnonzero(domains == d)
        val = held_out(split_keys[members], ids[members], cfg.split, input_order[members])
        dest[members[val]] = VAL
        split_counts[d] = {"documents": len(members), "val_documents": int(val.sum()),
                           "val_characters": int(chars[members[val]].sum()),
                           "train_documents": int((~val).sum()), "train_characters": int(chars[members[~val]].sum())}
    train = dest == TRAIN
    natural = {d: int(chars[train & (domains == d)].sum()) for d in sorted(set(domains.tolist()))}
    plan = plan_mixture(natural, recipe_shares, max_oversample, cfg.mixture.total_characters)
    mix_keys = stable_keys(ids, f"{cfg.split.salt}/mixture/{cfg.mixture.seed}")
    reps = np.zeros(n, dtype=np.int64)
    achieved_chars = {}
    for d in natural:
        members = np.flatnonzero(train & (domains == d))
        r = select_documents(chars[members], mix_keys[members], ids[members], plan["domains"][d]["repeat_factor"],
                             input_order[members])
        reps[members] = r
        achieved_chars[d] = int((chars[members] * r).sum())
    dest[train & (reps == 0)] = DROPPED
    plan = achieved(plan, achieved_chars, cfg.mixture.tolerance_pp)
    plan["split"] = split_counts
    return dest, reps, plan


class BalancePlanStep(PipelineStep):
    """Step 2 (one task): split + mixture plan; one decision file per scan task."""

    type = "⚖️ - BALANCE"
    name = "🧮 split and mixture plan"

    def __init__(self, work_folder: str | Path, cfg: BalanceConfig, scan_tasks: int, input_stage: str):
        super().__init__()
        self.work = Path(work_folder)
        self.cfg = cfg
        self.scan_tasks = scan_tasks
        self.input_stage = input_stage

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise UserError(f"balance planning runs as a single task, not {world_size}")
        shards = []
        for r in range(self.scan_tasks):
            arrays, meta = load_arrays(scan_path(self.work, r))
            if meta.get("world_size") != self.scan_tasks:
                raise UserError(f"{scan_path(self.work, r)}: written by a run with another task count")
            shards.append(arrays)
        cat = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
        recipe = load_recipe(self.cfg.mixture.recipe)
        max_os = self.cfg.mixture.max_oversample or recipe.max_oversample
        dest, reps, plan = decide(cat["ids"], cat["domains"], cat["chars"], cat["position"], self.cfg,
                                  {d: s.share for d, s in recipe.domains.items()}, max_os)
        plan["recipe"] = recipe.name
        plan["input_stage"] = self.input_stage
        plan["input_deduplicated"] = self.input_stage == "dedup"
        start = 0
        for r, shard in enumerate(shards):
            end = start + len(shard["ids"])
            save_arrays(decision_path(self.work, r), {"ids": shard["ids"], "dest": dest[start:end],
                                                      "repeats": reps[start:end]}, meta={"rank": r})
            start = end
        atomic_write_text(plan_path(self.work), json.dumps(plan, indent=2, sort_keys=True) + "\n")
        self.stat_update("documents", value=len(dest), unit="corpus")
        yield from ()


class BalanceApply(PipelineStep):
    """Step 3: route to train/val by domain, or mark `mix_subsampled`; checks ids against step 1."""

    type = "⚖️ - BALANCE"
    name = "🔀 route train / val"

    def __init__(self, work_folder: str | Path):
        super().__init__()
        self.work = Path(work_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc, dec, idx in walk_decisions(data, decision_path(self.work, rank), rank, "scan"):
            if idx is None:
                yield doc
                continue
            dest, reps = int(dec["dest"][idx]), int(dec["repeats"][idx])
            domain = doc.metadata["domain"]
            if dest == VAL:
                doc.metadata[OUT] = f"val/{domain}"
                self.stat_update("val")
            elif dest == TRAIN:
                doc.metadata[OUT] = f"train/{domain}"
                doc.metadata[REPEATS_KEY] = reps
                self.stat_update("train")
            else:
                mark_drop(doc, SUBSAMPLED)
                self.stat_update(SUBSAMPLED)
            yield doc


def plan(ctx: StageContext) -> list[PipelineSpec]:
    work = ctx.scratch("balance")
    return [
        PipelineSpec("balance-scan", [ctx.reader(emit_quarantine=False), BalanceScan(work)]),
        PipelineSpec("balance-plan", [BalancePlanStep(work, ctx.config, ctx.tasks, ctx.input.stage)], tasks=1),
        PipelineSpec("balance-apply", [ctx.reader(), BalanceApply(work), ctx.part_writer()]),
    ]


def write_repeats(out_dir: Path) -> dict[str, dict[str, int]]:
    """Materialise the extra copies of repeated training documents; returns per-domain copy counts."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted((out_dir / "train").glob("*.jsonl.zst")):
        if path.name.endswith(".repeats.jsonl.zst"):
            continue
        dest = path.with_name(path.name.replace(".jsonl.zst", ".repeats.jsonl.zst"))
        tmp = dest.with_name("." + dest.name + ".tmp")
        copies = chars = 0
        with JsonlZstWriter(tmp) as w:
            for doc in read_jsonl_zst(path):
                for i in range(1, int(doc.metadata.get(REPEATS_KEY, 1))):
                    meta = {**doc.metadata, "repeat_of": doc.id, "repeat_index": i}
                    w.write(Document(f"{doc.id}#r{i}", doc.text, meta))
                    copies += 1
                    chars += len(doc.text)
        if copies:
            tmp.replace(dest)
            out[path.name.removesuffix(".jsonl.zst")] = {"documents": copies, "characters": chars}
        else:
            tmp.unlink()
    return out


def finalize(ctx: StageContext, counts: MergeCounts) -> dict[str, Any]:
    plan_data = json.loads(plan_path(ctx.scratch("balance")).read_text(encoding="utf-8"))
    plan_data["repeat_copies"] = write_repeats(ctx.out_dir)
    report = {"config": dataclasses.asdict(ctx.config), "plan": plan_data}
    atomic_write_text(ctx.out_dir / "balance_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    atomic_write_text(ctx.out_dir / "balance_report.txt", format_plan(plan_data) + "\n")
    return {"mixture": plan_data}


STAGE = Stage("balance", BalanceConfig, plan, finalize)
