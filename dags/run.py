"""`symboliclight run`: the main job, the whole stage graph on the embedded default sample.

    symboliclight run [--config FILE] [--set key=value ...] [--size-mb X] [--until STAGE]
                      [--dry-run [--json]] [--executor local|slurm|ray] [--workdir DIR]

corpus sample → clean → dedup → balance/split → tokenizer → shards → train → eval, as defined in
`graph.py` from `configs/run/default.yaml` (or `--config`). Finished versions are skipped, so a rerun
after a change runs exactly the stages downstream of it, and a rerun after a crash resumes at the
stage that was interrupted. `--dry-run` prints the plan with every version, running nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symboliclight.pipeline.cli_options import common, print_json

STAGES_HELP = "corpus, clean, dedup, balance, tokenizer, shards, train, eval"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", parents=[common()], help="the main job: the whole graph on the default sample",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="run config YAML (default: configs/run/default.yaml)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override a run-config key, e.g. --set tokenizer.overrides.vocab_size=4000")
    p.add_argument("--size-mb", type=float, default=None, help="sample size in MB of text (sets corpus.size_mb)")
    p.add_argument("--until", metavar="STAGE", help=f"stop after this stage (one of: {STAGES_HELP})")
    p.add_argument("--node", metavar="STAGE", help="run exactly this stage; its inputs must be finished "
                   "(used by the Slurm jobs and Airflow tasks)")
    p.add_argument("--dry-run", action="store_true", help="print the plan with versions and run nothing")
    p.add_argument("--executor", choices=("local", "slurm", "ray"), help="where the data stages run (sets executor.kind)")
    p.add_argument("--json", action="store_true", help="print the plan / the stage records as JSON")
    p.set_defaults(func=cmd_run)


def resume_command(args: argparse.Namespace, workdir: Path, config_path: Path) -> list[str]:
    """This command with absolute paths, for jobs that continue the graph elsewhere (Slurm)."""
    cmd = [sys.executable, "-m", "symboliclight.dags.cli", "run", "--workdir", str(workdir),
           "--config", str(config_path.resolve())]
    if args.set:
        cmd += ["--set", *args.set]
    if args.size_mb is not None:
        cmd += ["--size-mb", repr(args.size_mb)]
    if args.until:
        cmd += ["--until", args.until]
    if args.executor:
        cmd += ["--executor", args.executor]
    return cmd


def cmd_run(args: argparse.Namespace) -> int:
    from .execute import records_json, run_graph, select
    from .graph import build_graph, format_plan, plan_json
    from .run_config import default_run_config_path, load_run_config

    workdir = Path(args.workdir).resolve()
    config_path = Path(args.config) if args.config else default_run_config_path()
    cfg = load_run_config(config_path, args.set, size_mb=args.size_mb, executor=args.executor)
    graph = build_graph(cfg, workdir)
    if args.until and args.node:
        from symboliclight.pipeline.errors import UserError

        raise UserError("--until and --node exclude each other")
    for name in (args.until, args.node):
        if name:
            graph.node(name)
    if args.dry_run:
        plan = graph.plan(workdir)
        selected = select(graph, args.until, args.node)
        if args.json:
            print_json(plan_json(plan, selected))
        else:
            print(format_plan(plan, selected, workdir))
            todo = [p.node.name for p in plan if p.node.name in selected and not p.done]
            print(f"{len(todo)} of {len(selected)} stages to run" + (f": {', '.join(todo)}" if todo else ""))
        return 0
    echo = (lambda _msg: None) if args.json else print
    records = run_graph(graph, workdir, until=args.until, only=args.node,
                        resume_command=resume_command(args, workdir, config_path), echo=echo)
    if args.json:
        print_json(records_json(records))
        return 0
    total = sum(r.seconds for r in records)
    print("\n" + "\n".join(f"{r.stage:<10} {r.status:<9} {r.seconds:>8.1f}s  {r.version}" for r in records))
    if records and records[-1].status == "submitted":
        print(f"submitted to Slurm; `symboliclight run --dry-run` shows progress (scripts in {workdir / 'slurm'})")
    elif args.node is None:
        print(f"{'total':<20} {total:>8.1f}s; report: {workdir / 'report.md'}")
    return 0
