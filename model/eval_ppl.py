"""Validation perplexity, overall and per domain, with the sparsity measured on the same tokens.

Protocol (spec §9, the reference's `eval` code): per domain, the validation documents are read as
one stream in packed order; windows of seq_len + 1 tokens start at 0, seq_len, 2·seq_len, … (so
every token after a window's first is a target exactly once, and windows never overlap in their
targets); each window is scored from a fresh state (no membrane, decay state or KV carried from
the previous window). The loss is the summed cross-entropy in fp32 divided by the token count;
PPL = exp(mean CE). Overall numbers pool every domain's tokens (token-weighted), which is what a
single validation file would give.

Sparsity is the per-element definition of `sparsity.py`, counted during these same forwards, per
domain and pooled; the energy estimate (`energy.py`) uses those counts. GPT-2 has no spikes.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from symboliclight.pipeline.artifacts import resolve
from symboliclight.pipeline.errors import UserError
from symboliclight.tokenizer.shards import open_shards

from .config import SymbolicLightConfig
from .data import DomainStreams
from .energy import energy_estimate
from .eval_checkpoint import LoadedModel, check_vocabulary, shards_tokenizer
from .sparsity import BLOCK_SITES, HEADLINE_SITES, SiteCount, SparsityMeter


@dataclass
class PplConfig:
    """`seq_len` None: the length the model trained with; `max_windows_per_domain` None: all."""

    seq_len: int | None = None
    batch_size: int = 8
    max_windows_per_domain: int | None = None
    precision: str = "auto"  # auto: bf16 autocast on CUDA (as the reference), fp32 on CPU; or 32 / bf16

    def __post_init__(self) -> None:
        if self.seq_len is not None and self.seq_len < 1:
            raise UserError(f"--seq-len must be positive, got {self.seq_len}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be positive, got {self.batch_size}")
        if self.max_windows_per_domain is not None and self.max_windows_per_domain < 1:
            raise UserError("--max-windows-per-domain must be positive")
        if self.precision not in ("auto", "32", "bf16"):
            raise UserError(f"precision must be auto, 32 or bf16, got {self.precision!r}")


def _autocast(device: torch.device, precision: str):
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def ppl(loss: float) -> float:
    return math.exp(loss) if loss < 700 else float("inf")


def domain_windows(size: int, seq_len: int, limit: int | None) -> np.ndarray:
    """Window starts 0, seq_len, … while a whole window of seq_len + 1 tokens fits."""
    count = max(0, (int(size) - 1) // seq_len)
    if limit is not None:
        count = min(count, limit)
    return np.arange(count, dtype=np.int64) * seq_len


@torch.no_grad()
def score_windows(loaded: LoadedModel, streams: DomainStreams, domain: int, starts: np.ndarray, seq_len: int,
                  batch_size: int, device: torch.device, precision: str) -> tuple[float, int]:
    """(summed CE in nats, target tokens) over the given windows of one domain, each from a fresh state."""
    total, tokens = 0.0, 0
    for lo in range(0, len(starts), batch_size):
        rows = [streams.read(domain, int(s), seq_len + 1) for s in starts[lo:lo + batch_size]]
        batch = torch.from_numpy(np.stack(rows).astype(np.int64)).to(device)
        with _autocast(device, precision):
            logits = loaded.net(batch[:, :-1]).logits
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum")
        total += float(ce)
        tokens += batch.shape[0] * seq_len
    return total, tokens


def _pool(counts: list[list[SiteCount]]) -> list[SiteCount]:
    merged: dict[tuple[int, str], SiteCount] = {}
    for group in counts:
        for c in group:
            key = (c.layer, c.site)
            if key in merged:
                merged[key] = SiteCount(c.layer, c.site, merged[key].ones + c.ones, merged[key].elements + c.elements)
            else:
                merged[key] = SiteCount(c.layer, c.site, c.ones, c.elements)
    return list(merged.values())


def _pooled(counts: list[SiteCount]) -> float:
    ones, elements = sum(c.ones for c in counts), sum(c.elements for c in counts)
    return 1.0 - ones / elements if elements else float("nan")


def sparsity_summary(counts: list[SiteCount]) -> dict[str, Any]:
    """The `SparsityMeter.summary` layout (headline, all sites, per site, per layer) from pooled counts."""
    return {
        "headline": _pooled([c for c in counts if c.site in HEADLINE_SITES]),
        "all_sites": _pooled(counts),
        "per_site": {site: _pooled([c for c in counts if c.site == site]) for site in ("encoder",) + BLOCK_SITES},
        "per_layer": [{"layer": c.layer, "site": c.site, "ones": c.ones, "elements": c.elements,
                       "sparsity": c.sparsity} for c in counts],
    }


def evaluate_ppl(loaded: LoadedModel, shards: str | Path, cfg: PplConfig, *, workdir: str | Path = "work",
                 device: torch.device | None = None) -> dict[str, Any]:
    """Perplexity overall and per domain, sparsity and energy estimate, as one JSON-able dict."""
    device = device or next(loaded.net.parameters()).device
    art = resolve(shards, "shards", workdir)
    vocab, _, sha = shards_tokenizer(art)
    check_vocabulary(loaded, vocab, sha, f"shards {art.version}", workdir)
    seq_len = cfg.seq_len or loaded.train_seq_len or loaded.context
    if seq_len > loaded.context:
        raise UserError(f"--seq-len {seq_len} exceeds the model's context {loaded.context}")
    ss = open_shards(art, level="sizes")
    if not ss.shards.get("val"):
        raise UserError(f"{art.path}: the validation split is empty (no val shards); pack with a validation fraction")
    streams = DomainStreams.build(ss, "val")
    net = loaded.net
    spiking = isinstance(loaded.model_cfg, SymbolicLightConfig)
    domains: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    site_counts: list[list[SiteCount]] = []
    total_loss, total_tokens, total_windows = 0.0, 0, 0
    for d, name in enumerate(ss.domains):
        size = int(streams.sizes[d])
        starts = domain_windows(size, seq_len, cfg.max_windows_per_domain)
        if len(starts) == 0:
            if size:
                skipped[name] = f"{size} validation tokens, fewer than one window of {seq_len + 1}"
            continue
        if spiking:
            net.sparsity = SparsityMeter(loaded.model_cfg.n_layers)
        loss, tokens = score_windows(loaded, streams, d, starts, seq_len, cfg.batch_size, device, cfg.precision)
        entry: dict[str, Any] = {"windows": len(starts), "tokens": tokens, "loss": loss / tokens, "ppl": ppl(loss / tokens)}
        if spiking:
            counts = net.sparsity.counts()
            site_counts.append(counts)
            entry["sparsity"] = net.sparsity.summary()["headline"]
        domains[name] = entry
        total_loss += loss
        total_tokens += tokens
        total_windows += len(starts)
    if not total_tokens:
        detail = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no validation tokens"
        raise UserError(f"{art.path}: the validation split has no window of {seq_len + 1} tokens ({detail})")
    result: dict[str, Any] = {
        "checkpoint": str(loaded.path), "step": loaded.step, "arch": loaded.arch, "params": loaded.n_params,
        "shards": art.version, "seq_len": seq_len, "windows": total_windows, "tokens": total_tokens,
        "loss": total_loss / total_tokens, "ppl": ppl(total_loss / total_tokens),
        "domains": domains, "skipped_domains": skipped,
    }
    pooled = _pool(site_counts) if spiking else None
    if spiking:
        assert pooled is not None
        result["sparsity"] = sparsity_summary(pooled)
    result["energy"] = energy_estimate(loaded.model_cfg, pooled, seq_len)
    return result


def format_ppl(result: dict[str, Any]) -> str:
    """The human-readable table `eval ppl` prints."""
    lines = [f"{result['checkpoint']} (step {result['step']}, {result['arch']}, {result['params']:,} params) "
             f"on shards {result['shards']}, windows of {result['seq_len']} tokens, each from a fresh state",
             f"{'domain':<14} {'windows':>8} {'tokens':>10} {'loss':>8} {'PPL':>10} {'sparsity':>9}"]
    for name, d in result["domains"].items():
        sp = f"{d['sparsity']:.2%}" if "sparsity" in d else "–"
        lines.append(f"{name:<14} {d['windows']:>8} {d['tokens']:>10} {d['loss']:>8.4f} {d['ppl']:>10.3f} {sp:>9}")
    sp = f"{result['sparsity']['headline']:.2%}" if "sparsity" in result else "–"
    lines.append(f"{'all':<14} {result['windows']:>8} {result['tokens']:>10} {result['loss']:>8.4f} "
                 f"{result['ppl']:>10.3f} {sp:>9}")
    for name, why in result["skipped_domains"].items():
        lines.append(f"skipped {name}: {why}")
    if "sparsity" in result:
        s = result["sparsity"]
        sites = ", ".join(f"{k} {v:.2%}" for k, v in s["per_site"].items() if not math.isnan(v))
        lines.append(f"sparsity (1 − ones/elements): headline (encoder + block outputs) {s['headline']:.2%}; "
                     f"all sites {s['all_sites']:.2%}; per site: {sites}")
    e = result["energy"]
    lines.append(f"energy ESTIMATE, {e['convention']}: {e['pj_per_token'] / 1e3:.4g} nJ/token "
                 f"({e['ac_per_token']:.4g} AC + {e['mac_per_token']:.4g} MAC per token; "
                 f"dense equivalent {e['dense_equivalent_pj_per_token'] / 1e3:.4g} nJ/token)")
    return "\n".join(lines)
