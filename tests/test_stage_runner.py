"""The stage runner on the clean stage: versions, no-op reruns, conservation, quarantine, resume."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clean_fixtures import english_docs, load, small_corpus
from symboliclight.pipeline.documents import read_jsonl_zst
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import sha256_file
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.executors import ExecutorConfig
from symboliclight.pipeline.stages.runner import load_stage_config, run_stage

BAD = {"news": [b"{not json\n", b"\xff\xfe broken utf8\n", b'{"id": "x", "text": "t", "metadata": {}}\n']}


def _payload(path: Path) -> dict[str, str]:
    """sha256 of every artifact file except the manifest (its creation time differs) and datatrove logs."""
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and "_datatrove" not in p.parts}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner")
    inp = load(small_corpus(root / "in", extra_lines=BAD))
    stage = get_stage("clean")
    cfg = load_stage_config(stage)
    res = run_stage(stage, inp, cfg, workdir=root / "work", executor=ExecutorConfig(tasks=2, workers=1))
    return root, inp, stage, cfg, res


def test_counts_conserved_and_quarantine(first_run):
    _root, inp, _stage, _cfg, res = first_run
    assert res.status == "done"
    c = res.artifact.manifest["counts"]
    assert c["in"]["documents"] == 60 + 40 + 6 + 3
    assert c["in"]["documents"] == c["kept"]["documents"] + c["dropped"]["documents"] + c["quarantined"]
    assert c["quarantined_per_reason"] == {"invalid_utf8": 1, "malformed_json": 1, "missing_domain": 1}
    # the per reason x domain/lang table adds up to the dropped total
    assert sum(t["documents"] for by in c["dropped_per_reason"].values() for t in by.values()) == c["dropped"]["documents"]
    # every dropped document is in excluded/<reason>.jsonl.zst with its reason, with file and line for quarantine
    kept = sum(1 for f in res.path.glob("*.jsonl.zst") for _ in read_jsonl_zst(f))
    assert kept == c["kept"]["documents"]
    q = list(read_jsonl_zst(res.path / "excluded/quarantine/malformed_json.jsonl.zst"))
    assert q[0].metadata["file"] == "news.jsonl.zst" and q[0].metadata["line"] == 41
    for reason, by in c["dropped_per_reason"].items():
        docs = list(read_jsonl_zst(res.path / f"excluded/{reason}.jsonl.zst"))
        assert len(docs) == sum(t["documents"] for t in by.values())
        assert all(d.metadata["drop_reason"] == reason for d in docs)
    assert (res.path / "funnel.png").stat().st_size > 1000
    assert not (res.path / "_parts").exists()


def test_rerun_is_noop_and_task_count_does_not_change_bytes(first_run, tmp_path):
    root, inp, stage, cfg, res = first_run
    again = run_stage(stage, inp, cfg, workdir=root / "work", executor=ExecutorConfig(tasks=2, workers=1))
    assert again.status == "cached" and again.version == res.version
    other = run_stage(stage, inp, cfg, workdir=tmp_path, executor=ExecutorConfig(tasks=3, workers=1))
    assert other.version == res.version
    assert _payload(other.path) == _payload(res.path)


def test_config_change_gives_new_version(first_run, tmp_path):
    _root, inp, stage, cfg, res = first_run
    changed = dataclasses.replace(cfg, min_chars=cfg.min_chars + 1)
    from symboliclight.pipeline.stages.runner import stage_version

    assert stage_version(stage, changed, inp) != res.version
    assert stage_version(stage, cfg, inp) == res.version


def test_speed_only_settings_keep_the_version_and_the_bytes(first_run, tmp_path):
    """Batch sizes change speed, not output: a run with tiny batches is the same version (the
    cached artifact is reused) and, run afresh, writes the same bytes."""
    from symboliclight.pipeline.typed_config import identity

    root, inp, stage, cfg, res = first_run
    small = dataclasses.replace(cfg, batch_docs=3, batch_chars=500)
    assert "batch_docs" not in identity(cfg) and "batch_chars" not in identity(cfg)
    assert dataclasses.asdict(small) != dataclasses.asdict(cfg)
    assert run_stage(stage, inp, small, workdir=root / "work", executor=ExecutorConfig(tasks=2, workers=1)).status == "cached"
    fresh = run_stage(stage, inp, small, workdir=tmp_path, executor=ExecutorConfig(tasks=2, workers=1))
    assert fresh.status == "done" and fresh.version == res.version
    assert _payload(fresh.path) == _payload(res.path)
    assert fresh.artifact.manifest["config"]["batch_docs"] == 3  # the manifest records what ran


def test_strict_makes_bad_line_fatal(first_run, tmp_path):
    _root, inp, stage, cfg, _res = first_run
    with pytest.raises(UserError, match=r"news.jsonl.zst:41: malformed_json"):
        run_stage(stage, inp, cfg, workdir=tmp_path, strict=True, executor=ExecutorConfig(tasks=1, workers=1))


def test_corrupted_intermediate_is_named(first_run, tmp_path):
    root, _inp, stage, cfg, res = first_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(res.path, copy)
    target = copy / "tech-en.jsonl.zst"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"tech-en\.jsonl\.zst: sha256 does not match"):
        run_stage(stage, load(copy), cfg, workdir=tmp_path / "w")


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from clean_fixtures import load
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.executors import ExecutorConfig
from symboliclight.pipeline.stages.runner import load_stage_config, run_stage
st = get_stage("clean")
run_stage(st, load({inp!r}), load_stage_config(st), workdir={work!r}, executor=ExecutorConfig(tasks=4, workers=1))
"""


