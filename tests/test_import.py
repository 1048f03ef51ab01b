"""`corpus import`: round trips of good files, and every kind of bad input quarantined (or fatal with
--strict) with its file and line, counted by reason, with documents read = written + quarantined."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from symboliclight.dags.cli import main
from symboliclight.pipeline.artifacts import Artifact, read_artifact, resolve
from symboliclight.pipeline.corpus_stats import compute_stats
from symboliclight.pipeline.documents import read_jsonl_zst
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.importer import (
    HubSource,
    ImportConfig,
    LangAutoConfig,
    guess_lang,
    import_files,
    import_hub,
    load_hub_list,
    render_template,
    template_fields,
)
from symboliclight.pipeline.quarantine import QUARANTINE_FILE
from symboliclight.pipeline.recipe import load_recipe

# --- helpers ---------------------------------------------------------------------------------------


def records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Real-looking bilingual records: even ones Chinese, odd ones English, each with an extra key."""
    out = []
    for i in range(start, start + n):
        text = (f"第{i}条新闻：人工智能正在改变我们的生活和工作方式。" if i % 2 == 0
                else f"Item {i}: language models learn from large amounts of text.")
        out.append({"id": f"doc-{i}", "text": text, "url": f"https://example.org/{i}"})
    return out


def jsonl(recs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in recs)


def docs_of(art: Artifact, domain: str = "news") -> list[dict[str, Any]]:
    return [d.to_dict() for d in read_jsonl_zst(art.path / f"{domain}.jsonl.zst")]


