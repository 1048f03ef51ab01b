"""Shared helpers for the graph tests: a tiny real corpus, a run config that trains in seconds, and
running `symboliclight` in a subprocess (optionally with the network cut off)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from clean_fixtures import small_corpus
from symboliclight.dags.execute import run_graph
from symboliclight.dags.graph import build_graph
from symboliclight.dags.run_config import load_run_config

REPO = Path(__file__).resolve().parents[1]
SYMBOLICLIGHT = [sys.executable, "-m", "symboliclight.dags.cli"]


def tiny_corpus(root: Path) -> Path:
    """Python docs (en), People's Daily (zh) and stdlib code: three domains, ~100 documents."""
    return small_corpus(root, n_en=50, n_zh=40, n_code=6)


def tiny_run_config(corpus_path: Path | None, **sections: Any) -> dict[str, Any]:
    """The whole graph in well under a minute: a tiny tokenizer, a 12-step tiny model, 4 eval windows.
    `corpus_path` None uses the offline sample (size via `corpus={"size_mb": X}`)."""
    cfg: dict[str, Any] = {
        "corpus": {"source": "artifact", "input": str(corpus_path)} if corpus_path else {"source": "sample"},
        "stages": ["clean", "dedup", "balance"],
        "tokenizer": {"overrides": {"vocab_size": 400, "sample": {"total_mb": 1},
                                    "heldout": {"max_mb": 1},
                                    "report": {"reference_model": "", "throughput_repeats": 1,
                                               "fertility_max_mb": 0.1}}},
        "shards": {"overrides": {"val_min_tokens": 1024}},
        "train": {"config": "tiny-cpu", "overrides": {
            "trainer": {"max_steps": 12, "val_every_n_steps": 6, "ckpt_every_n_steps": 4, "log_every_n_steps": 2,
                        "progress_bar": False, "keep_last_k": 5},
            "schedule": {"warmup_steps": 2},
            "data": {"seq_len": 64, "batch_size": 4, "val_max_windows_per_domain": 4}}},
        "eval": {"ppl": {"batch_size": 8, "max_windows_per_domain": 4},
                 "generate": {"max_new_tokens": 8, "seed": 0}, "prompts": ["The"]},
        "executor": {"kind": "local", "tasks": 2, "workers": 1},
    }
    for key, value in sections.items():
        cfg[key] = _merge(cfg.get(key), value)
    return cfg


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(out.get(k), v)
        return out
    return over


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_in_process(config_path: Path, workdir: Path, **kw: Any):
    """The graph through the same functions `symboliclight run` calls; returns the stage records."""
    graph = build_graph(load_run_config(config_path), workdir)
    return run_graph(graph, workdir, echo=lambda _m: None, log=lambda _m: None, progress=False, **kw)


_SHARED: dict[str, dict[str, Any]] = {}


def shared_tiny_run(tmp_path_factory) -> dict[str, Any]:
    """The tiny corpus through the graph up to the tokenizer, once per test session (the graph and
    scale-out tests read it; they add versions next to it but never change it)."""
    if "run" not in _SHARED:
        root = tmp_path_factory.mktemp("dags-shared")
        corpus = tiny_corpus(root / "in")
        cfg = tiny_run_config(corpus)
        path = write_config(root / "run.yaml", cfg)
        records = run_in_process(path, root / "w", until="tokenizer")
        _SHARED["run"] = {"root": root, "corpus": corpus, "cfg": cfg, "config": path, "workdir": root / "w",
                          "records": records}
    return _SHARED["run"]


def statuses(records) -> dict[str, str]:
    return {r.stage: r.status for r in records}


def network_blocked_prefix() -> list[str]:
    """`unshare -rn` (a private network namespace without interfaces) where the kernel allows it."""
    if shutil.which("unshare"):
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "-rn"]
    return []


def socket_blocking_env(tmp: Path) -> dict[str, str]:
    """Fallback: a sitecustomize that makes every non-Unix socket connection fail."""
    site = tmp / "nonet"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import socket\n"
        "_orig = socket.socket.connect\n"
        "def _deny(self, address):\n"
        "    if self.family != socket.AF_UNIX:\n"
        "        raise OSError('network access blocked by the test')\n"
        "    return _orig(self, address)\n"
        "socket.socket.connect = _deny\n", encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def offline_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text(encoding="utf-8"))


def file_digests(path: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """path → sha256 of every file a manifest lists (minus `skip` names, e.g. timing reports)."""
    return {e["path"]: e["sha256"] for e in manifest(path)["files"] if Path(e["path"]).name not in skip}
