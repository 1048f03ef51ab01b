"""`symboliclight model ...` subcommands: `model info CONFIG [--set key=value ...] [--json]`."""

from __future__ import annotations

import argparse
import dataclasses

from symboliclight.pipeline.cli_options import common, print_json

from .config import GPT2Config, SymbolicLightConfig, load_model_config

# torch-dependent modules are imported inside the commands so that building the CLI stays fast


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="inspect model configurations")
    msub = model.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    p = msub.add_parser("info", parents=[common()],
                        help="parameter count with a per-module breakdown (built on the meta device)")
    p.add_argument("config", metavar="CONFIG", help="shipped name (tiny, 194m, 0.8b, gpt2-124m) or a YAML path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set attention=false (repeatable)")
    p.add_argument("--matched-gpt2", action="store_true",
                   help="describe the GPT-2 baseline matched in parameters to this SymbolicLight config")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)


def model_info(cfg: SymbolicLightConfig | GPT2Config) -> dict:
    """Parameter count, per-module breakdown and the resolved config, as one JSON-able dict."""
    from .build import build_model, count_params, param_breakdown

    model = build_model(cfg, device="meta")
    info: dict = {
        "params": count_params(model),
        "arch": cfg.arch,
        "modules": dict(param_breakdown(model, depth=1)),
        "breakdown": dict(param_breakdown(model)),
    }
    if isinstance(cfg, SymbolicLightConfig):
        info["params_per_block"] = info["modules"]["blocks"] // cfg.n_layers
        info["variant"] = {"attention": cfg.attention, "decay": cfg.decay, "dynamic_prior": cfg.dynamic_prior,
                           "encoder_mask": cfg.encoder_mask}
    info["config"] = dataclasses.asdict(cfg)
    return info


def cmd_info(args: argparse.Namespace) -> int:
    cfg = load_model_config(args.config, args.overrides)
    info = model_info(cfg)
    if args.matched_gpt2:
        if not isinstance(cfg, SymbolicLightConfig):
            from symboliclight.pipeline.errors import UserError
            raise UserError("--matched-gpt2 needs a SymbolicLight config")
        from .gpt2 import matched_gpt2_config
        matched = model_info(matched_gpt2_config(cfg))
        info["matched_gpt2"] = {"params": matched["params"], "config": matched["config"],
                                "relative_gap": (matched["params"] - info["params"]) / info["params"]}
    if args.json:
        print_json(info)
        return 0
    print(f"{args.config}: {info['params']:,} parameters ({cfg.arch})")
    width = max(len(k) for k in info["breakdown"])
    for key, n in info["modules"].items():
        print(f"  {key:<{width}}  {n:>14,}")
    print("  by module (blocks summed over layers):")
    for key, n in info["breakdown"].items():
        print(f"    {key:<{width}}  {n:>14,}")
    if "matched_gpt2" in info:
        m = info["matched_gpt2"]
        c = m["config"]
        print(f"matched GPT-2: {c['n_layer']} layers x {c['n_embd']}, {m['params']:,} parameters "
              f"({m['relative_gap']:+.2%})")
    return 0
