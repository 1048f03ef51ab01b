"""ShardsDataModule: window contents, mixture and curriculum, ranks/workers, exact resume, validation."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from shards_fixtures import real_documents, train_tokenizer, write_corpus
from symboliclight.model.data import (
    DataConfig,
    Mixture,
    ShardsDataModule,
    build_mixture,
    capped_weights,
    load_data_config,
    plan_windows,
)
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import load_recipe
from symboliclight.tokenizer.pack import PackConfig, pack

SEQ = 48


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dmwork")
    docs = real_documents()
    corpus = write_corpus(work / "corpus", docs)
    tok = train_tokenizer(work / "tok", docs)
    return pack(str(corpus.path), str(tok.path), PackConfig(shard_tokens=70_000, val_fraction=0.05),
                workdir=work, out=work / "shards").artifact.path


def make(shards: Path, **kw) -> ShardsDataModule:
    args = {"shards": str(shards), "seq_len": SEQ, "batch_size": 4, "num_workers": 0, "seed": 3} | kw
    rank, world = args.pop("rank", None), args.pop("world_size", None)
    dm = ShardsDataModule(DataConfig(**args), expected_vocab_size=1000, rank=rank, world_size=world)
    dm.setup("fit")
    return dm


def take(dm: ShardsDataModule, n: int) -> list[dict[str, torch.Tensor]]:
    """Consume `n` training batches the way the trainer does (the hook advances the cursor)."""
    out = []
    for batch in dm.train_dataloader():
        out.append(dm.on_before_batch_transfer(batch, 0))
        if len(out) == n:
            break
    return out


def reference_rings(shards: Path, split: str) -> dict[str, np.ndarray]:
    """Each domain's documents concatenated in packed order, built with plain loops over the files."""
    import json

    m = json.loads((shards / "manifest.json").read_text())
    rings: dict[str, list[np.ndarray]] = {d: [] for d in m["domains"]}
    for e in m["splits"][split]["shards"]:
        toks = np.fromfile(shards / e["tokens_file"], dtype="<u2")
        ends = np.fromfile(shards / e["index_file"], dtype="<u8")
        doms = np.fromfile(shards / e["domain_file"], dtype="u1")
        start = 0
        for end, d in zip(ends, doms, strict=True):
            rings[m["domains"][d]].append(toks[start:int(end)])
            start = int(end)
    return {d: np.concatenate(v) if v else np.empty(0, np.uint16) for d, v in rings.items()}


def test_windows_are_slices_of_their_domain(shards: Path) -> None:
    dm = make(shards)
    rings = reference_rings(shards, "train")
    batches = take(dm, 25)
    for b in batches:
        k = b["window"].numpy()
        dom, start = plan_windows(3, k, dm.mixture, dm.train_streams.sizes, SEQ, dm.total_tokens)
        assert np.array_equal(dom, b["domain"].numpy())
        for row, d, s in zip(b["tokens"].numpy(), dom, start, strict=True):
            ring = rings[dm.domains[d]]
            want = np.take(ring, np.arange(s, s + SEQ + 1), mode="wrap")
            assert np.array_equal(row, want)
    assert b["tokens"].dtype == torch.int64 and b["tokens"].shape == (4, SEQ + 1)


