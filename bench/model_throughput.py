"""Benchmark: SymbolicLight (fast and oracle implementations) against a parameter-matched GPT-2.

For each model config and context length, in the same process and interleaved round by round
(the machine may be shared, so every figure is the median over rounds):
- training tokens/s: one forward + backward of the LM loss on `--train-tokens` tokens per step
  (batch = train_tokens // context, at least 1), no optimizer;
- prefill tokens/s: the cached forward of one `context`-long prompt (inference mode);
- decode tokens/s: after a prefill of `context − decode_tokens` tokens, `decode_tokens` greedy
  single-token steps with the cache, ending at position `context`;
- peak memory of a training step: on CPU the peak RSS (VmHWM, reset just before the step) above
  the RSS before it, in a fresh subprocess with the model and inputs already built, so it counts
  activations, gradients and workspace; on CUDA `max_memory_allocated` above the allocation before.

Models: `symboliclight-fast` (`impl=fast`: native LIF scan (Triton on CUDA), native decay scan,
fused QKV + RoPE + blockwise attention over strided key spans or, for small windows, the direct
native local attention, fused gate mix and spike counts, ring-buffer decoding cache and the fused
one-call decoding step), `symboliclight-oracle` (`impl=oracle`, the Python LIF loop, S×S decay
convolution and dense-mask attention) and `gpt2` built by `matched_gpt2_config` (same width and
vocabulary, depth chosen to match parameters within `--match-tolerance`, else the closest, with a
warning: at `tiny`, GPT-2's 2048-position table alone is 80% of SymbolicLight's parameters). Rows
carry model FLOPs per trained token, and on CUDA the MFU. Dropout is a recipe choice, not an
architecture one: both networks run with `--dropout` (default 0).

Configs: `tiny` (the shipped toy), `20m` (~20.5M: width 384, 7 layers, F 1536, vocabulary 8192,
window 256) and `125m` (~125M, for a GPU). `--ffn-crossover` times the FFN down projection as a
dense GEMM against the native gather-add over binary hidden spikes at several firing rates.

    python bench/model_throughput.py [--quick] [--configs tiny,20m] [--contexts 512,2048]
        [--device cpu|cuda] [--json PATH] [--ffn-crossover] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("symboliclight-fast", "symboliclight-oracle", "gpt2")
PRESETS: dict[str, tuple[str, list[str]]] = {
    "tiny": ("tiny", []),
    "20m": ("194m", ["vocab_size=8192", "embed_dim=384", "n_layers=7", "n_heads=6", "intermediate_dim=1536",
                     "window=256", "decay_chunk=64"]),
    "125m": ("194m", ["vocab_size=32000", "embed_dim=768", "n_layers=9", "n_heads=12", "intermediate_dim=3072",
                      "window=256", "decay_chunk=64"]),
}


def model_configs(preset: str, max_context: int, dropout: float, tolerance: float) -> dict[str, Any]:
    """The three benchmarked configs of one preset (every model sized for the longest context)."""
    from symboliclight.model.config import load_model_config
    from symboliclight.model.gpt2 import matched_gpt2_config

    base, overrides = PRESETS[preset]
    sl = load_model_config(base, overrides + [f"max_seq_len={max_context}", f"dropout={dropout}"])
    gpt = replace(matched_gpt2_config(sl, tolerance=tolerance), dropout=dropout)
    return {"symboliclight-fast": replace(sl, impl="fast"), "symboliclight-oracle": replace(sl, impl="oracle"),
            "gpt2": gpt}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Any, device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def _autocast(device: torch.device, dtype: str) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")


def train_step(model: torch.nn.Module, idx: torch.Tensor, device: torch.device, dtype: str) -> None:
    model.train()
    for p in model.parameters():
        p.grad = None
    with _autocast(device, dtype):
        loss = model(idx, idx.roll(-1, 1)).loss
    loss.backward()


@torch.inference_mode()
def prefill(model: torch.nn.Module, idx: torch.Tensor, device: torch.device, dtype: str) -> Any:
    model.eval()
    cache = model.new_cache()
    with _autocast(device, dtype):
        logits = model(idx, cache=cache).logits[:, -1]
    return cache, logits


@torch.inference_mode()
def decode(model: torch.nn.Module, prompt: torch.Tensor, steps: int, device: torch.device, dtype: str) -> float:
    """Seconds for `steps` greedy cached steps after prefilling `prompt` (prefill not timed)."""
    cache, logits = prefill(model, prompt, device, dtype)
    _sync(device)
    t = time.perf_counter()
    with _autocast(device, dtype):
        for _ in range(steps):
            nxt = logits.argmax(-1, keepdim=True)
            logits = model(nxt, cache=cache).logits[:, -1]
    _sync(device)
    return time.perf_counter() - t


def _tokens(vocab: int, batch: int, length: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g).to(device)


def _vocab(cfg: Any) -> int:
    return cfg.vocab_size


def memory_cell(preset: str, model_name: str, context: int, args: argparse.Namespace) -> float:
    """Peak memory (MB) of one training step of one model, measured in a fresh process on CPU."""
    if args.device == "cuda":
        device = torch.device("cuda")
        model, idx = _build_for_memory(preset, model_name, context, args, device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        train_step(model, idx, device, args.dtype)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    cmd = [sys.executable, __file__, "--memory-cell", preset, model_name, str(context),
           "--train-tokens", str(args.train_tokens), "--dropout", str(args.dropout),
           "--match-tolerance", str(args.match_tolerance), "--max-context", str(max(args.context_list))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return float(out.stdout.strip().splitlines()[-1])


def _build_for_memory(preset: str, model_name: str, context: int, args: argparse.Namespace,
                      device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
    from symboliclight.model.build import build_model

    cfg = model_configs(preset, args.max_context, args.dropout, args.match_tolerance)[model_name]
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    idx = _tokens(_vocab(cfg), max(1, args.train_tokens // context), context, device)
    return model, idx


def _run_memory_cell(args: argparse.Namespace) -> None:
    preset, model_name, context = args.memory_cell[0], args.memory_cell[1], int(args.memory_cell[2])
    model, idx = _build_for_memory(preset, model_name, context, args, torch.device("cpu"))
    with torch.no_grad():  # touch the model's pages and the native kernels before the baseline
        model.eval()(idx[:, :8])
    base = _status_mb("VmRSS")
    _reset_peak_rss()
    train_step(model, idx, torch.device("cpu"), "fp32")
    print(f"{_status_mb('VmHWM') - base:.1f}")


def _status_mb(field: str) -> float:
    """A /proc/self/status memory field in MB (VmRSS: now; VmHWM: peak since the last reset)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); ru_maxrss cannot be reset and, on Linux,
    carries the parent's peak across fork + exec, which would hide the step's own peak."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def bench_preset(preset: str, args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    from symboliclight.model.build import build_model, count_params

    cfgs = model_configs(preset, args.max_context, args.dropout, args.match_tolerance)
    names = [m for m in MODELS if m in args.model_list]
    models = {}
    for name in names:
        torch.manual_seed(0)
        models[name] = build_model(cfgs[name]).to(device)
    if "gpt2" in models and "symboliclight-fast" in models:
        ratio = count_params(models["gpt2"]) / count_params(models["symboliclight-fast"])
        if abs(ratio - 1) > args.match_tolerance:  # e.g. tiny: GPT-2's position table alone is most of it
            print(f"  {preset}: no GPT-2 of this width is within {args.match_tolerance:.0%} of SymbolicLight's "
                  f"parameters; the closest has {ratio:.2f}x (compare FLOPs per token too)", file=sys.stderr)
    times: dict[tuple[str, int, str], list[float]] = {}
    inputs = {}
    for context in args.context_list:
        batch = max(1, args.train_tokens // context)
        vocab = _vocab(cfgs[names[0]])
        inputs[context] = (_tokens(vocab, batch, context, device), _tokens(vocab, 1, context, device, seed=1),
                           _tokens(vocab, 1, context - args.decode_tokens, device, seed=2))
    for name in names:  # warm-up: native kernels, allocator, first-call paths
        for context in args.context_list:
            train_step(models[name], inputs[context][0][:, :64], device, args.dtype)
            decode(models[name], inputs[context][2][:, :32], 2, device, args.dtype)
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]  # alternate order against drifting load
        for context in args.context_list:
            for name in order:
                m = models[name]
                if name == "symboliclight-oracle" and r >= args.oracle_repeats:
                    continue
                train_idx, pre_idx, dec_idx = inputs[context]
                times.setdefault((name, context, "train"), []).append(
                    _timed(lambda m=m, x=train_idx: train_step(m, x, device, args.dtype), device) / train_idx.numel())
                times.setdefault((name, context, "prefill"), []).append(
                    _timed(lambda m=m, x=pre_idx: prefill(m, x, device, args.dtype), device) / pre_idx.numel())
                times.setdefault((name, context, "decode"), []).append(
                    decode(m, dec_idx, args.decode_tokens, device, args.dtype) / args.decode_tokens)
        args.round_loads.append(round(os.getloadavg()[0], 2))
        print(f"  {preset}: round {r + 1}/{args.repeats} done (load {args.round_loads[-1]})", file=sys.stderr,
              flush=True)
    results = []
    for context in args.context_list:
        for name in names:
            med = {k: statistics.median(times[(name, context, k)]) for k in ("train", "prefill", "decode")}
            results.append({
                "model": name, "config": preset, "params": count_params(models[name]), "context": context,
                "train_tokens_per_s": round(1.0 / med["train"], 2),
                "prefill_tokens_per_s": round(1.0 / med["prefill"], 2),
                "decode_tokens_per_s": round(1.0 / med["decode"], 2),
                "peak_mem_mb": None,
                "train_flops_per_token": round(train_flops_per_token(models[name], cfgs[name], context)),
            })
    del models
    if not args.no_memory:
        for row in results:
            row["peak_mem_mb"] = round(memory_cell(preset, row["model"], row["context"], args), 1)
    return results


