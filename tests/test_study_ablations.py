"""`study ablations`: a minimal real study (2 variants x 2 seeds, a few steps); the table must say
what the runs measured."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml
from eval_fixtures import shards_dir
from symboliclight.model.ablation_study import fmt_ms, load_study_config, run_study
from symboliclight.model.checkpointing import list_checkpoints, load_checkpoint_file
from symboliclight.model.eval_checkpoint import load_model
from symboliclight.model.eval_ppl import PplConfig, evaluate_ppl
from symboliclight.pipeline.errors import UserError
from train_fixtures import SMALL_RUN


def _study_yaml(path: Path, shards_path: Path, **extra) -> Path:
    cfg = {
        "name": "mini",
        "train_config": "tiny-cpu",
        "train_set": [s for s in SMALL_RUN if not s.startswith("trainer.log_every")] + [
            "trainer.max_steps=6", "trainer.log_every_n_steps=2", "trainer.val_every_n_steps=0",
            "trainer.val_at_end=false", "trainer.ckpt_every_n_steps=0", "guard.enabled=false"],
        "shards": str(shards_path),
        "seeds": [1, 2],
        "variants": [{"name": "full"}, {"name": "gpt2", "matched_gpt2": True}],
        "baseline": "gpt2",
        "eval": {"batch_size": 8, "max_windows_per_domain": 3},
        **extra,
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    shards = shards_dir(tmp_path_factory)
    root = tmp_path_factory.mktemp("study")
    cfg = load_study_config(_study_yaml(root / "mini.yaml", shards))
    out = root / "out"
    return {"summary": run_study(cfg, out=out), "out": out, "cfg": cfg, "shards": shards}


def _row(table: str, variant: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == variant:
            return cells
    raise AssertionError(f"no row for {variant}")


def _header(table: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith("| variant | params"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table_reports_the_runs_metrics(study):
    out = study["out"]
    text = (out / "study.md").read_text()
    head = _header(text)
    per_variant: dict[str, list[dict]] = {"full": [], "gpt2": []}
    for run in sorted((out / "runs").iterdir()):
        ev = json.loads((run / "eval_ppl.json").read_text())
        report = json.loads((run / "report.json").read_text())
        per_variant[run.name.rsplit("-s", 1)[0]].append({"ev": ev, "report": report})
    assert [len(v) for v in per_variant.values()] == [2, 2]
    means = {}
    for variant, runs in per_variant.items():
        row = dict(zip(head, _row(text, variant), strict=True))
        ppls = [r["ev"]["ppl"] for r in runs]
        means[variant] = statistics.fmean(ppls)
        assert row["val PPL"] == fmt_ms((statistics.fmean(ppls), statistics.stdev(ppls)))
        assert row["params"] == f"{runs[0]['ev']['params']:,}"
        tps = [r["report"]["tokens_per_s_mean"] for r in runs]
        assert row["tokens/s"] == fmt_ms((statistics.fmean(tps), statistics.stdev(tps)))
        for domain in runs[0]["ev"]["domains"]:
            vals = [r["ev"]["domains"][domain]["ppl"] for r in runs]
            assert row[f"PPL {domain}"] == fmt_ms((statistics.fmean(vals), statistics.stdev(vals)))
        if variant == "full":
            sp = [r["ev"]["sparsity"]["headline"] for r in runs]
            assert row["sparsity"] == fmt_ms((statistics.fmean(sp), statistics.stdev(sp)), pct=True)
        else:
            assert row["sparsity"] == "–"
    full = dict(zip(head, _row(text, "full"), strict=True))
    assert full["PPL ÷ gpt2"] == f"{means['full'] / means['gpt2']:.3f}"
    assert dict(zip(head, _row(text, "gpt2"), strict=True))["PPL ÷ gpt2"] == "1.000"
    order = " < ".join(sorted(means, key=means.get))
    assert f"as measured: {order}." in text
    assert "ESTIMATE" in text
    for png in ("ppl.png", "ppl_domains.png", "sparsity.png", "loss.png"):
        assert (out / png).stat().st_size > 1000


def test_runs_share_budget_and_seeds_and_scores_are_reproducible(study):
    out = study["out"]
    for seed in (1, 2):
        metas = []
        for variant in ("full", "gpt2"):
            ckpt = load_checkpoint_file(list_checkpoints(out / "runs" / f"{variant}-s{seed}")[-1])
            metas.append((ckpt["symboliclight"]["config"]["trainer"]["seed"], ckpt["symboliclight"]["config"]["data"]["seed"],
                          ckpt["global_step"], ckpt["symboliclight"]["tokens_seen"], ckpt["ShardsDataModule"]["windows_consumed"]))
        assert metas[0] == metas[1] and metas[0][:3] == (seed, seed, 6)
    record = next(r for r in study["summary"]["runs"] if r["variant"] == "full" and r["seed"] == 2)
    again = evaluate_ppl(load_model(list_checkpoints(out / "runs" / "full-s2")[-1]), study["shards"],
                         PplConfig(batch_size=2, max_windows_per_domain=3))
    assert again["ppl"] == pytest.approx(record["val_ppl"], rel=1e-6)
    assert record["arch"] == "symboliclight" and next(r for r in study["summary"]["runs"] if r["variant"] == "gpt2")["arch"] == "gpt2"


def test_rerun_reuses_finished_runs(study):
    out = study["out"]
    ckpts = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/step-*.ckpt")}
    before = (out / "study.md").read_text()
    run_study(study["cfg"], out=out)
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/step-*.ckpt")} == ckpts
    assert (out / "study.md").read_text() == before
    changed = load_study_config(_study_yaml(out.parent / "changed.yaml", study["shards"],
                                            train_set=[*study["cfg"].train_set, "optim.lr=0.01"]))
    with pytest.raises(UserError, match="trained with other settings"):
        run_study(changed, out=out)


def test_bad_study_configs(tmp_path, tmp_path_factory):
    shards = shards_dir(tmp_path_factory)
    with pytest.raises(UserError, match="baseline 'nope'"):
        load_study_config(_study_yaml(tmp_path / "a.yaml", shards, baseline="nope"))
    with pytest.raises(UserError, match="distinct names"):
        load_study_config(_study_yaml(tmp_path / "b.yaml", shards, variants=[{"name": "x"}, {"name": "x"}]))
    with pytest.raises(UserError, match="unknown key"):
        load_study_config(_study_yaml(tmp_path / "c.yaml", shards, epochs=3))
    cfg = load_study_config(_study_yaml(tmp_path / "d.yaml", shards, shards=str(tmp_path / "none")))
    with pytest.raises(UserError, match="not found"):
        run_study(cfg, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()  # checked before any work
    shipped = load_study_config("tiny")
    assert [v.name for v in shipped.variants] == ["full", "no-attention", "no-decay", "static-prior", "topk-mask", "gpt2"]
    assert len(shipped.seeds) >= 2 and shipped.baseline == "gpt2"