def test_sigkill_midway_then_rerun_is_byte_identical(tmp_path):
    from clean_fixtures import make_corpus

    en = english_docs()
    docs = [("en", t) for t in (en * 2)[:500]]
    inp = load(make_corpus(tmp_path / "in", {"tech-en": docs}))
    stage = get_stage("clean")
    cfg = load_stage_config(stage)
    ref = run_stage(stage, inp, cfg, workdir=tmp_path / "ref", executor=ExecutorConfig(tasks=4, workers=1))

    work = tmp_path / "killed"
    script = _KILL_SCRIPT.format(tests=str(Path(__file__).parent), inp=str(inp.path), work=str(work))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    marker = work / "corpus" / ref.version / "_datatrove" / "clean.t4" / "completions" / "00000"
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    killed_midway = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed_midway, "the stage finished before it could be killed"
    out = work / "corpus" / ref.version
    assert not (out / "manifest.json").exists()
    done = sorted(p.name for p in (out / "_datatrove/clean.t4/completions").iterdir())
    assert "00000" in done and len(done) < 4

    res = run_stage(stage, inp, cfg, workdir=work, executor=ExecutorConfig(tasks=4, workers=1))
    assert res.status == "done"
    assert _payload(res.path) == _payload(ref.path)
    assert json.loads((res.path / "manifest.json").read_text())["files"] == ref.artifact.manifest["files"]



@pytest.mark.parametrize("verbose", [False, True])
def test_datatrove_console_level(tmp_path, verbose):
    """By default datatrove's INFO lines (pipeline, per-task stats, progress) stay off the console of
    a local run, in the parent and in the task processes alike, while the task log files keep them;
    `--verbose` brings them back. Run as the CLI in a fresh process, so the task processes write to
    the stderr captured here."""
    inp = small_corpus(tmp_path / "in")
    cmd = [sys.executable, "-m", "symboliclight.dags.cli", "pipeline", "run", "--input", str(inp),
           "--stages", "clean", "--workdir", str(tmp_path / "work")] + (["--verbose"] if verbose else [])
    env = {k: v for k, v in os.environ.items() if k != "SYMBOLICLIGHT_DATATROVE_LOG"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert ("Processing done for rank=" in proc.stderr) is verbose
    assert ("2/2 tasks completed" in proc.stderr) is verbose
    assert "clean: done" in proc.stderr
    logs = sorted((tmp_path / "work").glob("corpus/*/_datatrove/*/logs/task_*.log"))
    assert len(logs) == 2
    assert all("Processing done for rank=" in p.read_text() for p in logs)


@pytest.mark.parametrize("threads", [2, 3])
def test_merge_zstd_bytes_do_not_depend_on_threads_or_chunking(threads):
    """The merge compresses with zstd's multi-threaded mode (`parts.MERGE_ZSTD_THREADS`); its bytes
    must not depend on the machine's core count or on how lines arrive, or outputs would differ
    between machines. Checked on real corpus text, larger than one zstd job."""
    import io

    import zstandard
    from symboliclight.pipeline.stages import parts

    text = "".join(english_docs())
    data = text.encode("utf-8")
    assert len(data) > 8 << 20  # several of zstd's multi-threaded jobs at level 3

    def compress(workers: int, step: int) -> bytes:
        buf = io.BytesIO()
        w = zstandard.ZstdCompressor(level=parts.ZSTD_LEVEL, threads=workers).stream_writer(buf, closefd=False)
        for i in range(0, len(data), step):
            w.write(data[i:i + step])
        w.flush(zstandard.FLUSH_FRAME)
        w.close()
        return buf.getvalue()

    one = compress(1, 1 << 16)
    assert compress(threads, 4093) == one
    assert compress(parts.MERGE_ZSTD_THREADS, 1 << 20) == one
