"""The shared contracts: artifacts and manifests, version resolution, typed config, CLI errors."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from symboliclight.dags.cli import main
from symboliclight.pipeline import artifacts
from symboliclight.pipeline.corpus_stats import compute_stats
from symboliclight.pipeline.documents import Document, JsonlZstWriter, read_jsonl_zst, validate
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import sha256_file, version_id
from symboliclight.pipeline.recipe import Recipe, load_recipe
from symboliclight.pipeline.typed_config import apply_overrides, from_dict

DOCS = [
    Document("a1", "人工智能正在改变世界。", {"domain": "news", "lang": "zh", "source": "t", "license": "x"}),
    Document("a2", "The quick brown fox.\nJumps over.", {"domain": "tech-en", "lang": "en", "source": "t"}),
    Document("a3", "def f(x):\n    return x  # 注释 🎉", {"domain": "code", "lang": "code", "source": "t"}),
]


def _write_corpus(root: Path) -> artifacts.Artifact:
    root.mkdir(parents=True)
    files = []
    for dom in sorted({d.domain for d in DOCS}):
        with JsonlZstWriter(root / f"{dom}.jsonl.zst") as w:
            w.write_all(d for d in DOCS if d.domain == dom)
        files.append(root / f"{dom}.jsonl.zst")
    ver = version_id("test", {"n": len(DOCS)}, {})
    return artifacts.write_manifest(root, stage="test", version=ver, parents={}, config={}, counts={}, files=files)


def test_jsonl_zst_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    for name in ("a.jsonl.zst", "b.jsonl.zst"):
        with JsonlZstWriter(tmp_path / name) as w:
            w.write_all(DOCS)
    assert (tmp_path / "a.jsonl.zst").read_bytes() == (tmp_path / "b.jsonl.zst").read_bytes()
    back = list(read_jsonl_zst(tmp_path / "a.jsonl.zst"))
    assert [d.to_dict() for d in back] == [d.to_dict() for d in DOCS]
    assert all(validate(d) is None for d in back)


def test_validate_names_the_broken_field() -> None:
    assert validate(Document("x", "t", {"domain": "news", "lang": "fr", "source": "s"})) == "bad_lang"
    assert validate(Document("x", "t", {"lang": "en", "source": "s"})) == "missing_domain"


def test_manifest_lists_files_with_matching_sha256(tmp_path: Path) -> None:
    art = _write_corpus(tmp_path / "c")
    for entry in art.manifest["files"]:
        p = art.path / entry["path"]
        assert entry["sha256"] == sha256_file(p) and entry["bytes"] == p.stat().st_size
    art.verify_files()
    # Flip one byte: verification must name the file.
    victim = art.path / art.manifest["files"][0]["path"]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(UserError, match=victim.name):
        art.verify_files()


def test_incomplete_artifact_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "corpus" / "abc").mkdir(parents=True)
    with pytest.raises(UserError, match="incomplete"):
        artifacts.resolve("abc", "corpus", tmp_path)


def test_resolve_by_version_latest_and_path(tmp_path: Path) -> None:
    art = _write_corpus(tmp_path / "corpus" / "v1")
    # the dir name is "v1" while the manifest version differs; resolution by dir name still works
    artifacts.set_latest(tmp_path, "corpus", "v1")
    assert artifacts.resolve("v1", "corpus", tmp_path).path == art.path
    assert artifacts.resolve("latest", "corpus", tmp_path).path == art.path
    assert artifacts.resolve(str(art.path), "corpus", tmp_path).path == art.path
    with pytest.raises(UserError, match="not found"):
        artifacts.resolve("nope", "corpus", tmp_path)


def test_artifact_files_under_a_relative_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_corpus(tmp_path / "w" / "corpus" / "v1")
    monkeypatch.chdir(tmp_path)
    art = artifacts.resolve("v1", "corpus", "w")
    files = [art.file(e["path"]) for e in art.manifest["files"]]
    assert all(f.relative_to(art.path) for f in files)  # callers may relate files to the artifact
    assert sum(1 for f in files for _ in read_jsonl_zst(f)) == len(DOCS)


def test_manifest_paths_may_not_escape(tmp_path: Path) -> None:
    art = _write_corpus(tmp_path / "c")
    with pytest.raises(UserError, match="escapes"):
        art.file("../outside")
    with pytest.raises(UserError, match="relative"):
        art.file("/etc/passwd")


def test_version_id_is_content_derived() -> None:
    a = version_id("clean", {"x": 1, "y": [1, 2]}, {"corpus": "abc"})
    assert a == version_id("clean", {"y": [1, 2], "x": 1}, {"corpus": "abc"})
    assert a != version_id("clean", {"x": 2, "y": [1, 2]}, {"corpus": "abc"})
    assert a != version_id("clean", {"x": 1, "y": [1, 2]}, {"corpus": "abd"})


def test_corpus_stats_count_every_document(tmp_path: Path) -> None:
    art = _write_corpus(tmp_path / "c")
    stats = compute_stats(art)
    assert stats["documents"] == len(DOCS)
    assert stats["characters"] == sum(len(d.text) for d in DOCS)
    assert stats["per_domain"]["news"]["han_characters"] == 10
    assert sum(b["documents"] for b in stats["per_lang"].values()) == len(DOCS)


@dataclasses.dataclass
class _Inner:
    rate: float = 0.1


@dataclasses.dataclass
class _Cfg:
    name: str
    steps: int = 3
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    tags: list[str] = dataclasses.field(default_factory=list)


def test_typed_config_refuses_unknown_keys_and_wrong_types() -> None:
    cfg = from_dict(_Cfg, apply_overrides({"name": "a"}, ["inner.rate=0.5", "steps=7", "tags=[x, y]"]))
    assert cfg == _Cfg("a", 7, _Inner(0.5), ["x", "y"])
    assert from_dict(_Cfg, apply_overrides({"name": "a"}, ["inner.rate=1e-4"])).inner.rate == 1e-4
    with pytest.raises(UserError, match="unknown key 'stepz'"):
        from_dict(_Cfg, {"name": "a", "stepz": 3})
    with pytest.raises(UserError, match=r"steps: expected an integer"):
        from_dict(_Cfg, {"name": "a", "steps": "many"})


def test_default_recipe_has_ten_domains_and_valid_phases() -> None:
    r = load_recipe()
    assert len(r.domains) == 10
    assert abs(sum(d.share for d in r.domains.values()) - 1) < 1e-9
    for ph in r.curriculum:
        assert abs(sum(ph.weights.values()) - 1) < 1e-9
    with pytest.raises(UserError, match="sum to"):
        from_dict(Recipe, {"name": "bad", "domains": {"a": {"share": 0.5, "langs": {"zh": 1.0}}}})


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["corpus", "stats", "nope", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_cli_stats_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    art = _write_corpus(tmp_path / "c")
    assert main(["corpus", "stats", str(art.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"] == 3 and set(out["per_domain"]) == {"news", "tech-en", "code"}


def test_entry_point_version_and_help() -> None:
    exe = Path(sys.executable).with_name("symboliclight")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("symboliclight ")
    help_out = subprocess.run([str(exe), "corpus", "--help"], capture_output=True, text=True, check=True).stdout
    assert "stats" in help_out


def test_layers_import_one_way() -> None:
    """tokenizer may import pipeline; model both; dags all; never back (checked on the source text)."""
    root = Path(__file__).resolve().parents[1]
    order = ["pipeline", "tokenizer", "model", "dags"]
    for i, layer in enumerate(order):
        higher = order[i + 1:]
        for py in (root / layer).rglob("*.py"):
            text = py.read_text(encoding="utf-8")
            for h in higher:
                pattern = rf"^\s*(from|import)\s+symboliclight\.{h}\b|import_module\(.symboliclight\.{h}"
                assert not re.search(pattern, text, re.M), f"{py} imports the higher layer {h}"
