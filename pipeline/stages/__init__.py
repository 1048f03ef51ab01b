"""Data stages (clean, dedup, balance) as datatrove pipelines driven by one runner.

A stage is a module in this package exposing `STAGE` (see `runner.py` for the contract); it is
looked up by name here, imported only when used.
"""

from __future__ import annotations

import importlib

from ..errors import UserError

STAGE_MODULES = {
    "clean": "symboliclight.pipeline.stages.clean",
    "dedup": "symboliclight.pipeline.stages.dedup",
    "balance": "symboliclight.pipeline.stages.balance",
}
DEFAULT_ORDER = ("clean", "dedup", "balance")


def get_stage(name: str):
    """The `Stage` object of a named stage (UserError for an unknown or missing one)."""
    if name not in STAGE_MODULES:
        raise UserError(f"unknown stage {name!r} (known: {', '.join(STAGE_MODULES)})")
    try:
        module = importlib.import_module(STAGE_MODULES[name])
    except ModuleNotFoundError as e:
        if e.name == STAGE_MODULES[name]:
            raise UserError(f"stage {name!r} is not available in this installation") from None
        raise
    return module.STAGE
