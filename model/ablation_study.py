"""The ablation study: the full model, each ablation and the parameter-matched GPT-2, trained alike.

Every run of a study uses the same train config, the same shards, the same token budget and, per
seed, the same seed for initialisation/dropout (`trainer.seed`) and for the data order
(`data.seed`), so for a given seed every variant sees exactly the same training windows. Variants
differ only in the network: model-config switches (`attention`, `decay`, `dynamic_prior`,
`encoder_mask`) or `matched_gpt2` (the GPT-2 baseline matched in parameters to the full model).

After training, each run's final checkpoint is scored by `eval_ppl.evaluate_ppl` on the study's
shards with one protocol for all (windows, fresh state per window), which also gives the spike
sparsity and the energy estimate; tokens/s is the run's own training throughput (mean of its
logged windows after the first). Several seeds give mean and sample standard deviation; ratios to
the baseline are ratios of the means. Whatever ordering comes out is what the table shows: nothing
is sorted or filtered to favour a variant.

Output in the study directory: `study.md` (the table), `study.json` (every run's numbers and the
aggregates), `ppl.png`, `ppl_domains.png`, `sparsity.png`, `loss.png`, and `runs/<variant>-s<seed>/`
(ordinary run directories). A rerun reuses finished runs and resumes unfinished ones.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from symboliclight.pipeline.artifacts import atomic_write_text
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml, to_dict

from .checkpointing import list_checkpoints


@dataclass
class VariantSpec:
    """One network of the study: model-config field overrides, or the matched GPT-2."""

    name: str
    model: dict[str, Any] = field(default_factory=dict)
    matched_gpt2: bool = False

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise UserError(f"study variant name {self.name!r} must be a plain directory name")
        if self.matched_gpt2 and self.model:
            raise UserError(f"study variant {self.name}: matched_gpt2 takes no model overrides")


@dataclass
class StudyEval:
    """How every run's final checkpoint is scored (see `eval_ppl.PplConfig`)."""

    seq_len: int | None = None
    batch_size: int = 16
    max_windows_per_domain: int | None = None


def _default_variants() -> list[VariantSpec]:
    return [VariantSpec("full"), VariantSpec("no-attention", {"attention": False}),
            VariantSpec("no-decay", {"decay": False}), VariantSpec("static-prior", {"dynamic_prior": False}),
            VariantSpec("topk-mask", {"encoder_mask": "topk"}), VariantSpec("gpt2", matched_gpt2=True)]


@dataclass
class StudyConfig:
    """A study (`configs/study/*.yaml`). `train_set` are `key=value` overrides of the train config
    applied to every run (budget, model size); seeds apply to both `trainer.seed` and `data.seed`."""

    name: str = "ablations"
    train_config: str = "tiny-cpu"
    train_set: list[str] = field(default_factory=list)
    shards: str = "latest"
    seeds: list[int] = field(default_factory=lambda: [42])
    variants: list[VariantSpec] = field(default_factory=_default_variants)
    baseline: str | None = "gpt2"  # the variant the ratios divide by (null: no ratios)
    eval: StudyEval = field(default_factory=StudyEval)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise UserError(f"study name {self.name!r} must be a plain directory name")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UserError("study: seeds must be a non-empty list without repeats")
        names = [v.name for v in self.variants]
        if not names or len(set(names)) != len(names):
            raise UserError("study: variants must be a non-empty list with distinct names")
        if self.baseline is not None and self.baseline not in names:
            raise UserError(f"study: baseline {self.baseline!r} is not one of the variants ({', '.join(names)})")


