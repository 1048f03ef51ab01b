"""Dedup: shingling, exact normalisation, MinHash statistics, clustering, survivors, and the stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dedup_fixtures import base_documents, with_duplicates, write_corpus
from symboliclight.pipeline.documents import read_jsonl_zst
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.arrays_io import load_arrays
from symboliclight.pipeline.stages.dedup import (
    EXACT_DUP,
    KEEP,
    NEAR_DUP,
    DedupClusters,
    DedupConfig,
    DedupSignatures,
    SignatureBuilder,
    decide,
    load_dedup_config,
    normalize_exact,
    sig_path,
)
from symboliclight.pipeline.stages.executors import ExecutorConfig
from symboliclight.pipeline.stages.minhash import MinHashConfig, MinHasher, components, duplicate_pairs
from symboliclight.pipeline.stages.runner import load_stage_config, run_stage
from symboliclight.pipeline.stages.shingles import (
    reference_shingle_hashes,
    reference_unit_hash,
    reference_units,
    shingles,
    unit_hashes,
)

MIXED = [
    "Hello, World! 这是一个测试。foo_bar 3.14 Ｆｕｌｌ ß ǅ naïve café",
    "日本語のテキスト 한국어 텍스트 𠀀𠀁 emoji 🎉🎉 tab\tnew\nline",
    "def f(x):\n    return x**2  # 注释：平方\n",
    "e\u0301 versus \u00e9, Ωmega ΣΊΣΥΦΟΣ, ДОБРЫЙ день",
    "",
    "!!! ... ???",
    "a",
]


@pytest.mark.parametrize("text", MIXED)
def test_vectorised_units_agree_with_the_regex_rule(text: str) -> None:
    units = reference_units(text)
    assert [int(h) for h in unit_hashes(text)] == [reference_unit_hash(u) for u in units]
    for n in (1, 3, 5):
        assert [int(h) for h in shingles(text, n)] == reference_shingle_hashes(units, n)


def test_units_are_han_characters_and_words() -> None:
    assert reference_units("深度学习 Deep-Learning 2024年") == ["深", "度", "学", "习", "deep", "learning", "2024", "年"]
    # Fewer units than n: one shingle of them all; no units: no shingles.
    assert shingles("两个", 5).size == 1
    assert shingles(" ,.;!? 。，", 5).size == 0


def test_exact_normalisation() -> None:
    assert normalize_exact("  Hello\u3000\tWORLD \n") == "hello world"
    assert normalize_exact("caf\u0065\u0301") == normalize_exact("café")  # NFC
    assert normalize_exact("你好。") != normalize_exact("你好.")  # Chinese punctuation is kept as is


def test_minhash_estimates_are_unbiased_with_binomial_spread() -> None:
    cfg = MinHashConfig()
    hasher = MinHasher(cfg)
    rng = np.random.default_rng(7)
    for jac in (0.5, 0.8):
        errs = []
        for _ in range(200):
            n, ov = 300, 0
            ov = int(round(2 * n * jac / (1 + jac)))
            pool = rng.integers(0, 2**63, size=2 * n - ov, dtype=np.uint64)
            a, b = pool[:n], pool[n - ov:]
            true = ov / (2 * n - ov)
            errs.append((hasher.signature(a) == hasher.signature(b)).mean() - true)
        errs = np.array(errs)
        sd = np.sqrt(jac * (1 - jac) / cfg.num_perm)
        assert abs(errs.mean()) < 3 * sd / np.sqrt(len(errs))
        assert 0.8 * sd < errs.std() < 1.2 * sd


def test_components_match_union_find_and_ignore_pair_order() -> None:
    rng = np.random.default_rng(3)
    n = 200
    pairs = rng.integers(0, n, size=(150, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in pairs:
        a, b = find(int(i)), find(int(j))
        parent[max(a, b)] = min(a, b)
    expected = np.array([min(k for k in range(n) if find(k) == find(x)) for x in range(n)])
    assert np.array_equal(components(n, pairs), expected)
    assert np.array_equal(components(n, pairs[rng.permutation(len(pairs))][:, ::-1]), expected)


def test_banding_and_verification_on_edited_text() -> None:
    cfg = load_dedup_config()
    base = base_documents(4, 4)
    texts = [d.text for d in base]
    copy = texts[0].replace("的", "之", 1) if "的" in texts[0] else texts[0][:-3]
    hasher = MinHasher(cfg.minhash)
    sigs = np.stack([hasher.signature(shingles(t, cfg.shingles.n)) for t in [*texts, copy]])
    pairs, _ = duplicate_pairs(sigs, cfg.minhash)
    assert [tuple(p) for p in pairs] == [(0, len(texts))]


def _builder(items: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    b = SignatureBuilder(DedupConfig())
    for doc_id, text in items:
        b.add(doc_id, text)
    return b.arrays()


LONG_EN = " ".join(f"word{i} alpha beta gamma delta" for i in range(60))


def test_survivor_rule_reasons_and_cluster_sizes() -> None:
    items = [
        ("b", LONG_EN),
        ("a", "  " + LONG_EN.upper() + "  "),  # exact copy (same normalised text), smaller id
        ("c", LONG_EN + " extra tail words here"),  # near duplicate, longer: the survivor
        ("d", "完全不同的中文文本，用来测试去重的效果。这里有很多汉字，还有标点。"),
        ("e", "something unrelated with enough words to have shingles of its own"),
    ]
    res, summary = decide(_builder(items), DedupConfig())
    status = dict(zip([i for i, _ in items], res["status"].tolist(), strict=True))
    assert status == {"b": NEAR_DUP, "a": NEAR_DUP, "c": KEEP, "d": KEEP, "e": KEEP}
    assert res["survivor"].tolist()[:3] == [2, 2, 2]
    assert res["cluster_size"].tolist() == [3, 3, 3, 1, 1]
    assert summary["distinct_texts"] == 4 and summary["near_dup"] == 2 and summary["exact_dup"] == 0
    # Without the longer near copy, the exact pair keeps its smallest id.
    res2, _ = decide(_builder(items[:2]), DedupConfig())
    assert res2["status"].tolist() == [EXACT_DUP, KEEP]


def test_decisions_do_not_depend_on_input_order() -> None:
    docs, _ = with_duplicates(base_documents(20, 20))
    items = [(d.id, d.text) for d in docs]
    res, _ = decide(_builder(items), DedupConfig())
    perm = np.random.default_rng(1).permutation(len(items))
    res_p, _ = decide(_builder([items[i] for i in perm]), DedupConfig())
    kept = {items[i][0] for i in np.flatnonzero(res["status"] == KEEP)}
    kept_p = {items[perm[i]][0] for i in np.flatnonzero(res_p["status"] == KEEP)}
    assert kept == kept_p


def test_corrupted_signature_file_is_named(tmp_path: Path) -> None:
    cfg = DedupConfig()
    list(DedupSignatures(tmp_path, cfg).run(iter([]), rank=0, world_size=1))
    path = sig_path(tmp_path, 0)
    load_arrays(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=path.name):
        list(DedupClusters(tmp_path, cfg, signature_tasks=1).run(None, 0, 1))


@pytest.fixture(scope="module")
def dedup_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dedup")
    docs, planted = with_duplicates(base_documents(30, 30))
    art = write_corpus(root / "in", docs)
    stage = get_stage("dedup")
    res = run_stage(stage, art, load_stage_config(stage), workdir=root / "work",
                    executor=ExecutorConfig(tasks=1, workers=1))
    return docs, planted, art, res, root


def _read_dir(path: Path) -> dict[str, list]:
    return {p.relative_to(path).as_posix(): list(read_jsonl_zst(p)) for p in sorted(path.rglob("*.jsonl.zst"))}


def test_stage_finds_planted_duplicates_and_conserves_counts(dedup_run) -> None:
    docs, planted, _art, res, _root = dedup_run
    files = _read_dir(res.path)
    kept = {d.id: d for name, ds in files.items() if not name.startswith("excluded/") for d in ds}
    dropped = {d.id: d for name, ds in files.items() if name.startswith("excluded/") for d in ds}
    assert len(kept) + len(dropped) == len(docs)
    counts = res.artifact.manifest["counts"]
    assert counts["in"]["documents"] == counts["kept"]["documents"] + counts["dropped"]["documents"] == len(docs)
    for copy_id, orig_id in {**planted.exact, **planted.near}.items():
        pair = {copy_id, orig_id}
        assert len(pair & set(kept)) == 1, f"exactly one of {pair} must survive"
        (gone,) = pair & set(dropped)
        assert dropped[gone].metadata["dedup_kept_id"] in pair
        assert kept[dropped[gone].metadata["dedup_kept_id"]].metadata["dup_cluster_size"] >= 2
    for copy_id, orig_id in planted.exact.items():
        gone = copy_id if copy_id in dropped else orig_id
        assert dropped[gone].metadata["drop_reason"] == "exact_dup"
        assert dropped[gone].metadata["dedup_similarity"] == 1.0
    assert all(dropped[c if c in dropped else o].metadata["dedup_similarity"] >= 0.7 for c, o in planted.near.items())
    near_reasons = {dropped[c if c in dropped else o].metadata["drop_reason"] for c, o in planted.near.items()}
    assert near_reasons == {"near_dup"}
    planted_ids = set(planted.exact) | set(planted.exact.values()) | set(planted.near) | set(planted.near.values())
    assert set(dropped) <= planted_ids  # nothing unplanted is removed from this real text
    assert all(d.metadata["dup_cluster_size"] == 1 for i, d in kept.items() if i not in planted_ids)
    assert res.artifact.manifest["dedup"]["near_dup"] == len(planted.near)


def test_stage_is_deterministic_cached_and_independent_of_task_count(dedup_run) -> None:
    _docs, _planted, art, res, root = dedup_run
    stage = get_stage("dedup")
    again = run_stage(stage, art, load_stage_config(stage), workdir=root / "work",
                      executor=ExecutorConfig(tasks=1, workers=1))
    assert again.status == "cached" and again.version == res.version
    # Another task count (signatures and decisions are split differently): the same bytes.
    other = run_stage(stage, art, load_stage_config(stage), workdir=root / "work2",
                      executor=ExecutorConfig(tasks=3, workers=1))
    assert other.version == res.version
    a = {e["path"]: e["sha256"] for e in res.artifact.manifest["files"] if e["path"].endswith(".jsonl.zst")}
    b = {e["path"]: e["sha256"] for e in other.artifact.manifest["files"] if e["path"].endswith(".jsonl.zst")}
    assert a == b and a


def test_mark_step_refuses_input_that_changed(tmp_path: Path) -> None:
    from datatrove.data import Document as DTDocument
    from symboliclight.pipeline.stages.dedup import DedupMark

    cfg = DedupConfig()
    docs = [DTDocument(text=LONG_EN + str(i), id=f"id{i}", metadata={}) for i in range(3)]
    list(DedupSignatures(tmp_path, cfg).run(iter(docs), rank=0, world_size=1))
    list(DedupClusters(tmp_path, cfg, signature_tasks=1).run(None, 0, 1))
    assert len(list(DedupMark(tmp_path).run(iter(docs), 0, 1))) == 3
    changed = [docs[0], DTDocument(text="other", id="other", metadata={}), docs[2]]
    with pytest.raises(UserError, match="differs from the signature step"):
        list(DedupMark(tmp_path).run(iter(changed), 0, 1))
    with pytest.raises(UserError, match="signature step saw 3"):
        list(DedupMark(tmp_path).run(iter(docs[:2]), 0, 1))


def test_malformed_lines_are_quarantined_and_counted(tmp_path: Path) -> None:
    import orjson
    import zstandard
    from symboliclight.pipeline.artifacts import write_manifest

    docs, _planted = with_duplicates(base_documents(6, 6))
    root = tmp_path / "in"
    root.mkdir()
    lines = [orjson.dumps(d.to_dict()) for d in docs]
    lines.insert(3, b'{"id": "broken", "text": ')  # malformed JSON
    lines.insert(7, b'{"id": "nolang", "text": "x", "metadata": {"domain": "news", "source": "t"}}')
    path = root / "news.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    art = write_manifest(root, stage="sample", version="badinput0001", parents={}, config={}, counts={}, files=[path])
    stage = get_stage("dedup")
    res = run_stage(stage, art, load_stage_config(stage), workdir=tmp_path / "w", executor=ExecutorConfig(tasks=2, workers=1))
    c = res.artifact.manifest["counts"]
    assert c["quarantined"] == 2 and c["quarantined_per_reason"] == {"malformed_json": 1, "missing_lang": 1}
    assert c["in"]["documents"] == len(docs) + 2 == c["kept"]["documents"] + c["dropped"]["documents"] + 2
    assert c["dropped"]["documents"] == res.artifact.manifest["dedup"]["exact_dup"] + res.artifact.manifest["dedup"]["near_dup"] > 0