def ffn_crossover(args: argparse.Namespace, preset: str = "20m") -> list[dict[str, Any]]:
    """Down projection z @ W_downᵀ and its weight gradient: dense GEMM vs native gather-add."""
    from symboliclight.model.sparse_ffn import sparse_down

    cfg = model_configs(preset, args.max_context, 0.0, args.match_tolerance)["symboliclight-fast"]
    N, F, D = args.train_tokens, cfg.intermediate_dim, cfg.embed_dim
    torch.manual_seed(0)
    w = torch.randn(D, F, requires_grad=True)
    g = torch.randn(N, D)
    rows = []
    for density in (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2):
        z = (torch.rand(N, F) < density).float()

        def dense(z=z) -> None:
            (z @ w.t()).backward(g)

        def gather(z=z) -> None:
            sparse_down(z, w).backward(g)

        t_dense = statistics.median(_timed(dense, torch.device("cpu")) for _ in range(args.repeats + 2))
        t_gather = statistics.median(_timed(gather, torch.device("cpu")) for _ in range(args.repeats + 2))
        rows.append({"density": density, "N": N, "F": F, "D": D, "dense_ms": round(t_dense * 1e3, 3),
                     "gather_ms": round(t_gather * 1e3, 3), "gather_speedup": round(t_dense / t_gather, 3)})
    return rows


