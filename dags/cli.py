"""The `symboliclight` command: one entry point that dispatches to every stage.

Each layer exposes `register(subparsers)` for its own subcommands; this top layer collects them
(lower layers never import upward). User mistakes surface as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from symboliclight.pipeline.cli_options import run_command

Registrar = Callable[[argparse._SubParsersAction], None]


def _registrars() -> list[Registrar]:
    from symboliclight.dags import run as run_cmd
    from symboliclight.pipeline import cli as pipeline_cli

    regs: list[Registrar] = [run_cmd.register, pipeline_cli.register]
    # Later layers register as they land; each import is local so `--help` stays fast.
    for mod in ("symboliclight.tokenizer.cli", "symboliclight.tokenizer.shards_cli", "symboliclight.model.cli", "symboliclight.model.train_cli", "symboliclight.model.eval_cli"):
        try:
            module = __import__(mod, fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        regs.append(module.register)
    return regs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symboliclight",
        description="Offline pre-training of bilingual (zh/en) SymbolicLight V1 spiking language models.",
    )
    try:
        version = metadata.version("symboliclight")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        version = "unknown"
    parser.add_argument("--version", action="version", version=f"symboliclight {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
