"""The domain mixture: water-filled caps, the total, selection, and the balance stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dedup_fixtures import base_documents, write_corpus
from symboliclight.pipeline.documents import Document, read_jsonl_zst
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.executors import ExecutorConfig
from symboliclight.pipeline.stages.mixture import capped_targets, plan_mixture, select_documents
from symboliclight.pipeline.stages.runner import load_stage_config, run_stage

SHARES = {"a": 0.5, "b": 0.3, "c": 0.2}


def test_caps_bind_and_the_rest_is_water_filled() -> None:
    natural = {"a": 0.05, "b": 0.45, "c": 0.5}
    capped = capped_targets(SHARES, natural, 4.0)
    assert capped["a"] == pytest.approx(0.2)  # 0.05 x 4
    assert capped["b"] == pytest.approx(0.8 * 0.3 / 0.5) and capped["c"] == pytest.approx(0.8 * 0.2 / 0.5)
    assert sum(capped.values()) == pytest.approx(1.0)
    assert capped_targets(SHARES, {"a": 0.5, "b": 0.3, "c": 0.2}, 4.0) == pytest.approx(SHARES)


def test_total_keeps_every_domain_within_its_cap() -> None:
    natural = {"a": 5_000, "b": 45_000, "c": 50_000}
    plan = plan_mixture(natural, SHARES, 4.0)
    assert plan["total_characters"] == 100_000 and not plan["total_clamped"]
    assert plan["domains"]["a"]["cap_binds"] and not plan["domains"]["b"]["cap_binds"]
    assert max(d["repeat_factor"] for d in plan["domains"].values()) == pytest.approx(4.0)
    big = plan_mixture(natural, SHARES, 4.0, total_characters=10_000_000)
    assert big["total_clamped"]
    assert max(d["repeat_factor"] for d in big["domains"].values()) == pytest.approx(4.0)
    with pytest.raises(UserError, match="not in the recipe"):
        plan_mixture({"zzz": 10}, SHARES, 4.0)


def test_missing_domain_is_renormalised_away() -> None:
    plan = plan_mixture({"a": 100, "b": 100}, SHARES, 5.0)
    assert plan["missing_domains"] == ["c"]
    assert plan["domains"]["a"]["target_share"] == pytest.approx(0.625)


def test_selection_hits_fractional_factors() -> None:
    rng = np.random.default_rng(0)
    chars = rng.integers(100, 1000, size=400)
    keys = rng.integers(0, 2**63, size=400).astype(np.uint64)
    ids = np.array([f"d{i}" for i in range(400)])
    for factor in (0.3, 1.0, 2.6, 5.0):
        reps = select_documents(chars, keys, ids, factor)
        assert abs((reps * chars).sum() - factor * chars.sum()) <= chars.max() / 2
        assert reps.max() - reps.min() <= 1
    assert np.array_equal(select_documents(chars, keys, ids, 2.6), select_documents(chars, keys, ids, 2.6))


def _corpus(root: Path, small_news: bool) -> tuple[list[Document], object]:
    docs = base_documents(80, 80)
    if small_news:  # news far below its recipe share: its cap must bind
        news = [d for d in docs if d.domain == "news"]
        docs = [d for d in docs if d.domain != "news"] + news[:6]
    return docs, write_corpus(root, docs)


def _run(art, root: Path, user: dict | None = None):
    stage = get_stage("balance")
    return run_stage(stage, art, load_stage_config(stage, user), workdir=root, executor=ExecutorConfig(tasks=1, workers=1))


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("balance")
    docs, art = _corpus(root / "in", small_news=False)
    return docs, art, _run(art, root / "w"), root


def test_achieved_shares_within_one_point(balanced) -> None:
    _docs, _art, res, _root = balanced
    plan = res.artifact.manifest["mixture"]
    present = {d: r for d, r in plan["domains"].items() if not r["missing"]}
    assert set(present) == {"news", "tech-zh", "tech-en", "reference"}
    assert all(not r["cap_binds"] for r in present.values())
    assert all(abs(r["error_pp"]) <= 1.0 and r["within_tolerance"] for r in present.values())
    # Achieved shares recomputed from the written training files (copies included).
    chars: dict[str, int] = {}
    for f in sorted((res.path / "train").glob("*.jsonl.zst")):
        for d in read_jsonl_zst(f):
            chars[d.domain] = chars.get(d.domain, 0) + len(d.text)
    total = sum(chars.values())
    for d, r in present.items():
        assert abs(chars[d] / total - r["capped_target_share"]) <= 0.01
        assert chars[d] == r["achieved_characters"]


def test_counts_conserved_and_repeats_materialised(balanced) -> None:
    docs, _art, res, _root = balanced
    m = res.artifact.manifest
    c = m["counts"]
    assert c["in"]["documents"] == len(docs) == c["kept"]["documents"] + c["dropped"]["documents"]
    assert set(c["dropped_per_reason"]) <= {"mix_subsampled"}
    train = [d for f in sorted((res.path / "train").glob("*.jsonl.zst")) if ".repeats." not in f.name
             for d in read_jsonl_zst(f)]
    copies = [d for f in sorted((res.path / "train").glob("*.repeats.jsonl.zst")) for d in read_jsonl_zst(f)]
    assert len(copies) == sum(d.metadata["mix_repeats"] - 1 for d in train) > 0
    by_id = {d.id: d for d in train}
    assert all(by_id[c.metadata["repeat_of"]].text == c.text for c in copies)
    val = [d for f in sorted((res.path / "val").glob("*.jsonl.zst")) for d in read_jsonl_zst(f)]
    assert len(val) + len(train) == c["kept"]["documents"]
    assert (res.path / "balance_report.txt").is_file()


def test_same_bytes_twice_whatever_the_task_count(balanced) -> None:
    _docs, art, res, root = balanced
    stage = get_stage("balance")
    other = run_stage(stage, art, load_stage_config(stage), workdir=root / "w2",
                      executor=ExecutorConfig(tasks=2, workers=1))
    files = lambda r: {e["path"]: e["sha256"] for e in r.artifact.manifest["files"] if e["path"].endswith(".jsonl.zst")}  # noqa: E731
    assert files(res) == files(other)
    assert json.loads((res.path / "balance_report.json").read_text()) == json.loads((other.path / "balance_report.json").read_text())


def test_cap_binds_and_report_says_so(tmp_path: Path) -> None:
    _docs, art = _corpus(tmp_path / "in", small_news=True)
    res = _run(art, tmp_path / "w", {"balance": {"mixture": {"max_oversample": 2.0}}})
    plan = res.artifact.manifest["mixture"]
    news = plan["domains"]["news"]
    assert news["cap_binds"]
    assert news["capped_target_share"] == pytest.approx(2.0 * news["natural_share"])
    assert news["achieved_repeat_factor"] == pytest.approx(2.0, abs=0.01)
    assert all(r["repeat_factor"] <= 2.0 + 1e-9 for r in plan["domains"].values())
    assert all(r["within_tolerance"] for r in plan["domains"].values() if not r["missing"])
    assert "cap binds for news" in (res.path / "balance_report.txt").read_text()


def test_mixture_plan_is_identical_under_any_hash_seed():
    """The plan must not depend on set iteration order (string hashing differs per process: forked,
    forkserver and Ray workers each plan in their own interpreter)."""
    import subprocess
    import sys

    code = ("import json; from symboliclight.pipeline.stages.mixture import plan_mixture;"
            "print(json.dumps(plan_mixture({'news': 1000, 'reviews': 333, 'code': 77, 'math': 5, 'legal': 901},"
            "{'news': 0.3, 'reviews': 0.2, 'code': 0.25, 'math': 0.15, 'legal': 0.1}, 5.0), sort_keys=True))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(6)}
    assert len(outs) == 1
