"""Stage statistics along a corpus lineage, as a table and as a PNG funnel chart.

Counts come from the manifests (written by the runner from the merged outputs), so `pipeline stats`
is cheap; the chart shows documents and characters per stage per domain.
"""

from __future__ import annotations

import math
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


# bar colours per stage (matplotlib's tab10 cycle), and the chart's layout in pixels
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf"]
_GROUP_W, _LEFT, _RIGHT, _PANEL_H, _TOP, _GAP = 96, 40, 16, 230, 40, 46


def _log_height(v: float, top: float) -> float:
    """Bar height on a log scale that starts at 0 (log10(1 + v)), as a share of the axis."""
    return math.log10(1 + max(0.0, v)) / top if top > 0 else 0.0


def write_funnel(chain: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: per domain, documents (top) and characters (bottom) after each stage.

    Drawn with Pillow's ImageDraw (imported in ~20 ms) rather than matplotlib (~0.4 s to import,
    ~0.1 s to draw), because the runner draws one after every stage, on the stage's own clock.
    Log-scaled axes, one colour per stage, a legend with each stage's version; same counts, same bytes.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=11)
    small = ImageFont.load_default(size=10)
    domains = sorted({d for c in chain for d in (c["counts"].get("per_domain") or {})}) or ["(none)"]
    stages = [f"{c['stage']} {c['version'][:8]}" for c in chain]
    legend_rows = (len(stages) + 2) // 3
    legend_h = 16 * legend_rows + 6
    width = _LEFT + _RIGHT + _GROUP_W * len(domains)
    height = _TOP + legend_h + 2 * _PANEL_H + 2 * _GAP + 16
    img = Image.new("RGB", (max(width, 480), height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((img.width // 2, 8), "corpus funnel per domain", fill="black", font=font, anchor="mt")
    for k, label in enumerate(stages):  # legend: three entries per row
        x, y = _LEFT + (k % 3) * 150, _TOP - 12 + 16 * (k // 3)
        draw.rectangle((x, y, x + 10, y + 10), fill=_COLOURS[k % len(_COLOURS)])
        draw.text((x + 14, y - 1), label, fill="black", font=small)
    bar_w = max(2, int(0.8 * _GROUP_W / max(1, len(chain))))
    for p, key in enumerate(("documents", "characters")):
        y0 = _TOP + legend_h + 16 + p * (_PANEL_H + _GAP)  # panel top
        y1 = y0 + _PANEL_H  # baseline
        vals = [[float((c["counts"].get("per_domain") or {}).get(d, {}).get(key, 0) or 0) for d in domains]
                for c in chain]
        top = math.ceil(math.log10(1 + max([v for row in vals for v in row] + [1.0])))
        for e in range(top + 1):  # grid line and label per power of ten
            y = y1 - round(_PANEL_H * _log_height(10 ** e - 1, top))
            draw.line((_LEFT, y, width - _RIGHT, y), fill="#dddddd")
            draw.text((_LEFT - 4, y), "0" if e == 0 else f"1e{e}", fill="black", font=small, anchor="rm")
        for i, row in enumerate(vals):
            for j, v in enumerate(row):
                x = _LEFT + j * _GROUP_W + int(0.1 * _GROUP_W) + i * bar_w
                h = round(_PANEL_H * _log_height(v, top))
                if h > 0:
                    draw.rectangle((x, y1 - h, x + bar_w - 2, y1), fill=_COLOURS[i % len(_COLOURS)])
        draw.rectangle((_LEFT, y0, width - _RIGHT, y1), outline="black")
        draw.text((_LEFT, y0 - 4), f"{key} (log scale)", fill="black", font=font, anchor="lb")
        for j, d in enumerate(domains):
            draw.text((_LEFT + j * _GROUP_W + _GROUP_W // 2, y1 + 4), d, fill="black", font=small, anchor="mt")
    img.save(path, format="PNG", optimize=False)
    return path
