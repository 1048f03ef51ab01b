"""How much of datatrove's own logging reaches the console while a stage runs on local processes.

datatrove logs every task's pipeline, its per-step statistics and its completion at INFO, to stderr
and to the task's log file: hundreds of lines for one `symboliclight run`, which bury the stage
runner's own one-line summaries (documents in, kept, dropped, quarantined). The log files keep
everything (`<artifact>/_datatrove/<pipeline>/logs/task_NNNNN.log`, stats beside them), so the
console gets datatrove's warnings and errors only unless the user asks for more (`--verbose`, or
`SYMBOLICLIGHT_DATATROVE_LOG=INFO`). Slurm and Ray tasks log where their cluster puts them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

LEVEL_ENV = "SYMBOLICLIGHT_DATATROVE_LOG"
DEFAULT_LEVEL = "WARNING"
_depth = 0  # nesting of `datatrove_console` in this process
_FORMAT = "{time:HH:mm:ss.SSS} {level: <7} [{name}] {message}"  # one line per record, task files and console


def console_level() -> str:
    """The console level for datatrove's logs: the environment's choice, else WARNING."""
    return os.environ.get(LEVEL_ENV, "").strip().upper() or DEFAULT_LEVEL


def _console_sink(level: str) -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=level, format=_FORMAT, colorize=None)


@contextlib.contextmanager
def datatrove_console(level: str) -> Iterator[None]:
    """Within the block, datatrove's console output starts at `level`; each task's log file still
    gets everything, from DEBUG up."""
    import datatrove.executor.base as base
    from datatrove.utils.logging import setup_default_logger
    from loguru import logger

    def add_task_logger(logging_dir: Any, rank: int, local_rank: int = 0, node_rank: int = -1) -> Any:
        logger.remove()
        logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
        fmt = (f"node {node_rank} " if node_rank != -1 else "") + _FORMAT
        logger.add(sys.stderr, level=level if local_rank == 0 else "ERROR", format=fmt, colorize=None)
        logger.add(logfile, level="DEBUG", format=fmt, colorize=False)
        logger.info(f"task {rank} starts (local rank {local_rank})")
        return logfile

    def close_task_logger(logfile: Any) -> None:
        logger.complete()
        _console_sink(level)
        logfile.close()

    global _depth
    saved = base.add_task_logger, base.close_task_logger
    base.add_task_logger, base.close_task_logger = add_task_logger, close_task_logger
    _console_sink(level)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        base.add_task_logger, base.close_task_logger = saved
        if _depth:  # nested (a task run in the executor's own process): the outer level stays
            _console_sink(level)
        else:
            setup_default_logger()
