"""`symboliclight tokenizer train|report`: the tokenizer stage's command line."""

from __future__ import annotations

import argparse
import json

from symboliclight.pipeline.cli_options import common, print_json

from .config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train and report on the bilingual BPE tokenizer")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    tsub.required = True

    t = tsub.add_parser("train", parents=[common()], help="train a tokenizer on a corpus version")
    t.add_argument("--corpus", required=True, metavar="VERSION", help="corpus version id, 'latest', or an artifact path")
    t.add_argument("--vocab-size", type=int, default=None, metavar="N", help="vocabulary size (default: the config's, 48000)")
    t.add_argument("--config", default=None, metavar="FILE", help="tokenizer YAML (default: configs/tokenizer/default.yaml)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    t.add_argument("--out", default=None, metavar="DIR", help="write the artifact here instead of <workdir>/tokenizer/<version>")
    t.add_argument("--reference", default=None, metavar="MODEL", help="SentencePiece model to compare with in report.json")
    t.add_argument("--json", action="store_true", help="print the report as JSON")
    t.set_defaults(func=cmd_train)

    r = tsub.add_parser("report", parents=[common()], help="compression, exactness and speed on a corpus's held-out text")
    r.add_argument("--tokenizer", required=True, metavar="VERSION", help="tokenizer version id, 'latest', or a path")
    r.add_argument("--corpus", required=True, metavar="VERSION", help="corpus version id, 'latest', or a path")
    r.add_argument("--reference", default=None, metavar="MODEL", help="SentencePiece model to compare with")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=cmd_report)


def cmd_train(args: argparse.Namespace) -> int:
    from .report import format_report
    from .train import REPORT_FILE, train

    overrides = list(args.set)
    if args.reference is not None:
        overrides.append(f"report.reference_model={args.reference}")
    cfg = load_config(args.config, overrides, vocab_size=args.vocab_size)
    art = train(args.corpus, cfg, workdir=args.workdir, out=args.out)
    report_path = art.path / REPORT_FILE
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    if args.json:
        print_json({"version": art.version, "path": str(art.path), "report": report})
    else:
        print(f"tokenizer {art.version} at {art.path}")
        if report:
            print(format_report(report))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import format_report, report_for

    report = report_for(args.tokenizer, args.corpus, args.workdir, args.reference)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0
