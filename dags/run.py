"""`symboliclight run`: the main job, the whole graph on the embedded default sample.

Today it builds the offline sample corpus and prints its statistics; later stages join as they land.
"""

from __future__ import annotations

import argparse

from symboliclight.pipeline.cli_options import common
from symboliclight.pipeline.corpus_stats import compute_stats, format_stats
from symboliclight.pipeline.sample import SampleConfig, build_sample


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", parents=[common()], help="the main job: the whole graph on the default sample")
    p.add_argument("--size-mb", type=float, default=None, help="sample size in MB of text (default: the recipe's)")
    p.add_argument("--recipe", default="default", help="recipe name or YAML path")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = SampleConfig(recipe=args.recipe, size_mb=args.size_mb)
    art = build_sample(cfg, workdir=args.workdir)
    print(format_stats(compute_stats(art)))
    return 0
