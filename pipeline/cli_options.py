"""Options shared by every subcommand (DESIGN.md conventions), defined in the lowest layer."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def common() -> argparse.ArgumentParser:
    """Parent parser with `--workdir` (default ./work, or $SYMBOLICLIGHT_WORKDIR)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--workdir", default=os.environ.get("SYMBOLICLIGHT_WORKDIR", "work"),
                   help="where artifacts live (default: ./work)")
    return p


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, sort_keys=False)
    sys.stdout.write("\n")
