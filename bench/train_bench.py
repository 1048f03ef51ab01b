"""Training throughput of `tiny-cpu`: SymbolicLight next to its parameter-matched GPT-2, and the cost
of sparsity logging (on vs off), all through the same LightningModule in one invocation.

Each arm runs in its own process (so peak memory is that arm's own) for `--steps` optimiser steps;
tokens/s and step time are the means over the logging windows after the first (start-up excluded).
Arms are interleaved `--repeats` times to spread the noise of a shared machine over all of them.

    python bench/train_bench.py [--shards DIR] [--steps 40] [--repeats 2] [--json PATH]

Without --shards, the real-text shards of the test suite are built in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = {
    "symboliclight, sparsity logging on": ["trainer.sparsity_logging=true"],
    "symboliclight, sparsity logging off": ["trainer.sparsity_logging=false"],
    "gpt2 (matched), same module": ["model.matched_gpt2=true"],
}


def run_arm(shards: str, steps: int, overrides: list[str], out: Path) -> dict:
    from symboliclight.model.run_logging import read_metrics
    from symboliclight.model.train import prepare_run, run_fit
    from symboliclight.model.train_config import load_train_config

    cfg = load_train_config("tiny-cpu", [f"data.shards={shards}", f"trainer.max_steps={steps}",
                                         "trainer.log_every_n_steps=10", "trainer.val_every_n_steps=0",
                                         "trainer.val_at_end=false", "trainer.ckpt_every_n_steps=0",
                                         "trainer.progress_bar=false", "guard.enabled=false", *overrides])
    summary = run_fit(prepare_run(cfg, out=out), report=False)
    m = read_metrics(out)
    tps = [v for _, v in sorted(m["perf/tokens_per_s"].items())][1:]
    step = [v for _, v in sorted(m["perf/step_time_s"].items())][1:]
    return {"params": summary["params"], "tokens_per_s": statistics.mean(tps), "step_time_s": statistics.mean(step),
            "peak_mem_gib": max(m["perf/peak_mem_gib"].values()), "final_loss": summary.get("val", {}).get("val/loss")}


def paired_overhead(shards: str, pairs: int) -> dict:
    """Sparsity accounting cost inside the step: forward+backward of the tiny-cpu network on a real
    batch with the meter on, then off, back to back, `pairs` times in one process; the median of
    the per-pair ratios is robust to the load of a shared machine."""
    import torch
    from symboliclight.model.build import build_model
    from symboliclight.model.callbacks import NeuronSparsityMeter
    from symboliclight.model.data import ShardsDataModule
    from symboliclight.model.train import resolve_model_config, shards_vocab
    from symboliclight.model.train_config import load_train_config

    cfg = load_train_config("tiny-cpu", [f"data.shards={shards}"])
    torch.set_num_threads(cfg.trainer.threads or torch.get_num_threads())
    vocab, _ = shards_vocab(cfg, ".")
    net = build_model(resolve_model_config(cfg, vocab))
    net.sparsity = NeuronSparsityMeter(net.cfg.n_layers)
    dm = ShardsDataModule(cfg.data, expected_vocab_size=vocab, rank=0, world_size=1)
    tokens = next(iter(dm.train_dataloader()))["tokens"]
    x, y = tokens[:, :-1], tokens[:, 1:]

    def step(on: bool) -> float:
        net.sparsity.enabled = on
        t0 = time.perf_counter()
        net(x, y).loss.backward()
        return time.perf_counter() - t0

    for _ in range(3):
        step(True), step(False)
    ratios, on_t, off_t = [], [], []
    for i in range(pairs):
        first = i % 2 == 0  # alternate the order within a pair
        a = step(first)
        b = step(not first)
        t_on, t_off = (a, b) if first else (b, a)
        on_t.append(t_on)
        off_t.append(t_off)
        ratios.append(t_on / t_off)
    return {"pairs": pairs, "median_ratio": statistics.median(ratios), "on_ms": statistics.median(on_t) * 1e3,
            "off_ms": statistics.median(off_t) * 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=60, help="on/off pairs of the in-process overhead measurement")
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--arm", help=argparse.SUPPRESS)
    ap.add_argument("--arm-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.arm:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_arm(args.shards, args.steps, ARMS[args.arm], Path(tmp) / "run")
        Path(args.arm_out).write_text(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards
        if shards is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from train_fixtures import build_train_shards

            shards = str(build_train_shards(Path(tmp) / "data"))
        runs: dict[str, list[dict]] = {name: [] for name in ARMS}
        for r in range(args.repeats):
            for name in ARMS:
                out = Path(tmp) / f"arm-{r}-{len(runs[name])}-{abs(hash(name))}.json"
                subprocess.run([sys.executable, __file__, "--arm", name, "--arm-out", str(out), "--shards", shards,
                                "--steps", str(args.steps)], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                runs[name].append(json.loads(out.read_text()))
    rows = {}
    for name, results in runs.items():
        rows[name] = {"params": results[0]["params"],
                      "tokens_per_s": statistics.median(x["tokens_per_s"] for x in results),
                      "step_time_s": statistics.median(x["step_time_s"] for x in results),
                      "peak_mem_gib": max(x["peak_mem_gib"] for x in results),
                      "runs": results}
        paired = paired_overhead(shards, args.pairs)
    on, off = rows["symboliclight, sparsity logging on"], rows["symboliclight, sparsity logging off"]
    overhead = on["step_time_s"] / off["step_time_s"] - 1.0
    paired_overhead_share = paired["median_ratio"] - 1.0
    print(f"tiny-cpu, {args.steps} steps x {args.repeats} repeats per arm (medians; first logging window excluded)")
    print(f"{'arm':40s} {'params':>9s} {'tokens/s':>10s} {'step ms':>9s} {'peak RSS GiB':>13s}")
    for name, row in rows.items():
        print(f"{name:40s} {row['params']:>9,d} {row['tokens_per_s']:>10.0f} {row['step_time_s'] * 1e3:>9.1f} "
              f"{row['peak_mem_gib']:>13.3f}")
    print(f"sparsity-logging overhead, whole runs (noisy on a shared machine): {overhead * 100:+.1f}% of step time")
    print(f"sparsity-accounting overhead, {paired['pairs']} interleaved on/off fwd+bwd pairs in one process: "
          f"{paired_overhead_share * 100:+.1f}% (median step {paired['on_ms']:.1f} ms on, {paired['off_ms']:.1f} ms off)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"steps": args.steps, "repeats": args.repeats, "arms": rows,
                                                    "sparsity_logging_overhead_runs": overhead,
                                                    "sparsity_accounting_overhead_paired": paired_overhead_share,
                                                    "paired": paired}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
