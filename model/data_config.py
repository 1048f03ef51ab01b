"""The data module's settings, apart from the data module so that reading a config (the CLI, the
run graph) does not import Lightning and torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml


@dataclass
class DataConfig:
    """The data module's settings (`configs/data/default.yaml`)."""

    shards: str = "latest"
    seq_len: int = 512
    batch_size: int = 8
    val_batch_size: int | None = None
    seed: int = 0
    num_workers: int = 2
    recipe: str = "default"
    curriculum: bool = False
    total_tokens: int | None = None
    verify: Literal["sizes", "full"] = "sizes"
    val_max_windows_per_domain: int | None = None
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if self.seq_len < 1 or self.batch_size < 1 or (self.val_batch_size is not None and self.val_batch_size < 1):
            raise UserError("data config: seq_len, batch_size and val_batch_size must be positive")
        if self.num_workers < 0:
            raise UserError("data config: num_workers must be >= 0")
        if self.total_tokens is not None and self.total_tokens < 1:
            raise UserError("data config: total_tokens must be positive (or null)")


def load_data_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DataConfig:
    source = Path(path) if path else shipped_config("data", "default.yaml")
    return from_dict(DataConfig, apply_overrides(load_yaml(source), overrides or []), where=source.name)