def attended_keys(context: int, window: int | None, n_anchors: int = 0) -> float:
    """Mean number of keys a query attends over positions 0..context−1: causal (i + 1) for GPT-2;
    for SymbolicLight the window's min(i, W) + 1 plus the anchors that lie before the window."""
    if window is None:
        return (context + 1) / 2
    total = sum(min(i, window) + 1 + min(n_anchors, max(0, i - window)) for i in range(context))
    return total / context


def train_flops_per_token(model: torch.nn.Module, cfg: Any, context: int) -> float:
    """Model FLOPs of one trained token (forward + backward = 3 × forward), the MFU numerator:
    2 per weight of every matrix product (each distinct nn.Linear weight once; embedding lookups are
    not products) plus attention's QKᵀ and AV, 4·D per attended key and layer. The spiking
    recurrences (LIF, decay) are a few elementwise ops per channel and are not counted."""
    weights = {id(m.weight): m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)}
    if hasattr(cfg, "n_layer"):  # GPT-2
        layers, width, keys = cfg.n_layer, cfg.n_embd, attended_keys(context, None)
    else:
        layers = cfg.n_layers if cfg.attention else 0
        width, keys = cfg.embed_dim, attended_keys(context, cfg.window, cfg.n_anchors)
    return 3 * (2 * sum(weights.values()) + 4 * width * keys * layers)


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype = torch.bfloat16, n: int = 8192) -> float:
    """Measured dense matmul throughput (the MFU denominator on a GPU)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    t = statistics.median(_timed(lambda: a @ b, device) for _ in range(10))
    return 2 * n**3 / t / 1e12


CHECK_REL = 1e-5  # the fp32 tolerance for fast paths against the oracle


def agreement_check(device: torch.device) -> dict[str, Any]:
    """Fast vs oracle on `device`, fp32: max relative error of the logits and of every parameter
    gradient of the tiny model, and whether the fast LIF scan (native C on CPU, Triton on CUDA)
    gives the oracle's spikes and final membrane bit for bit at a long context."""
    from symboliclight.model.build import build_model
    from symboliclight.model.config import load_model_config
    from symboliclight.model.spike_kernels import lif_scan_fast
    from symboliclight.model.spiking import lif_scan

    out: dict[str, Any] = {}
    grads, logits = {}, {}
    for impl in ("oracle", "fast"):
        torch.manual_seed(0)
        cfg = load_model_config("tiny", [f"impl={impl}", "dropout=0.0", "max_seq_len=512", "window=32", "attn_block=16"])
        model = build_model(cfg).to(device).train()
        idx = _tokens(cfg.vocab_size, 2, 200, device)
        res = model(idx, idx.roll(-1, 1))
        res.loss.backward()
        logits[impl] = res.logits.detach().float()
        grads[impl] = {n: p.grad.float() for n, p in model.named_parameters()}
    out["logits_rel"] = float((logits["fast"] - logits["oracle"]).abs().max() / logits["oracle"].abs().max())
    out["grad_rel_max"] = max(float((grads["fast"][n] - g).abs().max() / g.abs().max().clamp_min(1e-30))
                              for n, g in grads["oracle"].items())
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 2048, 768, generator=g) * 1.3).to(device)
    v0 = torch.randn(2, 768, generator=g).to(device)
    fast, oracle = lif_scan_fast(x, v0, 0.95, 1.0, 3.0, 2.0), lif_scan(x, v0, leak=0.95, threshold=1.0, clamp=3.0)
    out["lif_bitwise_equal"] = bool(torch.equal(fast[0], oracle[0]) and torch.equal(fast[1], oracle[1]))
    out["passed"] = out["logits_rel"] <= CHECK_REL and out["grad_rel_max"] <= CHECK_REL and out["lif_bitwise_equal"]
    return out


