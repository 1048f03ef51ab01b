"""Compare an uninterrupted training run with the same run stopped and resumed: per-step train
losses, validation, throughput and MFU, as one JSON object (the GPU half of `gpu_check.sh`; on CPU
the test suite already demands bit-identical resumes).

    python bench/train_resume_check.py FULL_RUN_DIR RESUMED_RUN_DIR [--json PATH]

On a GPU the two runs need not agree bit for bit (bf16 and atomically accumulated backward kernels
are not deterministic); the report gives the largest per-step loss difference instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def compare(full: Path, resumed: Path) -> dict[str, Any]:
    from symboliclight.model.run_logging import read_metrics

    a, b = read_metrics(full), read_metrics(resumed)
    la, lb = a.get("train/loss", {}), b.get("train/loss", {})
    common = sorted(set(la) & set(lb))
    diffs = {s: abs(la[s] - lb[s]) for s in common}
    report = json.loads((full / "report.json").read_text()) if (full / "report.json").is_file() else {}
    return {
        "steps_compared": common,
        "train_loss_full": [la[s] for s in common],
        "train_loss_resumed": [lb[s] for s in common],
        "max_abs_loss_diff": max(diffs.values()) if diffs else None,
        "identical": bool(common) and all(d == 0 for d in diffs.values()),
        "val_loss_full": a.get("val/loss", {}),
        "val_loss_resumed": b.get("val/loss", {}),
        "tokens_per_s": a.get("perf/tokens_per_s", {}),
        "mfu": a.get("perf/mfu", {}),
        "peak_mem_gib": a.get("perf/peak_mem_gib", {}),
        "sparsity_global": a.get("sparsity/global", {}),
        "params": report.get("params"),
        "flops_per_token": report.get("flops_per_token"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("full", type=Path)
    ap.add_argument("resumed", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    out = compare(args.full, args.resumed)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if out["steps_compared"] else 1


if __name__ == "__main__":
    sys.exit(main())
