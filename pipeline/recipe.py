"""The domain recipe: ten domains with target shares, language mix and an oversampling cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import UserError
from .typed_config import from_dict, load_yaml


@dataclass
class DomainSpec:
    share: float
    langs: dict[str, float]
    description: str = ""
    aggregate: str = ""
    sample_mb: float = 1.0


@dataclass
class Phase:
    until: float
    weights: dict[str, float]


@dataclass
class Recipe:
    name: str
    domains: dict[str, DomainSpec]
    max_oversample: float = 5.0
    curriculum: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.domains:
            raise UserError(f"recipe {self.name}: no domains")
        total = sum(d.share for d in self.domains.values())
        if abs(total - 1.0) > 1e-6:
            raise UserError(f"recipe {self.name}: domain shares sum to {total:.4f}, not 1")
        for name, d in self.domains.items():
            if d.share < 0:
                raise UserError(f"recipe {self.name}: domain {name} has a negative share")
            bad = set(d.langs) - {"zh", "en", "mixed", "code"}
            if bad:
                raise UserError(f"recipe {self.name}: domain {name} has unknown language {sorted(bad)[0]!r}")
        if self.max_oversample < 1.0:
            raise UserError(f"recipe {self.name}: max_oversample must be >= 1")
        for i, ph in enumerate(self.curriculum):
            unknown = set(ph.weights) - set(self.domains)
            if unknown:
                raise UserError(f"recipe {self.name}: curriculum phase {i} names unknown domain {sorted(unknown)[0]!r}")

    @property
    def domain_names(self) -> list[str]:
        return list(self.domains)


def shipped_config(*parts: str) -> Path:
    """Path of a YAML file shipped in `configs/` (works from a source tree and an install)."""
    return Path(str(resources.files("symboliclight.configs").joinpath(*parts)))


def load_recipe(ref: str | Path | None = None) -> Recipe:
    """Load a recipe by shipped name (`default`) or YAML path."""
    ref = ref or "default"
    path = Path(ref)
    if not path.suffix:
        path = shipped_config("recipe", f"{ref}.yaml")
    data = load_yaml(path)
    return from_dict(Recipe, data, where=str(path.name))
