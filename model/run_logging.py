"""The run's loggers: `metrics.csv` (Lightning's CSVLogger, made resume-safe) and TensorBoard.

Lightning's CSVLogger deletes an existing `metrics.csv` when its directory is not empty, and drops
old columns when new keys appear: a resumed run would lose its history. `RunCSVLogger` appends
instead, seeding its header from the existing file and rewriting it with the union of keys when new
ones appear. Rows for steps after the last checkpoint of a killed run are logged again by the
resumed run; readers (`read_metrics`) keep the last row written for each (step, key).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

METRICS_FILE = "metrics.csv"


class _AppendingWriter(ExperimentWriter):
    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        path = Path(self.metrics_file_path)
        if path.is_file() and path.stat().st_size:
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            self.metrics_keys = sorted(header)

    def _check_log_dir_exists(self) -> None:
        """Keep what an earlier (interrupted) part of the run wrote."""

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        path = Path(self.metrics_file_path)
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(path)


class RunCSVLogger(CSVLogger):
    """CSVLogger writing `<run_dir>/metrics.csv`, appending across resumes, flushing every call."""

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="", flush_logs_every_n_steps=1)

    @property
    def log_dir(self) -> str:
        return str(Path(self.save_dir))

    @property
    def experiment(self) -> _AppendingWriter:  # type: ignore[override]
        if self._experiment is None:
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        self.save()


def run_loggers(run_dir: str | Path) -> list[Any]:
    return [RunCSVLogger(run_dir), TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="",
                                                     default_hp_metric=False)]


def read_metrics(run_dir: str | Path) -> dict[str, dict[int, float]]:
    """`metrics.csv` as {key: {step: value}}, the last value written for a step winning."""
    path = Path(run_dir) / METRICS_FILE
    out: dict[str, dict[int, float]] = {}
    if not path.is_file():
        return out
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                step = int(float(row.get("step") or ""))
            except ValueError:
                continue
            for key, raw in row.items():
                if key == "step" or raw in (None, ""):
                    continue
                try:
                    value = float(raw)
                except ValueError:
                    continue
                if not math.isnan(value):
                    out.setdefault(key, {})[step] = value
    return out
