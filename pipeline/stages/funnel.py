"""Stage statistics along a corpus lineage, as a table and as a PNG funnel chart.

Counts come from the manifests (written by the runner from the merged outputs), so `pipeline stats`
is cheap; the chart shows documents and characters per stage per domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifacts import Artifact, read_artifact


def _input_counts(art: Artifact, child: dict[str, Any] | None) -> dict[str, Any]:
    """Counts of an artifact; for one the runner did not write (e.g. a sample corpus) whose manifest
    lacks per-domain counts, what its child stage read from it."""
    c = art.manifest.get("counts") or {}
    if "per_domain" in c and "documents" in c:
        return c
    if child and "in_per_domain" in child:
        return {"documents": child["in"]["documents"], "characters": child["in"]["characters"],
                "per_domain": child["in_per_domain"]}
    return {"documents": c.get("documents"), "characters": c.get("characters"), "per_domain": {}}


def lineage_counts(art: Artifact, child: dict[str, Any] | None = None, limit: int = 16) -> list[dict[str, Any]]:
    """[{stage, version, counts}] from the first ancestor that can be found to `art` (inclusive);
    `child` is the counts of a stage that read `art` (used when `art`'s own manifest has none)."""
    chain: list[dict[str, Any]] = []
    cur: Artifact | None = art
    while cur is not None and len(chain) < limit:
        counts = _input_counts(cur, chain[-1]["counts"] if chain else child)
        chain.append({"stage": cur.stage, "version": cur.version, "counts": counts})
        parent = (cur.manifest.get("parents") or {}).get("corpus")
        path = cur.manifest.get("input_path")
        cur = None
        if parent and path and (Path(path) / "manifest.json").is_file():
            cand = read_artifact(path)
            cur = cand if cand.version == parent else None
        elif parent and (art.path.parent / parent / "manifest.json").is_file():
            cur = read_artifact(art.path.parent / parent)
    return list(reversed(chain))


def stats_report(art: Artifact) -> dict[str, Any]:
    chain = lineage_counts(art)
    return {"version": art.version, "stage": art.stage, "path": str(art.path), "counts": art.manifest.get("counts", {}),
            "lineage": [{"stage": c["stage"], "version": c["version"], "documents": c["counts"].get("documents"),
                         "characters": c["counts"].get("characters"),
                         "per_domain": c["counts"].get("per_domain", {})} for c in chain]}


def format_report(rep: dict[str, Any]) -> str:
    c = rep["counts"]
    lines = [f"{rep['stage']} {rep['version']} at {rep['path']}"]
    if "in" in c:
        lines.append(f"in {c['in']['documents']:,} docs  kept {c['kept']['documents']:,}  "
                     f"dropped {c['dropped']['documents']:,}  quarantined {c['quarantined']:,}")
        if c.get("dropped_per_reason"):
            lines.append(f"{'dropped: reason':<34}{'domain/lang':<22}{'docs':>8}{'chars':>12}")
            for reason, by in c["dropped_per_reason"].items():
                for key, t in by.items():
                    lines.append(f"  {reason:<32}{key:<22}{t['documents']:>8,}{t['characters']:>12,}")
        for reason, n in (c.get("quarantined_per_reason") or {}).items():
            lines.append(f"  quarantined {reason:<20}{n:>8,}")
    lines.append("lineage (documents per domain):")
    domains = sorted({d for s in rep["lineage"] for d in s["per_domain"]})
    lines.append(f"  {'domain':<14}" + "".join(f"{s['stage'][:10]:>12}" for s in rep["lineage"]))
    for d in domains:
        lines.append(f"  {d:<14}" + "".join(f"{s['per_domain'].get(d, {}).get('documents', 0):>12,}"
                                             for s in rep["lineage"]))
    lines.append(f"  {'total':<14}" + "".join(f"{(s['documents'] or 0):>12,}" for s in rep["lineage"]))
    return "\n".join(lines)


def write_funnel(chain: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: per domain, documents (top) and characters (bottom) after each stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [f"{c['stage']}\n{c['version'][:8]}" for c in chain]
    domains = sorted({d for c in chain for d in (c["counts"].get("per_domain") or {})}) or ["(none)"]
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 1.1 * len(domains) + 2), 7), constrained_layout=True)
    width = 0.8 / max(1, len(chain))
    for ax, key in zip(axes, ("documents", "characters"), strict=True):
        for i, c in enumerate(chain):
            per = c["counts"].get("per_domain") or {}
            vals = [per.get(d, {}).get(key, 0) for d in domains]
            ax.bar([j + i * width for j in range(len(domains))], vals, width, label=stages[i])
        ax.set_xticks([j + width * (len(chain) - 1) / 2 for j in range(len(domains))])
        ax.set_xticklabels(domains, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(key)
        ax.set_yscale("symlog")
    axes[0].set_title("corpus funnel per domain")
    axes[0].legend(fontsize=7, ncols=min(4, len(chain)))
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return path
