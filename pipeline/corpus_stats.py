"""Corpus statistics: documents, characters and bytes per domain and language.

Counts come from the data files themselves (not the manifest), so `corpus stats` doubles as a check
that a corpus version reads back completely.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .artifacts import Artifact
from .documents import Document, read_jsonl_zst


def han_chars(text: str) -> int:
    """Characters in the CJK Unified Ideographs blocks (basic, extension A, compatibility)."""
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff")


class Counter:
    """Accumulates documents/characters/bytes/Han characters, overall and per domain and language."""

    def __init__(self) -> None:
        self.total = _zero()
        self.per_domain: dict[str, dict[str, int]] = defaultdict(_zero)
        self.per_lang: dict[str, dict[str, int]] = defaultdict(_zero)
        self.per_domain_lang: dict[str, dict[str, int]] = defaultdict(_zero)

    def add(self, doc: Document) -> None:
        n_chars = len(doc.text)
        n_bytes = len(doc.text.encode("utf-8", "surrogatepass"))
        n_han = han_chars(doc.text)
        dom, lang = doc.metadata.get("domain", "?"), doc.metadata.get("lang", "?")
        for bucket in (self.total, self.per_domain[dom], self.per_lang[lang], self.per_domain_lang[f"{dom}/{lang}"]):
            bucket["documents"] += 1
            bucket["characters"] += n_chars
            bucket["bytes"] += n_bytes
            bucket["han_characters"] += n_han

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.total,
            "per_domain": {k: self.per_domain[k] for k in sorted(self.per_domain)},
            "per_lang": {k: self.per_lang[k] for k in sorted(self.per_lang)},
            "per_domain_lang": {k: self.per_domain_lang[k] for k in sorted(self.per_domain_lang)},
        }


def _zero() -> dict[str, int]:
    return {"documents": 0, "characters": 0, "bytes": 0, "han_characters": 0}


def corpus_files(art: Artifact) -> list[Path]:
    """The document files of a corpus artifact, in manifest order."""
    return [art.file(e["path"]) for e in art.manifest.get("files", []) if e["path"].endswith(".jsonl.zst")
            and not e["path"].startswith("excluded/")]


def compute_stats(art: Artifact) -> dict[str, Any]:
    counter = Counter()
    for f in corpus_files(art):
        for doc in read_jsonl_zst(f):
            counter.add(doc)
    stats = counter.to_dict()
    stats["han_share_of_characters"] = round(stats["han_characters"] / max(1, stats["characters"]), 4)
    return {"version": art.version, "stage": art.stage, "path": str(art.path), **stats}


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text table: one row per domain, then one per language, then the total."""
    lines = [f"corpus {stats['version']} ({stats['stage']}) at {stats['path']}"]
    header = f"{'':<14}{'documents':>11}{'characters':>14}{'MB':>9}{'Han %':>8}"

    def row(name: str, b: dict[str, int]) -> str:
        han = 100.0 * b["han_characters"] / max(1, b["characters"])
        return f"{name:<14}{b['documents']:>11,}{b['characters']:>14,}{b['bytes'] / 1e6:>9.2f}{han:>7.1f}%"

    lines.append(header)
    for name, b in stats["per_domain"].items():
        lines.append(row(name, b))
    lines.append("-" * len(header))
    for name, b in stats["per_lang"].items():
        lines.append(row(f"lang={name}", b))
    lines.append("-" * len(header))
    lines.append(row("total", stats))
    return "\n".join(lines)
