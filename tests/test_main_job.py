"""The main job, `symboliclight run`, on the embedded sample with network access blocked (a private
network namespace via `unshare -rn`, or a socket-blocking sitecustomize where that is not allowed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from dags_fixtures import SYMBOLICLIGHT, network_blocked_prefix, offline_env, socket_blocking_env


def _offline_run(args: list[str], tmp_path: Path, timeout: float) -> subprocess.CompletedProcess:
    prefix = network_blocked_prefix()
    env = offline_env(None if prefix else socket_blocking_env(tmp_path))
    return subprocess.run([*prefix, *SYMBOLICLIGHT, "run", "--workdir", str(tmp_path / "w"), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_network_is_really_blocked(tmp_path):
    prefix = network_blocked_prefix()
    env = offline_env(None if prefix else socket_blocking_env(tmp_path))
    probe = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\nexcept OSError:\n    print('blocked')\n"
    out = subprocess.run([*prefix, *SYMBOLICLIGHT[:1], "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "blocked"


def test_main_job_offline_until_tokenizer(tmp_path):
    proc = _offline_run(["--size-mb", "0.5", "--until", "tokenizer"], tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "10/10 domains" in out  # the sample's summary line
    assert "round-trip" in out and "UNK tokens: 0" in out  # the tokenizer report summary
    stages = [line.split()[0] for line in out.splitlines() if line.split()[:1] and line.split()[0] in
              ("corpus", "clean", "dedup", "balance", "tokenizer") and line.rstrip().endswith(tuple("0123456789abcdef"))]
    assert stages[-5:] == ["corpus", "clean", "dedup", "balance", "tokenizer"]
    report = json.loads((tmp_path / "w" / "report.json").read_text(encoding="utf-8"))
    assert [s["stage"] for s in report["stages"]] == ["corpus", "clean", "dedup", "balance", "tokenizer"]
    assert all(s["status"] == "done" and s["seconds"] > 0 for s in report["stages"])


@pytest.mark.slow  # ~65 s on a quiet 2-core machine, several minutes under load
def test_main_job_offline_end_to_end(tmp_path):
    proc = _offline_run(["--size-mb", "2", "--set", "train.overrides.trainer.max_steps=150",
                         "train.overrides.trainer.val_every_n_steps=50"], tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "UNK tokens: 0" in out  # tokenizer report summary
    assert "format symboliclight-token-shards" in out  # shards info
    assert "trained symboliclight for 150 steps" in out
    assert "windows of 128 tokens, each from a fresh state" in out  # eval ppl
    assert "generate: The history of" in out
    work = tmp_path / "w"
    report = (work / "report.md").read_text(encoding="utf-8")
    data = json.loads((work / "report.json").read_text(encoding="utf-8"))
    assert [s["stage"] for s in data["stages"]] == ["corpus", "clean", "dedup", "balance", "tokenizer", "shards",
                                                     "train", "eval"]
    for line in report.splitlines():
        if line.startswith("![") and line.endswith(")"):
            assert (work / line[line.index("(") + 1:-1]).is_file(), line
    assert "loss.png" in report and "sparsity.png" in report and "funnel.png" in report
    assert "## Validation perplexity" in report or "Validation perplexity" in report
    # a rerun is a no-op
    again = _offline_run(["--size-mb", "2", "--set", "train.overrides.trainer.max_steps=150",
                          "train.overrides.trainer.val_every_n_steps=50", "--json"], tmp_path, timeout=600)
    assert again.returncode == 0 and {r["status"] for r in json.loads(again.stdout)} == {"cached"}
