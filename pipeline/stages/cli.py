"""`symboliclight pipeline run|stats`: the data stages from the command line."""

from __future__ import annotations

import argparse
import sys

from ..artifacts import resolve
from ..cli_options import common, print_json
from ..errors import UserError
from ..typed_config import load_yaml
from . import DEFAULT_ORDER


def register_pipeline(sub: argparse._SubParsersAction) -> None:
    """Add the `pipeline` command group (call from `symboliclight.pipeline.cli.register`)."""
    p = sub.add_parser("pipeline", help="clean / dedup / balance stages and their statistics")
    psub = p.add_subparsers(dest="pipeline_command", metavar="ACTION")
    psub.required = True

    r = psub.add_parser("run", parents=[common()], help="run data stages on a corpus version")
    r.add_argument("--input", required=True, metavar="CORPUS_VERSION",
                   help="corpus version id, 'latest', or an artifact path")
    r.add_argument("--stages", default=",".join(DEFAULT_ORDER), help="comma-separated, in order (default: %(default)s)")
    r.add_argument("--config", metavar="FILE", help="YAML with per-stage sections (clean:, dedup:, balance:, executor:)")
    r.add_argument("--executor", choices=("local", "slurm", "ray"), help="where datatrove runs (default: local)")
    r.add_argument("--tasks", type=int, help="datatrove tasks (default 2); outputs do not depend on it")
    r.add_argument("--workers", type=int, help="tasks run at once (default: all)")
    r.add_argument("--strict", action="store_true", help="a malformed input line is fatal instead of quarantined")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    r.set_defaults(func=cmd_run)

    s = psub.add_parser("stats", parents=[common()], help="kept/dropped counts per reason, domain and language")
    s.add_argument("version", metavar="VERSION", help="corpus version id, 'latest', or an artifact path")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_stats)


def _resume_command(args: argparse.Namespace, input_version: str) -> list[str]:
    cmd = [sys.executable, "-m", "symboliclight.dags.cli", "pipeline", "run", "--workdir", str(args.workdir),
           "--input", input_version, "--stages", args.stages]
    if args.config:
        cmd += ["--config", str(args.config)]
    for flag in ("executor", "tasks", "workers"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    if args.strict:
        cmd.append("--strict")
    return cmd


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import load_executor_config, run_stages

    names = [s.strip() for s in args.stages.split(",") if s.strip()]
    if not names:
        raise UserError("--stages is empty")
    user = load_yaml(args.config) if args.config else {}
    executor = load_executor_config(user, {"kind": args.executor, "tasks": args.tasks, "workers": args.workers})
    art = resolve(args.input, "corpus", args.workdir)
    results = run_stages(names, art, workdir=args.workdir, user_config=user, executor=executor, strict=args.strict,
                         resume_command=_resume_command(args, str(art.path)))
    if args.json:
        print_json([{"stage": r.stage, "version": r.version, "path": str(r.path), "status": r.status} for r in results])
    else:
        for r in results:
            print(f"{r.stage:<8} {r.status:<9} {r.version}  {r.path}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .funnel import format_report, stats_report

    art = resolve(args.version, "corpus", args.workdir)
    rep = stats_report(art)
    if args.json:
        print_json(rep)
    else:
        print(format_report(rep))
    return 0