def test_deterministic_and_seed_dependent(shards: Path) -> None:
    a = [b["tokens"] for b in take(make(shards), 5)]
    b = [b["tokens"] for b in take(make(shards), 5)]
    c = [b["tokens"] for b in take(make(shards, seed=4), 5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_ranks_get_disjoint_interleaved_streams(shards: Path) -> None:
    single = take(make(shards, world_size=1, rank=0), 6)
    r0 = take(make(shards, world_size=2, rank=0), 3)
    r1 = take(make(shards, world_size=2, rank=1), 3)
    flat = torch.cat([b["tokens"] for b in single])
    inter = torch.stack([x for p, q in zip(r0, r1, strict=True) for pair in zip(p["tokens"], q["tokens"], strict=True)
                         for x in pair])
    assert torch.equal(flat, inter)  # rank r's k-th window is global window 2k + r
    assert not torch.equal(r0[0]["tokens"], r1[0]["tokens"])


def test_workers_yield_the_same_sequence(shards: Path) -> None:
    plain = take(make(shards, num_workers=0), 7)
    two = take(make(shards, num_workers=2), 7)
    for x, y in zip(plain, two, strict=True):
        assert torch.equal(x["tokens"], y["tokens"]) and torch.equal(x["window"], y["window"])


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_exactly(shards: Path, workers: int) -> None:
    straight = take(make(shards, num_workers=workers), 10)
    first = make(shards, num_workers=workers)
    head = take(first, 4)
    state = first.state_dict()
    assert state["windows_consumed"] == 16
    resumed = make(shards, num_workers=workers)
    resumed.load_state_dict(state)
    tail = take(resumed, 6)
    for x, y in zip(straight, head + tail, strict=True):
        assert torch.equal(x["tokens"], y["tokens"])


def test_resume_refuses_other_seed_or_shards(shards: Path) -> None:
    dm = make(shards)
    take(dm, 1)
    state = dm.state_dict()
    with pytest.raises(UserError, match="seed"):
        make(shards, seed=9).load_state_dict(state)
    other = dict(state, shards_version="000000000000")
    with pytest.raises(UserError, match="checkpoint read shards 000000000000"):
        make(shards).load_state_dict(other)


def test_capped_weights() -> None:
    natural = {"a": 0.70, "b": 0.28, "c": 0.02}
    w = capped_weights({"a": 0.2, "b": 0.4, "c": 0.4}, natural, max_oversample=5.0)
    assert abs(sum(w.values()) - 1) < 1e-12
    assert w["c"] == pytest.approx(0.10)  # capped at 0.02 x 5, the rest shared 1:2
    assert w["a"] == pytest.approx(0.30) and w["b"] == pytest.approx(0.60)
    assert all(w[d] <= natural[d] * 5 + 1e-12 for d in w)
    with pytest.raises(UserError):
        capped_weights({"z": 1.0}, natural, 5.0)


def test_sampled_domain_frequencies_match_weights(shards: Path) -> None:
    dm = make(shards, batch_size=64)
    weights = dict(zip(dm.mixture.domains, dm.mixture.weights[0], strict=True))
    recipe = load_recipe("default")
    natural = {d: int(n) for d, n in zip(dm.domains, dm.train_streams.sizes, strict=True)}
    total = sum(natural.values())
    for d, w in weights.items():  # the cap is honoured
        assert w <= natural[d] / total * recipe.max_oversample + 1e-9
    counts = Counter(int(d) for b in take(dm, 60) for d in b["domain"])
    n = sum(counts.values())
    for i, d in enumerate(dm.mixture.domains):
        p = weights[d]
        assert abs(counts[i] / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9


def test_curriculum_phases_switch_by_budget_fraction(shards: Path) -> None:
    dm = make(shards)
    sizes = dm.train_streams.sizes
    doms = dm.mixture.domains
    only = [tuple(1.0 if j == i else 0.0 for j in range(len(doms))) for i in range(3)]
    mix = Mixture(doms, (0.2, 0.65, 1.0), tuple(only))
    budget = 100 * SEQ  # 100 windows
    dom, _ = plan_windows(5, np.arange(150), mix, sizes, SEQ, budget)
    assert (dom[:20] == 0).all() and (dom[20:65] == 1).all() and (dom[65:] == 2).all()
    cur = build_mixture(load_recipe("default"), {d: int(n) for d, n in zip(doms, sizes, strict=True)}, True, SEQ + 1)
    assert cur.untils == (0.2, 0.65, 1.0) and len(set(cur.weights)) == 3
    dmc = make(shards, curriculum=True, total_tokens=budget)
    assert dmc.mixture == cur


def test_validation_windows_fixed_and_non_overlapping(shards: Path) -> None:
    dm = make(shards, val_batch_size=5)
    first = list(dm.val_dataloader())
    second = list(make(shards, val_batch_size=5, num_workers=2).val_dataloader())
    assert len(first) == len(second) > 0
    for x, y in zip(first, second, strict=True):
        assert torch.equal(x["tokens"], y["tokens"]) and "window" not in x
    rings = reference_rings(shards, "val")
    tokens = torch.cat([b["tokens"] for b in first]).numpy()
    domains = torch.cat([b["domain"] for b in first]).numpy()
    for i, name in enumerate(dm.domains):
        rows = tokens[domains == i]
        ring = rings[name]
        assert len(rows) == (len(ring) - 1) // SEQ
        if len(rows):  # stride seq_len: targets tile the stream once, windows share one token
            joined = np.concatenate([rows[0][:1]] + [r[1:] for r in rows])
            assert np.array_equal(joined, ring[:len(joined)])
    capped = make(shards, val_max_windows_per_domain=2).val_dataset()
    assert max(Counter(capped.domains.tolist()).values()) <= 2


def test_config_from_yaml_and_overrides() -> None:
    cfg = load_data_config(overrides=["seq_len=128", "curriculum=true"])
    assert cfg.seq_len == 128 and cfg.curriculum and cfg.verify == "sizes"
    with pytest.raises(UserError, match="unknown key"):
        load_data_config(overrides=["seqlen=3"])
    with pytest.raises(UserError):
        DataConfig(batch_size=0)
