"""`symboliclight train`: Lightning pre-training from a YAML config, with overrides on the command line.

    symboliclight train [fit|validate] --config NAME|PATH [--shards VERSION] [--max-steps N]
                        [--out DIR] [--name NAME] [--resume [CKPT]] [--set key=value ...]
                        [--trainer.max_steps 100 --optim.lr 1e-3 ...] [--print-config] [--json]

As in Lightning's CLI, every config field is also a dotted flag (`--section.field VALUE`, the value
parsed as YAML); `--set a.b=value` does the same for any key, including free-form ones such as
`model.overrides.dropout`. Precedence: the YAML, then `--set`, then dotted flags, then the short
forms (`--shards`, `--max-steps`, `--name`). All checks run before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import typing
from typing import Any

from symboliclight.pipeline.cli_options import common, print_json

from .train_config import TrainConfig, config_to_yaml, load_train_config

_SECTION_SEP = "__"


def _leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _leaf_fields(tp, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", tp))
    return out


def _type_name(tp: Any) -> str:
    name = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
    return name.upper()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", parents=[common()], help="pre-train SymbolicLight (or the GPT-2 baseline) with Lightning",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", choices=("fit", "validate"), default="fit",
                   help="fit (default) trains; validate reports val loss/PPL per domain and sparsity")
    p.add_argument("--config", "-c", required=True, help="shipped train config (tiny-cpu, 194m, 0.8b) or a YAML path")
    p.add_argument("--shards", help="shards version id, `latest`, or a path (sets data.shards)")
    p.add_argument("--max-steps", type=int, help="optimiser steps (sets trainer.max_steps)")
    p.add_argument("--name", help="run name (sets name; the run directory is <workdir>/runs/<name>)")
    p.add_argument("--out", help="run directory (default: <workdir>/runs/<name>)")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="continue the run from its newest checkpoint, or from CKPT")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set optim.lr=1e-3 model.overrides.dropout=0.0")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    group = p.add_argument_group("config fields (Lightning-CLI style; values parsed as YAML)")
    for key, tp in _leaf_fields(TrainConfig):
        if "." not in key:
            continue  # top-level `name` has its own flag
        group.add_argument(f"--{key}", dest=f"cfg{_SECTION_SEP}{key.replace('.', _SECTION_SEP)}",
                           default=argparse.SUPPRESS, metavar=_type_name(tp))
    p.set_defaults(func=_cmd_train)


_EXP_FLOAT = re.compile(r"^[+-]?\d+[eE][+-]?\d+$")


def _normalise(item: str) -> str:
    """`lr=1e-3` → `lr=0.001`: YAML 1.1 (PyYAML) reads a mantissa without a dot as a string."""
    key, sep, value = item.partition("=")
    if sep and _EXP_FLOAT.match(value.strip()):
        return f"{key}={float(value)!r}"
    return item


def collect_overrides(args: argparse.Namespace) -> list[str]:
    overrides = [_normalise(s) for s in args.set]
    for dest, value in sorted(vars(args).items()):
        if dest.startswith(f"cfg{_SECTION_SEP}"):
            key = dest[len(f"cfg{_SECTION_SEP}"):].replace(_SECTION_SEP, ".")
            overrides.append(_normalise(f"{key}={value}"))
    # Short forms: exact strings (json quoting keeps a version id like 12e45 from parsing as a number).
    if args.shards is not None:
        overrides.append(f"data.shards={json.dumps(args.shards)}")
    if args.name is not None:
        overrides.append(f"name={json.dumps(args.name)}")
    if args.max_steps is not None:
        overrides.append(f"trainer.max_steps={int(args.max_steps)}")
    return overrides


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config, collect_overrides(args))
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0
    from .train import _is_rank_zero, prepare_run, run_fit, run_validate

    plan = prepare_run(cfg, workdir=args.workdir, out=args.out, resume=args.resume, mode=args.mode)
    if args.mode == "validate":
        result = run_validate(plan)
        if _is_rank_zero():
            print_json(result) if args.json else _print_val(result)
        return 0
    summary = run_fit(plan)
    if _is_rank_zero():
        if args.json:
            print_json(summary)
        else:
            val = summary.get("val") or {}
            ppl = f", val PPL {val['val/ppl']:.3g}" if "val/ppl" in val else ""
            print(f"trained {summary['arch']} ({summary['params']:,} params) for {summary['steps']} steps, "
                  f"{summary['tokens']:,} tokens{ppl}; report: {plan.run_dir / 'report.md'}")
    return 0


def _print_val(result: dict[str, float]) -> None:
    for key in sorted(result):
        print(f"{key}\t{result[key]:.6g}")


__all__ = ["register", "collect_overrides", "TrainConfig", "config_to_yaml"]


def main(argv: list[str] | None = None) -> int:
    """`python -m symboliclight.model.train_cli ARGS` is `symboliclight train ARGS` importing the model
    layer alone: a GPU image without the data pipeline's packages (datatrove, orjson, zstandard) can
    still train from existing shards."""
    import sys

    from symboliclight.pipeline.cli_options import run_command

    parser = argparse.ArgumentParser(prog="symboliclight")
    register(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    raise SystemExit(main())
