"""Sampling units for single-file sources made of many small entries (dictionaries, catalogues).

A 40 MB dictionary is one file, but sampling it file-by-file would take its first letters only;
instead its entries are cut into blocks of consecutive entries, and each block is one unit.
"""

from __future__ import annotations

from pathlib import Path

from .base import Unit


def block_units(name: str, path: Path, sizes: list[int], per_block: int) -> list[Unit]:
    """Units `<name>#<block>` over consecutive entries; a unit's size is its entries' bytes."""
    per_block = max(1, per_block)
    return [
        Unit(f"{name}#{i // per_block:05d}", path, sum(sizes[i:i + per_block]))
        for i in range(0, len(sizes), per_block)
    ]


def block_index(unit: Unit) -> int:
    return int(unit.key.rsplit("#", 1)[1])
