"""`symboliclight corpus sample [OUT]`: command-line wiring for the sample builder."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .build import build_sample, summary
from .config import SampleConfig


def _source_path(item: str) -> tuple[str, str]:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {item!r}")
    return name, path


def add_subcommand(csub: argparse._SubParsersAction, common_parent: argparse.ArgumentParser) -> None:
    p = csub.add_parser(
        "sample", parents=[common_parent],
        help="build the offline ten-domain bilingual sample corpus",
        description="Build the ten-domain zh/en sample corpus from installed offline sources "
                    "(scripts/install_sources.sh installs them); missing sources are skipped and recorded.",
    )
    p.add_argument("out", nargs="?", default=None, metavar="OUT",
                   help="artifact directory (default: <workdir>/corpus/<version>)")
    p.add_argument("--size-mb", type=float, default=None, help="total MB of text (default: the recipe's sample_mb sum)")
    p.add_argument("--recipe", default="default", help="recipe name or YAML path (default: default)")
    p.add_argument("--seed", type=int, default=0, help="selection and generation seed (default: 0)")
    p.add_argument("--sources-dir", default=None,
                   help="sources cache (default: $SYMBOLICLIGHT_SOURCES or ~/.cache/symboliclight/sources)")
    p.add_argument("--catalogue", default="offline", help="source catalogue name or YAML path (default: offline)")
    p.add_argument("--source-path", action="append", type=_source_path, default=[], metavar="NAME=DIR",
                   help="read source NAME from DIR instead of its catalogue path (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    if args.size_mb is not None and args.size_mb <= 0:
        raise UserError(f"--size-mb must be positive, got {args.size_mb}")
    cfg = SampleConfig(recipe=args.recipe, size_mb=args.size_mb, seed=args.seed, sources_dir=args.sources_dir,
                       catalogue=args.catalogue, source_paths=dict(args.source_path))
    art = build_sample(cfg, workdir=args.workdir, out=args.out, progress=not args.no_progress)
    print(f"wrote {art.path}")
    print(summary(art))
    skipped = art.manifest.get("sources_skipped", [])
    if skipped:
        names = ", ".join(s["name"] for s in skipped)
        print(f"warning: {len(skipped)} source(s) not installed, skipped: {names} "
              "(see sources_skipped in manifest.json; scripts/install_sources.sh installs them)", file=sys.stderr)
    return 0
