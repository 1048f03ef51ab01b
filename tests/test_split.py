"""The held-out split: stable per-document hash, minimum size, and no near-duplicate across it."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_fixtures import base_documents, with_duplicates, write_corpus
from symboliclight.pipeline.documents import read_jsonl_zst
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.dedup import normalize_exact
from symboliclight.pipeline.stages.executors import ExecutorConfig
from symboliclight.pipeline.stages.neardup_bench import jaccard
from symboliclight.pipeline.stages.runner import load_stage_config, run_stage
from symboliclight.pipeline.stages.split import SplitConfig, held_out, stable_keys


def _split(ids: list[str], cfg: SplitConfig) -> dict[str, bool]:
    arr = np.array(ids, dtype=str)
    return dict(zip(ids, held_out(stable_keys(arr, cfg.salt), arr, cfg).tolist(), strict=True))


def test_split_is_stable_when_documents_are_added() -> None:
    cfg = SplitConfig(val_fraction=0.1, min_val_docs=5)
    ids = [f"doc-{i}" for i in range(500)]
    before = _split(ids, cfg)
    after = _split(ids + [f"new-{i}" for i in range(700)], cfg)
    assert all(after[i] == before[i] for i in ids)
    assert 0.05 < sum(before.values()) / len(ids) < 0.15


def test_minimum_is_topped_up_in_hash_order_and_bounded() -> None:
    cfg = SplitConfig(val_fraction=0.01, min_val_docs=10, max_val_share=0.5)
    ids = [f"d{i}" for i in range(40)]
    val = _split(ids, cfg)
    assert sum(val.values()) == 10
    keys = dict(zip(ids, stable_keys(np.array(ids), cfg.salt).tolist(), strict=True))
    assert max(keys[i] for i in ids if val[i]) < min(keys[i] for i in ids if not val[i])
    assert sum(_split(ids[:6], cfg).values()) == 3  # at most half of a small domain
    assert sum(_split(ids[:1], cfg).values()) == 0  # a one-document domain stays in train
    # Documents below the fraction threshold stay held out whatever else is added.
    big = _split(ids + [f"x{i}" for i in range(3000)], cfg)
    threshold = int(cfg.val_fraction * 2.0**64)
    assert all(big[i] for i in ids if keys[i] < threshold)


def _texts(path, prefix: str) -> list[str]:
    return [d.text for f in sorted(path.glob(f"{prefix}/*.jsonl.zst")) for d in read_jsonl_zst(f)]


def _crossings(art_path) -> int:
    val, train = _texts(art_path, "val"), _texts(art_path, "train")
    val_norm = {normalize_exact(t) for t in val}
    n = sum(normalize_exact(t) in val_norm for t in train)
    n += sum(1 for v in val for t in train if jaccard(v, t, 5) >= 0.8 and normalize_exact(v) != normalize_exact(t))
    return n


@pytest.mark.parametrize("deduplicate", [True, False])
def test_no_validation_document_or_near_duplicate_in_train(tmp_path, deduplicate: bool) -> None:
    docs, _planted = with_duplicates(base_documents(30, 30))
    art = write_corpus(tmp_path / "in", docs)
    ex = ExecutorConfig(tasks=1, workers=1)
    if deduplicate:
        dedup = get_stage("dedup")
        art = run_stage(dedup, art, load_stage_config(dedup), workdir=tmp_path / "w", executor=ex).artifact
    balance = get_stage("balance")
    res = run_stage(balance, art, load_stage_config(balance), workdir=tmp_path / "w", executor=ex)
    assert _texts(res.path, "val") and _texts(res.path, "train")
    if deduplicate:
        assert _crossings(res.path) == 0
        assert res.artifact.manifest["mixture"]["input_deduplicated"] is True
    else:  # the same corpus without dedup does leak copies across the split: the check can fail
        assert _crossings(res.path) > 0
