"""Options shared by every subcommand (DESIGN.md conventions), defined in the lowest layer."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def common() -> argparse.ArgumentParser:
    """Parent parser with `--workdir` (default ./work, or $SYMBOLICLIGHT_WORKDIR) and `--verbose`."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--workdir", default=os.environ.get("SYMBOLICLIGHT_WORKDIR", "work"),
                   help="where artifacts live (default: ./work)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also print datatrove's INFO logs (always kept in each artifact's _datatrove/*/logs)")
    return p


def apply_verbosity(args: argparse.Namespace) -> None:
    """`--verbose` raises datatrove's console level to INFO for this process and its workers."""
    from .stages.console import LEVEL_ENV

    if getattr(args, "verbose", False):
        os.environ[LEVEL_ENV] = "INFO"


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand (`args.func`) the way every entry point does: `--verbose` applied,
    a user mistake as one `error:` line (exit 2), Ctrl-C as 130, a closed output pipe quietly (141)."""
    from .errors import UserError

    apply_verbosity(args)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
