"""The dedup stage: exact duplicates (hash of normalised text), then MinHash near-duplicates across
all domains, as three datatrove pipeline steps:

1. `DedupSignatures` (one task per input shard): per document its id, length, exact digest and
   MinHash signature, written to a checked intermediate file per task.
2. `DedupClusters` (a single task): groups exact copies, finds near-duplicate pairs among the
   distinct texts (banding + verification, `minhash.py`), takes connected components, and picks
   each cluster's survivor. Writes one checked decision file per stage-1 task.
3. `DedupMark` (same tasks and reader as step 1): survivors are kept, annotated with
   `metadata.dup_cluster_size`; every other document is marked dropped with reason `exact_dup` or
   `near_dup`, `metadata.dedup_kept_id` and `metadata.dedup_similarity` (estimated Jaccard with the
   kept document; below the threshold when linked through other members of the cluster); the
   runner writes it to `excluded/<reason>.jsonl.zst`.

Exact normalisation (`normalize_exact`): Unicode NFC, `str.casefold` (folds Latin, Greek, Cyrillic
case and full-width Latin letters; leaves Han and Chinese punctuation alone), every run of
whitespace (including U+3000) collapsed to one space, leading/trailing whitespace removed.

Survivor rule (deterministic, independent of task count and input order): the longest normalised
text in characters (so padding with whitespace wins nothing); ties go to the smallest id (string
order), then the smallest normalised-text digest, then input position (file, line). A dropped document is `exact_dup` when its normalised text equals the
survivor's, else `near_dup` (including exact copies of another near-duplicate member).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from ..artifacts import atomic_write_text
from ..errors import UserError
from ..recipe import shipped_config
from ..typed_config import apply_overrides, from_dict, load_yaml
from .arrays_io import load_arrays, save_arrays, walk_decisions
from .minhash import SIG_DTYPE, MinHashConfig, MinHasher, components, duplicate_pairs
from .parts import POS, MergeCounts, mark_drop
from .runner import PipelineSpec, Stage, StageContext
from .shingles import ShingleConfig, shingles

KEEP, EXACT_DUP, NEAR_DUP = 0, 1, 2
REASONS = {EXACT_DUP: "exact_dup", NEAR_DUP: "near_dup"}
CLUSTER_SIZE_KEY = "dup_cluster_size"
KEPT_ID_KEY = "dedup_kept_id"
SIMILARITY_KEY = "dedup_similarity"  # estimated Jaccard with the kept document (1.0 for exact copies)


@dataclass
class DedupConfig:
    exact: bool = True
    near: bool = True
    shingles: ShingleConfig = field(default_factory=ShingleConfig)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)


def load_dedup_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DedupConfig:
    """The dedup config from YAML (default: the shipped `configs/pipeline/dedup.yaml`)."""
    data = load_yaml(path or shipped_config("pipeline", "dedup.yaml"))
    return from_dict(DedupConfig, apply_overrides(data, overrides or []), where="dedup")


def normalize_exact(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def exact_digest(normalized: str) -> tuple[int, int]:
    """128-bit digest of an already normalised text, as two unsigned 64-bit halves."""
    d = hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return int.from_bytes(d[:8], "big"), int.from_bytes(d[8:], "big")


# ---------------------------------------------------------------------------------------------
# Layout of the work folder shared by the three steps


def sig_path(work: Path, rank: int) -> Path:
    return work / "signatures" / f"{rank:05d}.npy"


def decision_path(work: Path, rank: int) -> Path:
    return work / "decisions" / f"{rank:05d}.npy"


def summary_path(work: Path) -> Path:
    return work / "clusters.json"


# ---------------------------------------------------------------------------------------------
# Step 1


class SignatureBuilder:
    """Accumulates per-document records for one shard (usable without datatrove)."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.hasher = MinHasher(cfg.minhash)
        self.ids: list[str] = []
        self.chars: list[int] = []
        self.digests: list[tuple[int, int]] = []
        self.sigs: list[np.ndarray] = []
        self.has_sig: list[bool] = []
        self.positions: list[tuple[int, int]] = []
        self._empty = np.zeros(cfg.minhash.num_perm, dtype=SIG_DTYPE)

    def add(self, doc_id: str, text: str, position: tuple[int, int] | None = None) -> None:
        """`position`: (file, line) in the input, the last survivor tie-break (default: arrival order)."""
        norm = normalize_exact(text)
        self.positions.append(tuple(position) if position is not None else (0, len(self.ids)))
        self.ids.append(doc_id)
        self.chars.append(len(norm))
        self.digests.append(exact_digest(norm))
        sig = self.hasher.signature(shingles(text, self.cfg.shingles.n)) if self.cfg.near else None
        self.has_sig.append(sig is not None)
        self.sigs.append(self._empty if sig is None else sig)

    def arrays(self) -> dict[str, np.ndarray]:
        dig = np.array(self.digests, dtype=np.uint64).reshape(-1, 2)
        return {
            "ids": np.array(self.ids, dtype=str),
            "chars": np.array(self.chars, dtype=np.int64),
            "digest_hi": dig[:, 0].copy(),
            "digest_lo": dig[:, 1].copy(),
            "has_sig": np.array(self.has_sig, dtype=bool),
            "position": np.array(self.positions, dtype=np.int64).reshape(-1, 2),
            "sigs": np.stack(self.sigs) if self.sigs else np.zeros((0, self.cfg.minhash.num_perm), SIG_DTYPE),
        }