def load_study_config(name_or_path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    ref = str(name_or_path)
    path = Path(ref)
    if not (path.suffix in (".yaml", ".yml") or path.is_file()):
        path = shipped_config("study", f"{ref}.yaml")
        if not path.is_file():
            shipped = sorted(p.stem for p in Path(shipped_config("study")).glob("*.yaml"))
            raise UserError(f"unknown study config {ref!r} (shipped: {', '.join(shipped)}; or give a YAML path)")
    return from_dict(StudyConfig, apply_overrides(load_yaml(path), overrides or []), where=path.name)


# --- runs ----------------------------------------------------------------------------------------

def run_overrides(study: StudyConfig, variant: VariantSpec, seed: int, run_name: str) -> list[str]:
    """The train-config overrides of one (variant, seed) run, in the order they apply."""
    out = list(study.train_set)
    out += [f"data.shards={json.dumps(study.shards)}", f"trainer.seed={seed}", f"data.seed={seed}",
            f"name={json.dumps(run_name)}", f"model.matched_gpt2={'true' if variant.matched_gpt2 else 'false'}"]
    for key, value in variant.model.items():
        out.append(f"model.overrides.{key}={json.dumps(value)}")  # JSON is YAML
    return out


def _finished(run_dir: Path, max_steps: int) -> bool:
    report = run_dir / "report.json"
    if not report.is_file() or not list_checkpoints(run_dir):
        return False
    try:
        return int(json.loads(report.read_text(encoding="utf-8")).get("steps", -1)) >= max_steps
    except (ValueError, OSError):
        return False


def train_one(study: StudyConfig, variant: VariantSpec, seed: int, run_dir: Path, workdir: Path) -> dict[str, Any]:
    """Train (or reuse, or resume) one run; returns its report.json contents."""
    from .train import prepare_run, run_fit
    from .train_config import load_train_config

    overrides = run_overrides(study, variant, seed, f"{study.name}-{run_dir.name}")
    cfg = load_train_config(study.train_config, overrides)
    stamp = run_dir / "study_run.json"
    settings = {"train_config": study.train_config, "overrides": overrides}
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) != settings:
        raise UserError(f"{run_dir} was trained with other settings (see {stamp.name}); give the study another "
                        "--out or name, or delete that run")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(stamp, json.dumps(settings, indent=2) + "\n")
    if not _finished(run_dir, cfg.trainer.max_steps):
        resume = "auto" if list_checkpoints(run_dir) else None
        run_fit(prepare_run(cfg, workdir=workdir, out=run_dir, resume=resume))
    return json.loads((run_dir / "report.json").read_text(encoding="utf-8"))


def evaluate_run(study: StudyConfig, run_dir: Path, workdir: Path) -> dict[str, Any]:
    from .eval_checkpoint import load_model
    from .eval_ppl import PplConfig, evaluate_ppl

    loaded = load_model(list_checkpoints(run_dir)[-1])
    e = study.eval
    return evaluate_ppl(loaded, study.shards, PplConfig(e.seq_len, e.batch_size, e.max_windows_per_domain),
                        workdir=workdir)


# --- aggregation ---------------------------------------------------------------------------------

def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for one value)."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else float("nan"))


