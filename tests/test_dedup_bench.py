"""The generated near-duplicate benchmark meets the targets in both languages (small, fast version;
`bench/dedup_bench.py` runs the full one and measures speed)."""

from __future__ import annotations

import pytest
from symboliclight.pipeline.stages.dedup import load_dedup_config
from symboliclight.pipeline.stages.neardup_bench import (
    BenchConfig,
    chinese_texts,
    edit_rate_for,
    generate,
    jaccard,
    run_benchmark,
)


@pytest.fixture(scope="module")
def results():
    cfg = load_dedup_config()
    return run_benchmark(BenchConfig(bases_per_lang=50, copies_per_base=5), cfg.minhash, cfg.shingles.n)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_recall_and_false_positive_targets(results, lang: str) -> None:
    r = results[lang]
    assert r.recall_pairs >= 40 and r.fpr_pairs >= 40, "benchmark must populate both regions"
    assert r.recall >= 0.95, f"{lang} recall {r.recall:.3f} at Jaccard >= 0.8"
    assert r.fpr <= 0.01, f"{lang} false-positive rate {r.fpr:.3f} at Jaccard <= 0.5"
    assert r.unrelated_detected == 0


def test_generated_jaccard_tracks_the_target() -> None:
    cfg = load_dedup_config()
    bases = chinese_texts(12, 600)
    docs, pairs = generate(bases, "zh", BenchConfig(bases_per_lang=12, copies_per_base=4), cfg.shingles.n)
    assert len(docs) == 12 * 5 and len(pairs) == 48
    for p in pairs:
        assert p.jaccard == pytest.approx(jaccard(docs[p.base], docs[p.copy], cfg.shingles.n))
        assert abs(p.jaccard - p.target) < 0.2
    assert edit_rate_for(1.0, 5) == 0.0
