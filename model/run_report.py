"""End-of-run report: PNG plots of loss and per-layer sparsity over steps, and a markdown summary.

Everything is read back from the run's `metrics.csv` (so a report can be rebuilt for any run
directory with `write_report(run_dir)`), plus the summary the driver passes (final validation).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .run_logging import read_metrics

_LAYER_KEY = re.compile(r"^sparsity/L(\d+)/(\w+)$")


def _series(metrics: dict[str, dict[int, float]], key: str) -> tuple[list[int], list[float]]:
    points = sorted(metrics.get(key, {}).items())
    return [s for s, _ in points], [v for _, v in points]


def plot_loss(metrics: dict[str, dict[int, float]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = _series(metrics, "train/loss")
    vx, vy = _series(metrics, "val/loss")
    if not xs and not vx:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if xs:
        ax.plot(xs, ys, label="train loss (window mean)", lw=1.2)
    if vx:
        ax.plot(vx, vy, "o-", label="val loss", lw=1.2, ms=3)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_sparsity(metrics: dict[str, dict[int, float]], path: Path) -> Path | None:
    """One panel per spike site, one line per layer; the headline global sparsity in the first panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_site: dict[str, list[tuple[int, str]]] = {}
    for key in metrics:
        m = _LAYER_KEY.match(key)
        if m:
            by_site.setdefault(m.group(2), []).append((int(m.group(1)), key))
    if not by_site:
        return None
    order = [s for s in ("encoder", "mixer", "ffn_hidden", "block_out") if s in by_site]
    fig, axes = plt.subplots(1, len(order) + 1, figsize=(4 * (len(order) + 1), 3.6), dpi=100, squeeze=False)
    ax0 = axes[0][0]
    for key, label in (("sparsity/global", "global (encoder + block outputs)"), ("sparsity/all_sites", "all sites")):
        xs, ys = _series(metrics, key)
        if xs:
            ax0.plot(xs, ys, label=label)
    ax0.set_title("global")
    ax0.legend(fontsize=7)
    for ax, site in zip(axes[0][1:], order, strict=True):
        for layer, key in sorted(by_site[site]):
            xs, ys = _series(metrics, key)
            ax.plot(xs, ys, label=f"L{layer}", lw=1)
        ax.set_title(site)
        if len(by_site[site]) <= 12:
            ax.legend(fontsize=6, ncol=2)
    for ax in axes[0]:
        ax.set_xlabel("step")
        ax.set_ylabel("1 − firing rate")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.{digits}g}"
    return str(x)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def build_summary(run_dir: Path, summary: dict[str, Any] | None) -> dict[str, Any]:
    metrics = read_metrics(run_dir)
    summary = dict(summary or {})
    _, tps = _series(metrics, "perf/tokens_per_s")
    steady = tps[1:] if len(tps) > 1 else tps  # the first window includes start-up
    _, mfu = _series(metrics, "perf/mfu")
    _, wait = _series(metrics, "perf/data_wait_share")
    val = summary.get("val") or {k: v[max(v)] for k, v in metrics.items() if k.startswith("val/") and v}
    summary.update({
        "tokens_per_s_mean": _mean(steady),
        "mfu_mean": _mean(mfu[1:] if len(mfu) > 1 else mfu),
        "data_wait_share_mean": _mean(wait),
        "final_train_loss": _series(metrics, "train/loss")[1][-1] if metrics.get("train/loss") else float("nan"),
        "val": val,
    })
    for key in ("sparsity/global", "sparsity/dead_frac", "sparsity/always_on_frac"):
        if metrics.get(key):
            summary.setdefault("sparsity_train", {})[key] = _series(metrics, key)[1][-1]
    return summary


def render_markdown(s: dict[str, Any], plots: list[str]) -> str:
    lines = [f"# Run report: {Path(s.get('run_dir', '.')).name}", ""]
    lines += ["| | |", "|---|---|"]
    for label, key in (("network", "arch"), ("parameters", "params"), ("optimiser steps", "steps"),
                       ("tokens seen", "tokens"), ("shards", "shards"), ("final train loss", "final_train_loss"),
                       ("tokens/s (mean, all devices)", "tokens_per_s_mean"), ("MFU (mean)", "mfu_mean"),
                       ("data-wait share (mean)", "data_wait_share_mean"), ("skipped steps", "skipped_steps"),
                       ("loss-spike restarts", "spike_restarts"), ("LR peak scale", "lr_scale")):
        if key in s:
            value = s[key]
            lines.append(f"| {label} | {_fmt(value) if not isinstance(value, int) else f'{value:,}'} |")
    val = s.get("val") or {}
    if val:
        lines += ["", "## Validation", "", "| domain | loss | PPL |", "|---|---|---|"]
        if "val/loss" in val:
            lines.append(f"| **all** | {_fmt(val['val/loss'])} | {_fmt(val.get('val/ppl', float('nan')))} |")
        for key in sorted(val):
            m = re.match(r"^val/(.+)/loss$", key)
            if m and not m.group(1).startswith("sparsity"):
                lines.append(f"| {m.group(1)} | {_fmt(val[key])} | {_fmt(val.get(f'val/{m.group(1)}/ppl', float('nan')))} |")
    sv, st = s.get("sparsity_val") or {}, s.get("sparsity_train") or {}
    if sv or st:
        lines += ["", "## Activation sparsity (1 − ones/elements, element-weighted)", "", "| measure | value |",
                  "|---|---|"]
        for key in ("val/sparsity/global", "val/sparsity/all_sites", "val/sparsity/site/encoder",
                    "val/sparsity/site/mixer", "val/sparsity/site/ffn_hidden", "val/sparsity/site/block_out",
                    "val/sparsity/dead_frac", "val/sparsity/always_on_frac"):
            if key in sv:
                lines.append(f"| {key} | {_fmt(sv[key])} |")
        for key in ("sparsity/global", "sparsity/dead_frac", "sparsity/always_on_frac"):
            if key in st:
                lines.append(f"| train {key} (last window) | {_fmt(st[key])} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, summary: dict[str, Any] | None = None) -> Path:
    """Write `loss.png`, `sparsity.png`, `report.md` and `report.json` into the run directory."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    plots = [p.name for p in (plot_loss(metrics, run_dir / "loss.png"), plot_sparsity(metrics, run_dir / "sparsity.png"))
             if p is not None]
    s = build_summary(run_dir, summary)
    (run_dir / "report.json").write_text(json.dumps(s, indent=2, default=str, allow_nan=True) + "\n", encoding="utf-8")
    path = run_dir / "report.md"
    path.write_text(render_markdown(s, plots), encoding="utf-8")
    return path