def run_record(variant: str, seed: int, report: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    return {
        "variant": variant, "seed": seed, "run_dir": report.get("run_dir"), "arch": ev["arch"],
        "params": ev["params"], "steps": report.get("steps"), "tokens": report.get("tokens"),
        "tokens_per_s": report.get("tokens_per_s_mean"), "val_loss": ev["loss"], "val_ppl": ev["ppl"],
        "domain_ppl": {d: v["ppl"] for d, v in ev["domains"].items()},
        "sparsity": ev["sparsity"]["headline"] if "sparsity" in ev else None,
        "energy_pj_per_token": ev["energy"]["pj_per_token"], "eval_tokens": ev["tokens"],
    }


def aggregate(records: list[dict[str, Any]], variants: list[str], baseline: str | None) -> dict[str, Any]:
    """Per variant: mean and std over seeds of every number; ratios of means to the baseline's."""
    out: dict[str, Any] = {}
    domains = sorted({d for r in records for d in r["domain_ppl"]})
    for name in variants:
        rows = [r for r in records if r["variant"] == name]
        agg: dict[str, Any] = {"seeds": [r["seed"] for r in rows], "params": rows[0]["params"] if rows else None,
                               "arch": rows[0]["arch"] if rows else None}
        for key in ("val_ppl", "val_loss", "sparsity", "tokens_per_s", "energy_pj_per_token"):
            agg[key] = mean_std([r[key] for r in rows if r[key] is not None])
        agg["domain_ppl"] = {d: mean_std([r["domain_ppl"][d] for r in rows if d in r["domain_ppl"]]) for d in domains}
        out[name] = agg
    if baseline is not None and baseline in out:
        base = out[baseline]
        for agg in out.values():
            agg["ratio"] = {
                "params": agg["params"] / base["params"] if base["params"] else float("nan"),
                "val_ppl": agg["val_ppl"][0] / base["val_ppl"][0],
                "tokens_per_s": (agg["tokens_per_s"][0] / base["tokens_per_s"][0]
                                 if base["tokens_per_s"][0] else float("nan")),
                "energy": agg["energy_pj_per_token"][0] / base["energy_pj_per_token"][0],
                "domain_ppl": {d: agg["domain_ppl"][d][0] / base["domain_ppl"][d][0] for d in domains
                               if d in base["domain_ppl"]},
            }
    return {"domains": domains, "variants": out}


# --- rendering -----------------------------------------------------------------------------------

def fmt_ms(ms: tuple[float, float], digits: int = 4, pct: bool = False) -> str:
    m, s = ms
    if m is None or math.isnan(m):
        return "–"
    if pct:
        return f"{m:.2%}" if math.isnan(s) else f"{m:.2%} ± {s:.2%}"
    return f"{m:.{digits}g}" if math.isnan(s) else f"{m:.{digits}g} ± {s:.2g}"


def _ratio(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.3f}"


def render_table(study: StudyConfig, agg: dict[str, Any]) -> str:
    domains = agg["domains"]
    base = study.baseline
    head = ["variant", "params", "val PPL"] + [f"PPL {d}" for d in domains] + [
        "sparsity", "tokens/s", "energy/token (est.)"]
    if base:
        head += [f"PPL ÷ {base}", f"params ÷ {base}", f"tokens/s ÷ {base}", f"energy ÷ {base} (est.)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, a in agg["variants"].items():
        e = a["energy_pj_per_token"]
        cells = [name, f"{a['params']:,}", fmt_ms(a["val_ppl"])] + [fmt_ms(a["domain_ppl"][d]) for d in domains] + [
            fmt_ms(a["sparsity"], pct=True), fmt_ms(a["tokens_per_s"]),
            fmt_ms((e[0] / 1e3, e[1] / 1e3)) + " nJ"]
        if base:
            r = a.get("ratio") or {}
            cells += [_ratio(r.get("val_ppl")), _ratio(r.get("params")), _ratio(r.get("tokens_per_s")),
                      _ratio(r.get("energy"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(study: StudyConfig, agg: dict[str, Any], records: list[dict[str, Any]], plots: list[str],
                    shards_version: str, seq_len: int) -> str:
    order = sorted(agg["variants"], key=lambda n: agg["variants"][n]["val_ppl"][0])
    seeds = ", ".join(map(str, study.seeds))
    first = records[0] if records else {}
    lines = [
        f"# Ablation study: {study.name}", "",
        f"Train config `{study.train_config}` with {', '.join(f'`{s}`' for s in study.train_set) or 'no overrides'}; "
        f"shards `{shards_version}`; seeds {seeds} (trainer and data); {first.get('steps')} optimiser steps, "
        f"{first.get('tokens'):,} training tokens per run." if first else "",
        f"Validation: every window of {seq_len} tokens (fresh state per window) of the shards' validation split"
        + (f", at most {study.eval.max_windows_per_domain} per domain" if study.eval.max_windows_per_domain else "")
        + "; values are mean ± sample std over seeds (one seed: no std).", "",
        render_table(study, agg), "",
        "Ordering by validation PPL (lower is better), as measured: " + " < ".join(order) + ".", "",
        "Sparsity is the per-element fraction of zeros pooled over the encoder and block-output spikes "
        "(spec §5), on the validation tokens; GPT-2 has no spikes. tokens/s is training throughput on "
        "this machine. The energy column is an ESTIMATE, not a measurement: synaptic operations from "
        "the measured spike counts at 0.9 pJ per accumulate and 4.6 pJ per multiply-accumulate (45 nm), "
        "GPT-2 counted the same way; the counting rules are in `symboliclight/model/energy.py`.", "",
        "## Runs", "", "| variant | seed | params | val PPL | sparsity | tokens/s | run |", "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        sp = f"{r['sparsity']:.2%}" if r["sparsity"] is not None else "–"
        tps = f"{r['tokens_per_s']:.4g}" if r["tokens_per_s"] is not None else "–"
        lines.append(f"| {r['variant']} | {r['seed']} | {r['params']:,} | {r['val_ppl']:.4g} | {sp} | {tps} | "
                     f"{Path(r['run_dir'] or '').name} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _bar(ax, names: list[str], ms: list[tuple[float, float]], ylabel: str) -> None:
    means = [m for m, _ in ms]
    errs = [0.0 if math.isnan(s) else s for _, s in ms]
    ax.bar(range(len(names)), means, yerr=errs, capsize=3, color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def write_plots(out: Path, agg: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .run_logging import read_metrics

    variants = agg["variants"]
    names = list(variants)
    made = []
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    _bar(ax, names, [variants[n]["val_ppl"] for n in names], "validation PPL (mean ± std)")
    fig.tight_layout()
    fig.savefig(out / "ppl.png")
    plt.close(fig)
    made.append("ppl.png")

    domains = agg["domains"]
    fig, ax = plt.subplots(figsize=(min(14, max(7, 0.25 * len(domains) * len(names))), 4.5), dpi=110)
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        ms = [variants[n]["domain_ppl"].get(d, (float("nan"), float("nan"))) for d in domains]
        ax.bar([j + i * width for j in range(len(domains))], [m for m, _ in ms],
               yerr=[0.0 if math.isnan(s) else s for _, s in ms], width=width, label=n, capsize=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(domains))], domains, rotation=30, ha="right")
    ax.set_ylabel("validation PPL per domain")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "ppl_domains.png")
    plt.close(fig)
    made.append("ppl_domains.png")

    spiking = [n for n in names if not math.isnan(variants[n]["sparsity"][0])]
    if spiking:
        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        _bar(ax, spiking, [variants[n]["sparsity"] for n in spiking], "per-element sparsity (val)")
        ax.set_ylim(0, 1)
        fig.tight_layout()
        fig.savefig(out / "sparsity.png")
        plt.close(fig)
        made.append("sparsity.png")

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    plotted = False
    styles = ["-", "--", ":", "-."]
    for i, n in enumerate(names):  # one colour per variant, one line style per seed
        for j, r in enumerate(r for r in records if r["variant"] == n):
            series = sorted(read_metrics(r["run_dir"]).get("train/loss", {}).items())
            if series:
                ax.plot([s for s, _ in series], [v for _, v in series], lw=1, color=f"C{i % 10}",
                        ls=styles[j % len(styles)], label=f"{n} s{r['seed']}")
                plotted = True
    if plotted:
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("train loss")
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "loss.png")
        made.append("loss.png")
    plt.close(fig)
    return made


# --- the study -----------------------------------------------------------------------------------

def run_study(study: StudyConfig, *, workdir: str | Path = "work", out: str | Path | None = None) -> dict[str, Any]:
    """Train every (variant, seed), evaluate, and write the table, plots and JSON; returns the summary."""
    from symboliclight.pipeline.artifacts import resolve

    workdir = Path(workdir)
    shards_art = resolve(study.shards, "shards", workdir)  # fails before any training
    study = StudyConfig(**{**study.__dict__, "shards": str(shards_art.path.resolve())})
    out_dir = Path(out) if out else workdir / "studies" / study.name
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "study.yaml", yaml.safe_dump(to_dict(study), sort_keys=False, allow_unicode=True))
    records: list[dict[str, Any]] = []
    seq_len = 0
    for seed in study.seeds:
        for variant in study.variants:
            run_dir = out_dir / "runs" / f"{variant.name}-s{seed}"
            print(f"study {study.name}: {variant.name}, seed {seed} -> {run_dir}", flush=True)
            report = train_one(study, variant, seed, run_dir, workdir)
            ev = evaluate_run(study, run_dir, workdir)
            seq_len = ev["seq_len"]
            atomic_write_text(run_dir / "eval_ppl.json", json.dumps(ev, indent=2) + "\n")
            records.append(run_record(variant.name, seed, report, ev))
    names = [v.name for v in study.variants]
    records.sort(key=lambda r: (names.index(r["variant"]), r["seed"]))
    agg = aggregate(records, names, study.baseline)
    plots = write_plots(out_dir, agg, records)
    table = out_dir / "study.md"
    atomic_write_text(table, render_markdown(study, agg, records, plots, shards_art.version, seq_len))
    summary = {"name": study.name, "shards": shards_art.version, "seq_len": seq_len, "runs": records,
               "aggregate": agg, "table": str(table), "plots": plots}
    atomic_write_text(out_dir / "study.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary
