"""`corpus sample`: the offline ten-domain bilingual sample corpus, built from installed sources.

The version is a hash of the recipe, catalogue, size, seed and a fingerprint of every source as
installed, so a rerun with nothing changed finds the finished artifact and returns it, while a
newly installed (or removed) source gives a new version.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..artifacts import Artifact, artifact_dir, existing, prepare_dir, set_latest, write_manifest
from ..corpus_stats import Counter
from ..documents import JsonlZstWriter
from ..errors import UserError
from ..hashing import version_id
from ..recipe import Recipe, load_recipe
from ..sources.base import clear_archive_cache
from .config import Catalogue, SampleConfig, expand_path, load_catalogue
from .selection import OpenSource, fill_domain, open_source, take_report

STAGE = "corpus-sample"
#: bump when a reader's extraction changes, so old artifacts are not mistaken for new output
SAMPLE_FORMAT = 1


def domain_budgets(recipe: Recipe, size_mb: float | None) -> dict[str, int]:
    """Bytes of text per domain: the recipe's `sample_mb`, scaled so they sum to `size_mb`."""
    base = sum(d.sample_mb for d in recipe.domains.values())
    if size_mb is not None and size_mb <= 0:
        raise UserError(f"--size-mb must be positive, got {size_mb}")
    if base <= 0:
        raise UserError(f"recipe {recipe.name}: sample_mb values sum to {base}")
    scale = (size_mb / base) if size_mb is not None else 1.0
    return {name: int(round(d.sample_mb * scale * 1e6)) for name, d in recipe.domains.items()}


def open_sources(cfg: SampleConfig, recipe: Recipe, cat: Catalogue) -> dict[str, list[OpenSource]]:
    missing = [d for d in recipe.domains if not cat.domains.get(d)]
    if missing:
        raise UserError(f"source catalogue {cfg.catalogue!r} has no sources for domain {missing[0]!r}")
    names = {e.name for entries in cat.domains.values() for e in entries}
    unknown = sorted(set(cfg.source_paths) - names)
    if unknown:
        raise UserError(f"source_paths names unknown source {unknown[0]!r} (known: {', '.join(sorted(names))})")
    sources_dir = cfg.resolved_sources_dir()
    opened: dict[str, list[OpenSource]] = {}
    for domain in recipe.domains:
        opened[domain] = []
        for e in cat.domains[domain]:
            root = cfg.source_paths.get(e.name) or e.path
            opened[domain].append(open_source(domain, e, str(expand_path(root, sources_dir)), cfg.seed))
    return opened


def sample_config(cfg: SampleConfig, recipe: Recipe, cat: Catalogue, budgets: dict[str, int],
                  opened: dict[str, list[OpenSource]]) -> dict[str, Any]:
    """Everything the output depends on (and nothing it does not, e.g. absolute cache paths)."""
    return {
        "format": SAMPLE_FORMAT,
        "recipe": dataclasses.asdict(recipe),
        "size_mb": cfg.size_mb,
        "seed": cfg.seed,
        "budget_bytes": budgets,
        "catalogue": dataclasses.asdict(cat),
        "source_paths": dict(sorted(cfg.source_paths.items())),
        "source_fingerprints": {s.entry.name: (s.fingerprint if not s.skipped else "skipped")
                                for srcs in opened.values() for s in srcs},
    }


def build_sample(cfg: SampleConfig, workdir: str = "work", out: str | None = None, progress: bool = True) -> Artifact:
    """Build (or find) the sample corpus artifact for `cfg`."""
    recipe = load_recipe(cfg.recipe)
    cat = load_catalogue(cfg.catalogue)
    budgets = domain_budgets(recipe, cfg.size_mb)
    opened = open_sources(cfg, recipe, cat)
    config = sample_config(cfg, recipe, cat, budgets, opened)
    version = version_id(STAGE, config, {})
    path = artifact_dir(workdir, "corpus", version, out)
    done = existing(path)
    if done is not None:
        if done.version != version:
            raise UserError(f"{path}: already holds corpus version {done.version}, not {version}")
        if out is None:
            set_latest(workdir, "corpus", version)
        return done
    prepare_dir(path)

    counter = Counter()
    seen: set[str] = set()
    files: list[Path] = []
    reports: list[dict[str, Any]] = []
    domains: dict[str, Any] = {}
    bar = tqdm(total=sum(budgets.values()), unit="B", unit_scale=True, desc="corpus sample", disable=not progress)
    try:
        for domain, srcs in opened.items():
            bar.set_postfix_str(domain)
            docs, takes = fill_domain(srcs, budgets[domain], cat, cfg.seed, seen, bar.update)
            f = path / f"{domain}.jsonl.zst"
            with JsonlZstWriter(f) as w:
                for d in docs:
                    w.write(d)
                    counter.add(d)
            files.append(f)
            reports += [take_report(s, takes.get(s.entry.name)) for s in srcs]
            domains[domain] = {"file": f.name, "target_bytes": budgets[domain], "documents": w.documents,
                               "characters": w.characters, "bytes": w.bytes,
                               "sources": [s.entry.name for s in srcs if takes.get(s.entry.name) and takes[s.entry.name].documents]}
    finally:
        bar.close()
        clear_archive_cache()

    counts = counter.to_dict()
    counts["han_share_of_characters"] = round(counts["han_characters"] / max(1, counts["characters"]), 4)
    skipped = [{"name": r["name"], "domain": r["domain"], "reason": r["reason"]} for r in reports if r["status"] == "skipped"]
    art = write_manifest(
        path, stage=STAGE, version=version, parents={}, config=config, counts=counts, files=files,
        extra={"domains": domains, "sources": reports, "sources_skipped": skipped,
               "sources_dir": str(cfg.resolved_sources_dir())},
    )
    if out is None:
        set_latest(workdir, "corpus", version)
    return art


def summary(art: Artifact) -> str:
    """One line: documents, size, Han share, domains filled, sources used and skipped."""
    c = art.manifest["counts"]
    doms = art.manifest.get("domains", {})
    filled = sum(1 for d in doms.values() if d["documents"])
    srcs = art.manifest.get("sources", [])
    used = sum(1 for s in srcs if s.get("status") == "used")
    skipped = sum(1 for s in srcs if s.get("status") == "skipped")
    return (f"corpus {art.version}: {c['documents']:,} documents, {c['bytes'] / 1e6:.1f} MB, "
            f"Han {100 * c.get('han_share_of_characters', 0):.1f}% of characters, {filled}/{len(doms)} domains, "
            f"{used} sources used, {skipped} skipped")
