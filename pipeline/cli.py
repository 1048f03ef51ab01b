"""`symboliclight corpus ...` subcommands (and, as they land, `pipeline ...`)."""

from __future__ import annotations

import argparse

from .artifacts import resolve
from .cli_options import common, print_json
from .corpus_stats import compute_stats, format_stats


def register(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="build, import and inspect corpora")
    csub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION")
    csub.required = True

    from . import importer, sample

    sample.add_subcommand(csub, common())
    importer.add_subcommand(csub, common())

    from .stages.cli import register_pipeline

    register_pipeline(sub)

    p = csub.add_parser("stats", parents=[common()], help="documents, characters and bytes per domain and language")
    p.add_argument("version", metavar="VERSION", help="corpus version id, 'latest', or an artifact path")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    art = resolve(args.version, "corpus", args.workdir)
    stats = compute_stats(art)
    if args.json:
        print_json(stats)
    else:
        print(format_stats(stats))
    return 0
