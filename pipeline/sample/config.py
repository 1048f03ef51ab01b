"""Configuration of `corpus sample`: the run's options and the catalogue of offline sources."""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import UserError
from ..recipe import shipped_config
from ..typed_config import from_dict, load_yaml

SOURCES_ENV = "SYMBOLICLIGHT_SOURCES"


@dataclass
class SampleConfig:
    """What `corpus sample` builds: recipe, size, seed, where the sources are."""

    recipe: str = "default"
    size_mb: float | None = None
    seed: int = 0
    sources_dir: str | None = None
    #: catalogue of offline sources: a shipped name (configs/sources/<name>.yaml) or a YAML path
    catalogue: str = "offline"
    #: per-source root overrides, {source name: directory}
    source_paths: dict[str, str] = field(default_factory=dict)

    def resolved_sources_dir(self) -> Path:
        if self.sources_dir:
            return Path(self.sources_dir).expanduser()
        env = os.environ.get(SOURCES_ENV)
        return Path(env).expanduser() if env else Path.home() / ".cache" / "symboliclight" / "sources"


@dataclass
class SourceEntry:
    """One installed source feeding one domain (see configs/sources/offline.yaml)."""

    name: str
    reader: str
    license: str
    path: str = ""
    weight: float = 1.0
    lang: Literal["auto", "zh", "en", "mixed", "code"] = "auto"
    keep_langs: list[str] = field(default_factory=list)
    sampling: Literal["units", "documents"] = "units"
    min_chars: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Catalogue:
    domains: dict[str, list[SourceEntry]]
    max_doc_chars: int = 12000
    min_doc_chars: int = 16
    #: script statistics for `lang: auto`: Han share of (Han + Latin letters) from which a text
    #: is zh, and up to which it is en; in between it is mixed
    zh_min_han: float = 0.3
    en_max_han: float = 0.05

    def __post_init__(self) -> None:
        names = [e.name for entries in self.domains.values() for e in entries]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserError(f"source catalogue: source name {dup[0]!r} appears twice")
        for entries in self.domains.values():
            for e in entries:
                if e.weight <= 0:
                    raise UserError(f"source catalogue: source {e.name!r} needs a positive weight")
                bad = set(e.keep_langs) - {"zh", "en", "mixed", "code"}
                if bad:
                    raise UserError(f"source catalogue: source {e.name!r} keeps unknown language {sorted(bad)[0]!r}")
        if self.max_doc_chars < 256:
            raise UserError("source catalogue: max_doc_chars must be at least 256")


def load_catalogue(ref: str) -> Catalogue:
    path = Path(ref)
    if not path.suffix:
        path = shipped_config("sources", f"{ref}.yaml")
    return from_dict(Catalogue, load_yaml(path), where=path.name)


def expand_path(template: str, sources_dir: Path) -> Path:
    """`{sources}` → the sources cache, `{stdlib}` → this Python's standard library."""
    return Path(template.replace("{sources}", str(sources_dir)).replace("{stdlib}", sysconfig.get_paths()["stdlib"]))
