"""The tokenizer's training sample: a byte budget split over languages, then over domains.

BPE learns from pre-token counts only, so the share of each language in the sample decides how the
vocabulary is shared between languages. The budget per language comes from `lang_weights`; within a
language it is shared over the domains that hold that language (by `domain_weights`, water-filled
so a small domain's unused share goes to the others); a domain short of its share is repeated up to
`max_repeat` passes. Documents are taken in an order fixed by a seeded hash of their id, so the
sample depends only on the corpus and the config. Two passes over the corpus keep memory at the
size of the sample, not of the corpus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from symboliclight.pipeline.errors import UserError

from .config import SampleConfig
from .splits import CorpusSplit, doc_key


@dataclass
class _Cell:
    docs: list[tuple[int, str, int]] = field(default_factory=list)  # (key, id, bytes)

    @property
    def available(self) -> int:
        return sum(n for _, _, n in self.docs)


def _water_fill(budget: float, capacity: dict[str, float], weight: dict[str, float]) -> dict[str, float]:
    """Share `budget` over cells by weight, never giving a cell more than its capacity."""
    out = {c: 0.0 for c in capacity}
    open_cells = {c for c in capacity if weight[c] > 0 and capacity[c] > 0}
    left = budget
    while open_cells and left > 1e-9:
        total_w = sum(weight[c] for c in open_cells)
        full = {c for c in open_cells if out[c] + left * weight[c] / total_w >= capacity[c]}
        if not full:
            for c in open_cells:
                out[c] += left * weight[c] / total_w
            break
        for c in full:
            left -= capacity[c] - out[c]
            out[c] = capacity[c]
        open_cells -= full
    return out


@dataclass
class TrainingSample:
    """The chosen documents with how many times each enters the sample, and per-cell accounting."""

    times: dict[str, int]
    stats: dict[str, Any]
    max_doc_chars: int

    def texts(self, split: CorpusSplit) -> Iterator[str]:
        """Second pass: the sample's texts (each document's head, repeated as chosen)."""
        for doc in split.train_documents():
            n = self.times.get(doc.id, 0)
            text = doc.text[: self.max_doc_chars]
            for _ in range(n):
                yield text

    @property
    def documents(self) -> int:
        return sum(self.times.values())


def draw_sample(split: CorpusSplit, cfg: SampleConfig, seed: int) -> TrainingSample:
    salt = f"sample:{seed}\x00".encode()
    cells: dict[tuple[str, str], _Cell] = defaultdict(_Cell)
    for doc in split.train_documents():
        lang = doc.metadata.get("lang", "")
        if not doc.text or cfg.lang_weights.get(lang, 0.0) <= 0:
            continue
        n = len(doc.text[: cfg.max_doc_chars].encode("utf-8", "surrogatepass"))
        cells[(lang, doc.metadata.get("domain", ""))].docs.append((doc_key(doc.id, salt), doc.id, n))
    if not cells:
        raise UserError("corpus has no training documents in the languages the tokenizer samples "
                        f"({', '.join(sorted(k for k, w in cfg.lang_weights.items() if w > 0))}): empty corpus")
    langs = sorted({lang for lang, _ in cells})
    lang_w = {lang: cfg.lang_weights[lang] for lang in langs}
    total = cfg.total_mb * 1e6
    times: dict[str, int] = {}
    stats: dict[str, Any] = {"total_mb_target": cfg.total_mb, "per_lang": {}, "per_cell": {}}
    for lang in langs:
        budget = total * lang_w[lang] / sum(lang_w.values())
        mine = {dom: cells[(lang, dom)] for l2, dom in sorted(cells) if l2 == lang}
        capacity = {dom: c.available * cfg.max_repeat for dom, c in mine.items()}
        weight = {dom: cfg.domain_weights.get(dom, 1.0) for dom in mine}
        targets = _water_fill(budget, capacity, weight)
        taken_lang = 0
        for dom, cell in mine.items():
            taken = _take(cell, targets[dom], times)
            taken_lang += taken
            stats["per_cell"][f"{dom}/{lang}"] = {"available_bytes": cell.available, "sampled_bytes": taken,
                                                  "repeat": round(taken / max(1, cell.available), 3)}
        stats["per_lang"][lang] = {"target_bytes": int(budget), "sampled_bytes": taken_lang,
                                   "available_bytes": sum(c.available for c in mine.values())}
    sampled = sum(v["sampled_bytes"] for v in stats["per_lang"].values())
    stats["sampled_bytes"] = sampled
    for v in stats["per_lang"].values():
        v["share"] = round(v["sampled_bytes"] / max(1, sampled), 4)
    return TrainingSample(times, stats, cfg.max_doc_chars)


def _take(cell: _Cell, target: float, times: dict[str, int]) -> int:
    """Take documents in key order, cycling through the cell again while short of `target` bytes."""
    docs = sorted(cell.docs)
    taken = 0
    while docs and taken < target:
        for _, doc_id, n in docs:
            if taken >= target:
                break
            times[doc_id] = times.get(doc_id, 0) + 1
            taken += n
    return taken
