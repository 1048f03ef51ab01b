"""datatrove's local executor with the console level of `console.py` applied in the parent (progress
and the final statistics) and in every task process, whichever start method made it: the executor
object travels to the task processes, so its level and its `_run_for_rank` go with it."""

from __future__ import annotations

from typing import Any

from datatrove.executor import LocalPipelineExecutor

from .console import console_level, datatrove_console


class QuietLocalExecutor(LocalPipelineExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.console_level = console_level()

    def run(self) -> Any:
        with datatrove_console(self.console_level):
            return super().run()

    def _launch_run_for_rank(self, rank: int, ranks_q: Any, completed: Any = None, completed_lock: Any = None) -> Any:
        with datatrove_console(self.console_level):
            return super()._launch_run_for_rank(rank, ranks_q, completed, completed_lock)
