"""The import engine: runs import jobs (from any source) into one versioned corpus artifact.

Every input document ends up either written to `<domain>.jsonl.zst` or quarantined with a reason in
`excluded/quarantine.jsonl.zst`; the manifest counts both, and read = written + quarantined always
holds. The version is a hash of the import config and the inputs (files' sha256 or hub specs), so
re-importing unchanged input is a no-op.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import Artifact, artifact_dir, existing, prepare_dir, set_latest, write_manifest
from .documents import Document, JsonlZstWriter
from .errors import UserError
from .hashing import version_id
from .import_mapping import DocumentMapper, ImportConfig
from .quarantine import QUARANTINE_FILE, Quarantine
from .readers import Item, Record
from .recipe import load_recipe

STAGE = "import"


def check_domain(cfg: ImportConfig) -> None:
    recipe = load_recipe(cfg.recipe)
    if cfg.domain not in recipe.domains:
        raise UserError(f"unknown domain {cfg.domain!r} (recipe {recipe.name} has: {', '.join(recipe.domain_names)})")


# --- the import engine ---------------------------------------------------------------------------


@dataclass
class Job:
    """One input stream to import: where its items come from and how they map to documents."""

    cfg: ImportConfig
    name: str
    user_path: str
    default_source: str
    items: Callable[[Callable[[int], None]], Iterator[Item]]
    size: int = 0  # bytes (or rows) for the progress bar


def _progress_bar(total: int, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total or None, unit=unit, unit_scale=True, desc="corpus import", disable=None, leave=False)


def run_jobs(jobs: list[Job], *, config: dict[str, Any], inputs: list[dict[str, Any]], workdir: str | Path,
             out: str | Path | None, strict: bool, prefix_bytes: int, progress_unit: str = "B",
             extra: dict[str, Any] | None = None) -> Artifact:
    """Import every job into one corpus artifact (one file per domain) and write its manifest."""
    version = version_id(STAGE, {"config": config, "inputs": inputs})
    root = artifact_dir(workdir, "corpus", version, out)
    done = existing(root)
    if done is not None and done.version == version:
        if out is None:
            set_latest(workdir, "corpus", version)
        return done
    prepare_dir(root)
    domains = sorted({j.cfg.domain for j in jobs})
    writers = {d: JsonlZstWriter(root / f"{d}.jsonl.zst") for d in domains}
    quarantine = Quarantine(root, strict=strict, prefix_bytes=prefix_bytes)
    per_lang: dict[str, dict[str, int]] = {}
    per_input: list[dict[str, Any]] = []
    bar = _progress_bar(sum(j.size for j in jobs), progress_unit)
    try:
        for job in jobs:
            mapper = DocumentMapper(job.cfg, job.default_source)
            writer = writers[job.cfg.domain]
            read = 0
            w_before, q_before = writer.documents, quarantine.documents
            for item in job.items(bar.update):
                if isinstance(item, Record):
                    read += 1
                    mapped = mapper.map(item)
                    if isinstance(mapped, Document):
                        writer.write(mapped)
                        lang = per_lang.setdefault(mapped.lang, {"documents": 0, "characters": 0})
                        lang["documents"] += 1
                        lang["characters"] += len(mapped.text)
                        continue
                    item = mapped
                else:
                    read += item.documents
                quarantine.add(item, job.user_path, job.cfg.domain)
            per_input.append({"file": job.name, "domain": job.cfg.domain, "read": read,
                              "written": writer.documents - w_before,
                              "quarantined": quarantine.documents - q_before})
    except BaseException:
        bar.close()
        for w in writers.values():
            w.close()
        quarantine.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    bar.close()
    for w in writers.values():
        w.close()
    quarantine.close()

    q = quarantine.counts()
    written_total = sum(w.documents for w in writers.values())
    read_total = sum(p["read"] for p in per_input)
    if read_total != written_total + q["documents"]:  # an accounting bug, never a user error
        raise RuntimeError(f"import lost documents: read {read_total} != written {written_total} + "
                           f"quarantined {q['documents']}")
    counts = {
        "documents": written_total,
        "characters": sum(w.characters for w in writers.values()),
        "bytes": sum(w.bytes for w in writers.values()),
        "read": read_total,
        "written": written_total,
        "quarantined": q["documents"],
        "quarantine_records": q["records"],
        "quarantined_per_reason": q["per_reason"],
        "quarantined_per_domain": q["per_domain"],  # documents per reason
        "per_domain": {d: {"documents": w.documents, "characters": w.characters, "bytes": w.bytes}
                       for d, w in writers.items()},
        "per_lang": {k: per_lang[k] for k in sorted(per_lang)},
        "per_input": per_input,
    }
    files = [root / f"{d}.jsonl.zst" for d in domains] + [root / QUARANTINE_FILE]
    art = write_manifest(root, stage=STAGE, version=version, parents={}, config=config, counts=counts,
                         files=files, extra={"inputs": inputs, **(extra or {})})
    if out is None:
        set_latest(workdir, "corpus", version)
    return art