def print_table(results: list[dict[str, Any]]) -> None:
    cols = ("config", "params", "context", "model", "train_tokens_per_s", "prefill_tokens_per_s",
            "decode_tokens_per_s", "peak_mem_mb")
    heads = ("config", "params", "ctx", "model", "train tok/s", "prefill tok/s", "decode tok/s", "peak MB")
    if any("mfu" in row for row in results):
        cols, heads = cols + ("mfu",), heads + ("MFU",)
    print(" | ".join(f"{h:>20}" if i == 3 else f"{h:>13}" for i, h in enumerate(heads)))
    for row in results:
        print(" | ".join(f"{str(row.get(c)):>20}" if i == 3 else f"{str(row.get(c)):>13}" for i, c in enumerate(cols)))
    print()
    for config in dict.fromkeys(r["config"] for r in results):
        for context in dict.fromkeys(r["context"] for r in results if r["config"] == config):
            cell = {r["model"]: r for r in results if r["config"] == config and r["context"] == context}
            fast = cell.get("symboliclight-fast")
            if fast is None:
                continue
            parts = []
            for other in ("gpt2", "symboliclight-oracle"):
                if other in cell:
                    parts.append(f"train {fast['train_tokens_per_s'] / cell[other]['train_tokens_per_s']:.2f}x "
                                 f"decode {fast['decode_tokens_per_s'] / cell[other]['decode_tokens_per_s']:.2f}x "
                                 f"prefill {fast['prefill_tokens_per_s'] / cell[other]['prefill_tokens_per_s']:.2f}x"
                                 f" vs {other}")
            print(f"{config} @ {context}: fast " + "; ".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="tiny,20m", help=f"comma list of {', '.join(PRESETS)}")
    ap.add_argument("--contexts", default="512,2048")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--dtype", default=None, choices=("fp32", "bf16"), help="default: fp32 on CPU, bf16 on CUDA")
    ap.add_argument("--train-tokens", type=int, default=2048, help="tokens per training step")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--oracle-repeats", type=int, default=None, help="rounds for the (slow) oracle")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--match-tolerance", type=float, default=0.05, help="GPT-2 parameter match tolerance")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="3 rounds (oracle 1), 16 decode steps")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--ffn-crossover", action="store_true", help="also time dense vs gather FFN down projection")
    ap.add_argument("--check", action="store_true", help="also check fast vs oracle agreement on the device")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--memory-cell", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--max-context", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.context_list = [int(c) for c in args.contexts.split(",")]
    args.max_context = args.max_context or max(args.context_list)
    args.model_list = args.models.split(",")
    if args.memory_cell:
        _run_memory_cell(args)
        return 0
    if args.quick:
        args.repeats, args.decode_tokens = 3, 16
        args.oracle_repeats = args.oracle_repeats or 1
    args.oracle_repeats = args.oracle_repeats or args.repeats
    args.dtype = args.dtype or ("bf16" if args.device == "cuda" else "fp32")
    unknown = [c for c in args.configs.split(",") if c not in PRESETS] + [m for m in args.model_list if m not in MODELS]
    if unknown:
        ap.error(f"unknown config/model: {', '.join(unknown)}")
    device = torch.device(args.device)
    report: dict[str, Any] = {
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"),
        "results": [],
        "settings": {"dtype": args.dtype, "train_tokens": args.train_tokens, "decode_tokens": args.decode_tokens,
                     "repeats": args.repeats, "oracle_repeats": args.oracle_repeats, "dropout": args.dropout,
                     "match_tolerance": args.match_tolerance, "torch": torch.__version__,
                     "load_average": list(os.getloadavg())},
    }
    args.round_loads = []
    for preset in args.configs.split(","):
        report["results"].extend(bench_preset(preset, args, device))
    report["settings"]["load_average_end"] = list(os.getloadavg())
    report["settings"]["load_average_1min_after_each_round"] = args.round_loads
    if args.ffn_crossover and device.type == "cpu":
        report["ffn_crossover"] = ffn_crossover(args)
    if device.type == "cuda":
        peak = matmul_peak_tflops(device)
        report["matmul_peak_tflops_bf16"] = round(peak, 1)
        for row in report["results"]:  # model FLOPs utilisation of the training step
            row["mfu"] = round(row["train_tokens_per_s"] * row["train_flops_per_token"] / (peak * 1e12), 4)
    if args.check:
        report["agreement"] = agreement_check(device)
    print_table(report["results"])
    for key in ("ffn_crossover", "matmul_peak_tflops_bf16", "agreement"):
        if key in report:
            print(f"{key}: {json.dumps(report[key])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if "agreement" in report and not report["agreement"]["passed"]:
        print(f"error: fast paths disagree with the oracle beyond {CHECK_REL:g} on {device}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