def quarantined(art: Artifact) -> list[dict[str, Any]]:
    with open(art.path / QUARANTINE_FILE, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def assert_conserved(art: Artifact, expected_read: int) -> None:
    c = art.manifest["counts"]
    assert c["read"] == expected_read
    assert c["read"] == c["written"] + c["quarantined"]
    assert c["written"] == len(docs_of(art, next(iter(c["per_domain"]))))
    q = quarantined(art)
    assert c["quarantined"] == sum(r["documents"] for r in q)
    assert c["quarantine_records"] == len(q)
    assert sum(v["documents"] for v in c["quarantined_per_reason"].values()) == c["quarantined"]
    art.verify_files()


def cfg(**kw: Any) -> ImportConfig:
    return ImportConfig(**{"domain": "news", **kw})


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


# --- bad input kinds: each builds a file and says what the import must find --------------------------


@dataclass
class BadCase:
    name: str
    build: Callable[[Path], Path]  # writes the file into a directory, returns its path
    reason: str
    loc: int | None  # expected line/row of the problem (None: whole file)
    read: int  # documents in the input
    written: int  # documents that must survive
    max_doc_mb: float = 10.0


def _malformed(d: Path) -> Path:
    p = d / "malformed.jsonl"
    good = records(4)
    p.write_bytes(jsonl(good[:1]) + b'{"id": "x", "text": "no closing quote}\n' + jsonl(good[1:]))
    return p


def _invalid_utf8(d: Path) -> Path:
    p = d / "utf8.jsonl"
    good = records(4)
    p.write_bytes(jsonl(good[:2]) + b'{"id": "bad", "text": "caf\xe9 \xff\xfe"}\n' + jsonl(good[2:]))
    return p


TRUNC_DOCS = 6000


def _truncated_zst(d: Path) -> Path:
    p = d / "cut.jsonl.zst"
    full = zstandard.ZstdCompressor(level=3).compress(jsonl(records(TRUNC_DOCS)))
    p.write_bytes(full[: len(full) * 6 // 10])  # a real compressed file, cut off
    return p


def _truncated_gz(d: Path) -> Path:
    p = d / "cut.jsonl.gz"
    full = gzip.compress(jsonl(records(TRUNC_DOCS)), mtime=0)
    p.write_bytes(full[: len(full) * 6 // 10])
    return p


def _corrupt_zst(d: Path) -> Path:
    p = d / "garbage.jsonl.zst"
    p.write_bytes(b"this is not zstd data at all\n" * 10)
    return p


def _empty(d: Path) -> Path:
    p = d / "empty.jsonl"
    p.write_bytes(b"")
    return p


def _blank_only(d: Path) -> Path:
    p = d / "blank.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b"\n  \n\n"))
    return p


def _parquet_no_text(d: Path) -> Path:
    p = d / "notext.parquet"
    pq.write_table(pa.table({"content": [r["text"] for r in records(5)], "n": list(range(5))}), p)
    return p


def _parquet_cut(d: Path) -> Path:
    p = d / "cut.parquet"
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records(20)), buf)
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return p


BIG_MB = 50


def _huge(d: Path) -> Path:
    """A real 50 MB document between good ones (line 3)."""
    p = d / "huge.jsonl"
    good = records(4)
    chunk = "大型文档 large document text. " * 1000
    n = BIG_MB * 1_000_000 // len(chunk.encode()) + 1
    with open(p, "wb") as f:
        f.write(jsonl(good[:2]))
        f.write(b'{"id": "huge", "text": "')
        for _ in range(n):
            f.write(chunk.encode())
        f.write(b'"}\n')
        f.write(jsonl(good[2:]))
    return p


def _bad_fields(d: Path) -> Path:
    """Valid JSON lines whose content cannot be a document."""
    p = d / "fields.jsonl"
    lines = [
        orjson.dumps(records(1)[0]),
        b'{"id": "e", "text": "   "}',  # 2: empty text
        b'{"id": "n", "text": 42}',  # 3: text not a string
        b'{"id": "m", "body": "no text field"}',  # 4: missing text field
        b"[1, 2, 3]",  # 5: not an object
        b"",  # 6: blank line, not a document
        b'{"id": "d", "text": "12345 67"}',  # 7: no letters for --lang auto
        b'{"id": ["x"], "text": "fine text"}',  # 8: id of a wrong type
        orjson.dumps(records(1, 1)[0]),  # 9: good, no trailing newline
    ]
    p.write_bytes(b"\n".join(lines))
    return p


def _parquet_rows(d: Path) -> Path:
    """Three row groups; row 4 has a null text, row 6 an empty one."""
    p = d / "rows.parquet"
    texts = [r["text"] for r in records(7)]
    texts[3] = None
    texts[5] = ""
    pq.write_table(pa.table({"text": texts, "id": [f"r{i}" for i in range(7)]}), p, row_group_size=3)
    return p


BAD_CASES = [
    BadCase("malformed_json", _malformed, "malformed_json", 2, 5, 4),
    BadCase("invalid_utf8", _invalid_utf8, "invalid_utf8", 3, 5, 4),
    BadCase("corrupt_zst", _corrupt_zst, "corrupt_compressed", 1, 0, 0),
    BadCase("empty_file", _empty, "empty_file", None, 0, 0),
    BadCase("blank_only", _blank_only, "empty_file", None, 0, 0),
    BadCase("parquet_missing_text", _parquet_no_text, "missing_text_field", None, 5, 0),
    BadCase("parquet_rows", _parquet_rows, "empty_text", 4, 7, 5),
    BadCase("parquet_cut", _parquet_cut, "corrupt_parquet", None, 0, 0),
    BadCase("bad_fields", _bad_fields, "empty_text", 2, 8, 2),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_input_is_quarantined_with_location_and_counted(case: BadCase, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    art = import_files([path], cfg(max_doc_mb=case.max_doc_mb), workdir=tmp_path / "w")
    assert_conserved(art, case.read)
    c = art.manifest["counts"]
    assert c["written"] == case.written
    q = quarantined(art)
    first = q[0]
    assert first["file"] == path.name and first["reason"] == case.reason
    assert first.get("line", first.get("row")) == case.loc
    assert case.reason in c["quarantined_per_reason"]
    assert c["quarantined_per_domain"].get("news", {}).get(case.reason, 0) == \
        c["quarantined_per_reason"][case.reason]["documents"]


def test_every_bad_field_kind_has_its_reason_and_line(tmp_path: Path) -> None:
    art = import_files([_bad_fields(tmp_path)], cfg(), workdir=tmp_path / "w")
    got = [(r["line"], r["reason"]) for r in quarantined(art)]
    assert got == [(2, "empty_text"), (3, "text_not_string"), (4, "missing_text_field"), (5, "not_an_object"),
                   (7, "lang_undetected"), (8, "bad_id")]
    # The raw content is kept so the user can inspect and fix it.
    assert json.loads(quarantined(art)[2]["raw"]) == {"id": "m", "body": "no text field"}
    assert [d["id"] for d in docs_of(art)] == ["doc-0", "doc-1"]


def test_parquet_problems_name_their_rows_across_row_groups(tmp_path: Path) -> None:
    art = import_files([_parquet_rows(tmp_path)], cfg(), workdir=tmp_path / "w")
    assert [(r["row"], r["reason"]) for r in quarantined(art)] == [(4, "empty_text"), (6, "empty_text")]
    assert [d["id"] for d in docs_of(art)] == ["r0", "r1", "r2", "r4", "r6"]


def test_parquet_without_text_column_is_quarantined_whole_with_row_count(tmp_path: Path) -> None:
    art = import_files([_parquet_no_text(tmp_path)], cfg(), workdir=tmp_path / "w")
    (rec,) = quarantined(art)
    assert rec["reason"] == "missing_text_field" and rec["documents"] == 5 and rec["row"] is None
    assert "content" in rec["detail"]
    assert art.manifest["counts"]["quarantined_per_reason"]["missing_text_field"] == {"records": 1, "documents": 5}


def test_invalid_utf8_keeps_the_other_lines_and_the_raw_bytes(tmp_path: Path) -> None:
    art = import_files([_invalid_utf8(tmp_path)], cfg(), workdir=tmp_path / "w")
    (rec,) = quarantined(art)
    assert "\\xe9" in rec["raw"] and "\\xff" in rec["raw"] and "raw_encoding" in rec
    assert [d["id"] for d in docs_of(art)] == ["doc-0", "doc-1", "doc-2", "doc-3"]


@pytest.mark.parametrize("build", [_truncated_zst, _truncated_gz], ids=["zst", "gzip"])
def test_truncated_file_keeps_documents_decoded_before_the_cut(build: Callable[[Path], Path], tmp_path: Path) -> None:
    art = import_files([build(tmp_path)], cfg(), workdir=tmp_path / "w")
    docs = docs_of(art)
    n = len(docs)
    assert 0 < n < TRUNC_DOCS
    # The survivors are exactly the first n documents, intact.
    assert [(d["id"], d["text"]) for d in docs] == [(r["id"], r["text"]) for r in records(n)]
    (rec,) = quarantined(art)
    assert rec["reason"] == "truncated_file" and rec["line"] == n + 1
    assert f"line {n + 1}" in rec["detail"]
    assert_conserved(art, n + rec["documents"])


def test_fifty_mb_document_is_quarantined_without_being_loaded(tmp_path: Path) -> None:
    path = _huge(tmp_path)
    size = path.stat().st_size
    assert size > BIG_MB * 1_000_000
    tracemalloc.start()
    try:
        art = import_files([path], cfg(), workdir=tmp_path / "w")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Only up to --max-doc-mb of the line is ever held, then a prefix: far below the document's size.
    assert peak < 0.5 * size
    assert_conserved(art, 5)
    (rec,) = quarantined(art)
    assert rec["reason"] == "too_large" and rec["line"] == 3
    assert rec["raw_bytes"] == len(path.read_bytes().split(b"\n")[2])
    assert rec["raw_prefix"].startswith('{"id": "huge"') and len(rec["raw_prefix"].encode()) <= 4096 + 8
    assert [d["id"] for d in docs_of(art)] == ["doc-0", "doc-1", "doc-2", "doc-3"]


def test_max_doc_mb_applies_to_parquet_text(tmp_path: Path) -> None:
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": ["small text here", "x" * 2_000_000, "another small text"]}), p)
    art = import_files([p], cfg(max_doc_mb=1), workdir=tmp_path / "w")
    assert [(r["row"], r["reason"]) for r in quarantined(art)] == [(2, "too_large")]
    assert quarantined(art)[0]["raw_bytes"] > 2_000_000
    assert_conserved(art, 3)


def test_all_kinds_in_one_import_are_counted_per_reason(tmp_path: Path) -> None:
    paths = [c.build(tmp_path) for c in BAD_CASES]
    art = import_files(paths, cfg(), workdir=tmp_path / "w")
    assert_conserved(art, sum(c.read for c in BAD_CASES))
    assert art.manifest["counts"]["written"] == sum(c.written for c in BAD_CASES)
    per_input = {p["file"]: p for p in art.manifest["counts"]["per_input"]}
    for c, p in zip(BAD_CASES, paths, strict=True):
        assert per_input[p.name]["read"] == c.read and per_input[p.name]["written"] == c.written


# --- strict mode and user errors through the CLI -----------------------------------------------------

STRICT_CASES = [
    ("malformed", _malformed, "malformed.jsonl:2: malformed_json"),
    ("utf8", _invalid_utf8, "utf8.jsonl:3: invalid_utf8"),
    ("truncated", _truncated_zst, "cut.jsonl.zst:"),
    ("empty", _empty, "empty.jsonl: empty_file"),
    ("parquet", _parquet_no_text, "notext.parquet: missing_text_field"),
    ("fields", _bad_fields, "fields.jsonl:2: empty_text"),
]


@pytest.mark.parametrize("name,build,expected", STRICT_CASES, ids=[c[0] for c in STRICT_CASES])
def test_strict_fails_with_one_line_naming_file_and_line(name: str, build: Callable[[Path], Path], expected: str,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build(tmp_path)
    code, out, err = run_cli(["corpus", "import", str(path), "--domain", "news", "--strict",
                              "--workdir", str(tmp_path / "w")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in err
    if name == "truncated":
        assert "truncated_file" in lines[0]
    # Nothing half-written is left behind as an artifact.
    assert not list((tmp_path / "w").rglob("manifest.json"))


def test_strict_passes_clean_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "good.jsonl"
    p.write_bytes(jsonl(records(6)))
    code, out, _ = run_cli(["corpus", "import", str(p), "--domain", "news", "--strict", "--json",
                            "--workdir", str(tmp_path / "w")], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["written"] == 6 and result["quarantined"] == 0


@pytest.mark.parametrize("args,expected", [
    (["missing.jsonl", "--domain", "news"], "missing.jsonl: no such file"),
    (["{good}", "--domain", "cooking"], "unknown domain 'cooking'"),
    (["{txt}", "--domain", "news"], "unknown file type"),
    (["{good}"], "--domain is required"),
    ([], "give input PATHs"),
    (["{good}", "--domain", "news", "--text-template", "{text"], "unbalanced brace"),
    (["{good}", "--domain", "news", "--limit", "3"], "--limit applies to hub imports"),
    (["{good}", "{good}", "--domain", "news"], "given more than once"),
    (["--from-config", "hub", "--domains", "cooking"], "no sources for domain 'cooking'"),
])
def test_user_mistakes_are_one_line(args: list[str], expected: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_bytes(jsonl(records(2)))
    txt = tmp_path / "notes.txt"
    txt.write_text("plain text\n")
    args = [a.format(good=good, txt=txt) if a.startswith("{") and a.endswith("}") and a[1:-1] in ("good", "txt")
            else a for a in args]
    code, _, err = run_cli(["corpus", "import", *args, "--workdir", str(tmp_path / "w")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], err


# --- good input round trips --------------------------------------------------------------------------


def _write_all_formats(d: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    recs = records(40)
    parts = [recs[0:10], recs[10:20], recs[20:30], recs[30:40]]
    a, b, c, e = d / "a.jsonl", d / "b.jsonl.zst", d / "c.jsonl.gz", d / "e.parquet"
    a.write_bytes(jsonl(parts[0]))
    b.write_bytes(zstandard.ZstdCompressor().compress(jsonl(parts[1])))
    c.write_bytes(gzip.compress(jsonl(parts[2]), mtime=0))
    pq.write_table(pa.Table.from_pylist(parts[3]), e, row_group_size=4)
    return [a, b, c, e], recs


def test_round_trip_of_good_files_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths, recs = _write_all_formats(tmp_path)
    code, out, _ = run_cli(["corpus", "import", *map(str, paths), "--domain", "news",
                            "--workdir", str(tmp_path / "w")], capsys)
    assert code == 0 and "quarantined 0" in out
    art = resolve("latest", "corpus", tmp_path / "w")
    assert_conserved(art, 40)
    docs = docs_of(art)
    assert [(d["id"], d["text"]) for d in docs] == [(r["id"], r["text"]) for r in recs]
    sources = {d["metadata"]["source"] for d in docs}
    assert sources == {"a.jsonl", "b.jsonl.zst", "c.jsonl.gz", "e.parquet"}
    for d, r in zip(docs, recs, strict=True):
        m = d["metadata"]
        assert m["domain"] == "news" and m["license"] == "unknown" and m["url"] == r["url"]
        assert m["lang"] == ("zh" if "人工智能" in r["text"] else "en")
    # The same file reads back with `datasets` (offline), ids and texts intact.
    import datasets

    ds = datasets.load_dataset("json", data_files=str(art.path / "news.jsonl.zst"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds["id"] == [r["id"] for r in recs] and ds["text"] == [r["text"] for r in recs]
    assert ds[0]["metadata"]["domain"] == "news"
    stats = compute_stats(art)
    assert stats["documents"] == 40 and set(stats["per_lang"]) == {"zh", "en"}


def test_reimport_is_a_noop_and_output_is_deterministic(tmp_path: Path) -> None:
    paths, _ = _write_all_formats(tmp_path)
    first = import_files(paths, cfg(source="my-crawl", license="cc-by-4.0"), workdir=tmp_path / "w")
    again = import_files(paths, cfg(source="my-crawl", license="cc-by-4.0"), workdir=tmp_path / "w")
    assert again.version == first.version and again.manifest == first.manifest  # not rebuilt
    other = import_files(paths, cfg(source="my-crawl", license="cc-by-4.0"), workdir=tmp_path / "w",
                         out=tmp_path / "elsewhere")
    assert other.version == first.version
    for name in ("news.jsonl.zst", QUARANTINE_FILE):
        assert (other.path / name).read_bytes() == (first.path / name).read_bytes()
    assert {d["metadata"]["source"] for d in docs_of(first)} == {"my-crawl"}
    assert {d["metadata"]["license"] for d in docs_of(first)} == {"cc-by-4.0"}
    # A changed input gives a new version.
    paths[0].write_bytes(jsonl(records(3, 100)))
    assert import_files(paths, cfg(source="my-crawl", license="cc-by-4.0"), workdir=tmp_path / "w").version \
        != first.version


def test_missing_ids_are_content_derived_and_fields_mapped(tmp_path: Path) -> None:
    p = tmp_path / "qa.jsonl"
    rows = [{"question": "1+1等于几？", "answer": "等于2。", "source": "homework", "lang": "zh"},
            {"question": "What is 2+3?", "answer": "It is 5.", "meta": {"grade": 1}}]
    p.write_bytes(jsonl(rows))
    art = import_files([p], cfg(domain="math", lang="auto", text_template="{question}\n{answer}"),
                       workdir=tmp_path / "w")
    docs = docs_of(art, "math")
    assert [d["text"] for d in docs] == ["1+1等于几？\n等于2。", "What is 2+3?\nIt is 5."]
    again = import_files([p], cfg(domain="math", text_template="{question}\n{answer}", lang="en"),
                         workdir=tmp_path / "w2")
    assert [d["id"] for d in docs] == [d["id"] for d in docs_of(again, "math")]  # stable, content-derived
    assert docs[0]["metadata"]["source"] == "homework"  # the record's own source is kept
    assert docs[1]["metadata"]["source"] == "qa.jsonl" and docs[1]["metadata"]["meta"] == {"grade": 1}
    assert "question" not in docs[0]["metadata"]  # consumed by the template


def test_directories_expand_and_cli_templates_take_escaped_newlines(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "data" / "sub"
    d.mkdir(parents=True)
    (d / "q1.jsonl").write_bytes(jsonl([{"q": "What is 1+1?", "a": "2"}]))
    (d / "q2.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl([{"q": "三加四是多少？", "a": "七"}])))
    (d / "README.md").write_text("not data")
    code, out, err = run_cli(["corpus", "import", str(tmp_path / "data"), "--domain", "math",
                              "--text-template", r"{q}\n{a}", "--json", "--workdir", str(tmp_path / "w")], capsys)
    assert code == 0, err
    art = resolve(json.loads(out)["version"], "corpus", tmp_path / "w")
    docs = docs_of(art, "math")
    assert [d["text"] for d in docs] == ["What is 1+1?\n2", "三加四是多少？\n七"]
    assert [d["metadata"]["lang"] for d in docs] == ["en", "zh"]
    assert [i["file"] for i in art.manifest["inputs"]] == ["q1.jsonl", "q2.jsonl.zst"]
    assert [Path(f).name for f in art.manifest["skipped_files"]] == ["README.md"]  # listed, not dropped silently


# --- language guess, templates -----------------------------------------------------------------------


def test_lang_auto_uses_script_statistics_and_never_guesses_code() -> None:
    la = LangAutoConfig()
    assert guess_lang("今天天气很好，我们去公园散步吧。", la) == "zh"
    assert guess_lang("The weather is nice today, let's walk in the park.", la) == "en"
    assert guess_lang("你好 means hello and 谢谢 means thank you in Chinese.", la) == "mixed"
    assert guess_lang("使用 numpy 的数组函数计算平均值和标准差，然后画出结果。", la) == "zh"
    assert guess_lang("def f(x):\n    return x + 1\n", la) == "en"  # code only when asked
    assert guess_lang("12345 + 678 = 13023", la) is None


def test_templates_render_nested_fields_and_reject_bad_ones() -> None:
    t = "{translation.zh}\n{translation.en} {{literal}}"
    assert template_fields(t) == ["translation.zh", "translation.en"]
    assert render_template(t, {"translation": {"zh": "你好", "en": "hello"}}) == "你好\nhello {literal}"
    with pytest.raises(UserError):
        template_fields("{a} {")
    with pytest.raises(UserError):
        template_fields("{}")


# --- the hub list and the hub path ---------------------------------------------------------------


def test_hub_list_covers_every_recipe_domain_in_both_languages() -> None:
    hub = load_hub_list("configs/sources/hub.yaml")
    recipe = load_recipe(hub.recipe)
    assert {s.domain for s in hub.sources} == set(recipe.domains)
    langs = {s.lang for s in hub.sources}
    assert {"zh", "en", "mixed", "code"} <= langs
    for s in hub.sources:
        assert s.id and s.split and s.license
        assert s.text_template or s.text_field
    assert all(s.text_template and "zh" in s.text_template and "en" in s.text_template
               for s in hub.sources if s.domain == "translation")


def test_hub_id_offline_fails_fast_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_cli(["corpus", "import", "--hub", "wikimedia/wikipedia", "--hub-config", "20231101.zh",
                            "--domain", "reference", "--limit", "5", "--workdir", str(tmp_path / "w")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "wikimedia/wikipedia" in lines[0] and "offline" in lines[0]
    code, _, err = run_cli(["corpus", "import", "--from-config", "configs/sources/hub.yaml", "--domains", "math",
                            "--limit", "5", "--workdir", str(tmp_path / "w")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "offline" in lines[0]
    assert not list((tmp_path / "w").rglob("manifest.json"))


def test_hub_path_streams_a_local_dataset_folder_with_templates_and_limit(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    folder.mkdir()
    pairs = [{"zh": "早上好。", "en": "Good morning."}, {"zh": "谢谢你。", "en": "Thank you."},
             {"zh": "再见。", "en": "Goodbye."}]
    pq.write_table(pa.table({"translation": pairs, "k": [1, 2, 3]}), folder / "train.parquet")
    src = HubSource(id=str(folder), domain="translation", lang="mixed", license="cc0",
                    text_template="{translation.zh}\n{translation.en}")
    art = import_hub(src, cfg(domain="translation", lang="mixed", license="cc0", text_template=src.text_template),
                     limit=2, workdir=tmp_path / "w")
    docs = docs_of(art, "translation")
    assert [d["text"] for d in docs] == ["早上好。\nGood morning.", "谢谢你。\nThank you."]
    assert all(d["metadata"]["lang"] == "mixed" and d["metadata"]["k"] in (1, 2) for d in docs)
    assert_conserved(art, 2)


def test_import_artifact_reads_back_through_the_shared_contract(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(jsonl(records(3)))
    art = import_files([p], cfg(), workdir=tmp_path / "w")
    back = read_artifact(art.path)
    assert back.stage == "import" and back.manifest["inputs"][0]["file"] == "x.jsonl"
    assert {e["path"] for e in back.manifest["files"]} == {"news.jsonl.zst", QUARANTINE_FILE}
    assert io.BytesIO((art.path / "news.jsonl.zst").read_bytes()).read(4) == b"\x28\xb5\x2f\xfd"