class DedupSignatures(PipelineStep):
    """Dedup step 1: exact digest and MinHash signature per document (terminal step)."""

    type = "🫂 - DEDUP"
    name = "🔏 signatures (exact + MinHash)"

    def __init__(self, work_folder: str | Path, cfg: DedupConfig):
        super().__init__()
        self.work = Path(work_folder)
        self.cfg = cfg

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        builder = SignatureBuilder(self.cfg)
        for doc in data or ():
            with self.track_time():
                builder.add(str(doc.id), doc.text, doc.metadata.get(POS))
                self.stat_update("documents")
                self.stat_update("characters", value=len(doc.text), unit="doc")
        save_arrays(sig_path(self.work, rank), builder.arrays(), meta={"rank": rank, "world_size": world_size})
        yield from ()


# ---------------------------------------------------------------------------------------------
# Step 2


def decide(arrays: dict[str, np.ndarray], cfg: DedupConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Cluster all documents (concatenated shard arrays) and decide who survives.

    Returns per-document `status` (KEEP / EXACT_DUP / NEAR_DUP), `survivor` (global index of the
    document kept for its cluster, itself when kept) and `cluster_size`, plus summary counts.
    """
    n = len(arrays["ids"])
    chars, hi, lo = arrays["chars"], arrays["digest_hi"], arrays["digest_lo"]
    id_rank = np.unique(arrays["ids"], return_inverse=True)[1] if n else np.zeros(0, np.int64)
    pos = np.arange(n)
    where = arrays["position"]
    # Preference order of all documents (best first): longest, smallest id, smallest digest, input
    # position (file, line) - never the task split, so every task count picks the same survivor.
    pref = np.lexsort((where[:, 1], where[:, 0], lo, hi, id_rank, -chars))
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[pref] = np.arange(n)

    # Exact groups; each represented by its preferred member.
    if cfg.exact and n:
        order = np.lexsort((rank_of, lo, hi))
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (hi[order][1:] != hi[order][:-1]) | (lo[order][1:] != lo[order][:-1])
        group = np.empty(n, dtype=np.int64)
        group[order] = np.cumsum(new_group) - 1
        rep_of_group = order[new_group]  # first in each group = preferred member (rank_of is the tie order)
    else:
        group = pos.copy()
        rep_of_group = pos.copy()
    n_groups = len(rep_of_group)

    # Near-duplicate pairs among representatives that have a signature.
    n_candidates, n_verified = 0, 0
    comp_of_group = np.arange(n_groups, dtype=np.int64)
    if cfg.near and n_groups > 1:
        reps = rep_of_group[arrays["has_sig"][rep_of_group]]
        groups_with_sig = group[reps]
        pairs, n_candidates = duplicate_pairs(arrays["sigs"][reps], cfg.minhash)
        n_verified = len(pairs)
        if n_verified:
            comp_of_group = components(n_groups, groups_with_sig[pairs])

    comp = comp_of_group[group]
    # Survivor of each component: its most preferred member.
    by_comp = np.lexsort((rank_of, comp))
    first = np.ones(n, dtype=bool)
    first[1:] = comp[by_comp][1:] != comp[by_comp][:-1]
    comp_ids, comp_start = comp[by_comp][first], np.flatnonzero(first)
    sizes = np.diff(np.append(comp_start, n))
    survivor_of_comp = np.zeros(int(comp.max()) + 1 if n else 0, dtype=np.int64)
    survivor_of_comp[comp_ids] = by_comp[comp_start]
    size_of_comp = np.zeros_like(survivor_of_comp)
    size_of_comp[comp_ids] = sizes

    survivor = survivor_of_comp[comp] if n else np.zeros(0, np.int64)
    same_text = (hi == hi[survivor]) & (lo == lo[survivor])
    status = np.where(survivor == pos, KEEP, np.where(same_text, EXACT_DUP, NEAR_DUP)).astype(np.int8)
    # Estimated Jaccard of each document with its survivor, so a drop can be explained; below the
    # threshold it was reached through a chain of near-duplicates (union-find clusters are transitive).
    similarity = np.ones(n, dtype=np.float64)
    near = np.flatnonzero(status == NEAR_DUP)
    if near.size:
        both = arrays["has_sig"][near] & arrays["has_sig"][survivor[near]]
        est = (arrays["sigs"][near] == arrays["sigs"][survivor[near]]).mean(axis=1)
        similarity[near] = np.where(both, est, 0.0)
    summary = {
        "documents": int(n),
        "kept": int((status == KEEP).sum()),
        "exact_dup": int((status == EXACT_DUP).sum()),
        "near_dup": int((status == NEAR_DUP).sum()),
        "distinct_texts": int(n_groups),
        "clusters_with_duplicates": int((sizes > 1).sum()) if n else 0,
        "largest_cluster": int(sizes.max()) if n else 0,
        "candidate_pairs": int(n_candidates),
        "verified_pairs": int(n_verified),
        "documents_without_shingles": int((~arrays["has_sig"]).sum()),
        "near_dup_chained": int((similarity[near] < cfg.minhash.threshold - 1e-12).sum()),
    }
    return {"status": status, "survivor": survivor, "cluster_size": size_of_comp[comp].astype(np.int64),
            "similarity": similarity}, summary


def concat_shards(shards: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}


class DedupClusters(PipelineStep):
    """Dedup step 2 (one task): clusters and survivors; one decision file per step-1 task."""

    type = "🫂 - DEDUP"
    name = "🧩 clusters and survivors"

    def __init__(self, work_folder: str | Path, cfg: DedupConfig, signature_tasks: int):
        super().__init__()
        self.work = Path(work_folder)
        self.cfg = cfg
        self.signature_tasks = signature_tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise UserError(f"dedup clustering runs as a single task, not {world_size}")
        with self.track_time(unit="corpus"):
            shards = []
            for r in range(self.signature_tasks):
                arrays, meta = load_arrays(sig_path(self.work, r))
                if meta.get("world_size") != self.signature_tasks:
                    raise UserError(f"{sig_path(self.work, r)}: written by a run with {meta.get('world_size')} "
                                    f"tasks, expected {self.signature_tasks}; delete {self.work} and rerun")
                shards.append(arrays)
            all_arrays = concat_shards(shards)
            result, summary = decide(all_arrays, self.cfg)
            ids = all_arrays["ids"]
            start = 0
            for r, shard in enumerate(shards):
                end = start + len(shard["ids"])
                sl = slice(start, end)
                save_arrays(decision_path(self.work, r), {
                    "ids": shard["ids"],
                    "status": result["status"][sl],
                    "kept_id": ids[result["survivor"][sl]] if end > start else np.zeros(0, dtype=str),
                    "cluster_size": result["cluster_size"][sl],
                    "similarity": result["similarity"][sl],
                }, meta={"rank": r})
                start = end
            atomic_write_text(summary_path(self.work), json.dumps(summary, indent=2, sort_keys=True) + "\n")
        for key, value in summary.items():
            self.stat_update(key, value=value, unit="corpus")
        yield from ()


# ---------------------------------------------------------------------------------------------
# Step 3


class DedupMark(PipelineStep):
    """Dedup step 3: mark duplicates as dropped (reason `exact_dup` / `near_dup`, with the kept id);
    survivors get `metadata.dup_cluster_size`. Nothing is removed here: the runner routes marked
    documents to `excluded/<reason>.jsonl.zst`.

    Must see the same documents in the same order as step 1 for its rank (the runner's reader deals
    by global position, so it does); ids are checked, so a changed input fails with a clear error
    instead of dropping the wrong documents. Documents already marked (quarantined lines) are
    passed through untouched; step 1 never saw them.
    """

    type = "🫂 - DEDUP"
    name = "🚮 mark duplicates"

    def __init__(self, work_folder: str | Path):
        super().__init__()
        self.work = Path(work_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc, dec, idx in walk_decisions(data, decision_path(self.work, rank), rank, "signature"):
            if idx is None:
                yield doc
                continue
            status = int(dec["status"][idx])
            doc.metadata[CLUSTER_SIZE_KEY] = int(dec["cluster_size"][idx])
            self.stat_update("documents")
            if status != KEEP:
                doc.metadata[KEPT_ID_KEY] = str(dec["kept_id"][idx])
                doc.metadata[SIMILARITY_KEY] = round(float(dec["similarity"][idx]), 3)
                mark_drop(doc, REASONS[status])
            self.stat_update(REASONS.get(status, "kept"))
            yield doc


# ---------------------------------------------------------------------------------------------
# The stage (runner contract: pipeline/stages/runner.py)


def plan(ctx: StageContext) -> list[PipelineSpec]:
    work = ctx.scratch("dedup")
    cfg: DedupConfig = ctx.config
    return [
        PipelineSpec("dedup-signatures", [ctx.reader(emit_quarantine=False), DedupSignatures(work, cfg)]),
        PipelineSpec("dedup-clusters", [DedupClusters(work, cfg, signature_tasks=ctx.tasks)], tasks=1),
        PipelineSpec("dedup-mark", [ctx.reader(), DedupMark(work), ctx.part_writer()]),
    ]


def finalize(ctx: StageContext, counts: MergeCounts) -> dict[str, Any]:
    """Cluster summary into the manifest and `dedup_report.json` beside it."""
    summary = json.loads(summary_path(ctx.scratch("dedup")).read_text(encoding="utf-8"))
    report = {"clusters": summary, "config": dataclasses.asdict(ctx.config),
              "survivor_rule": "longest normalised text; then smallest id; then smallest normalised-text digest",
              "candidate_probability": {str(j): round(ctx.config.minhash.candidate_probability(j), 4)
                                        for j in (0.5, 0.6, 0.7, 0.8, 0.9)}}
    atomic_write_text(ctx.out_dir / "dedup_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    return {"dedup": summary}


STAGE = Stage("dedup", DedupConfig, plan, finalize)
