"""Compression and vocabulary measurements shared by the report and the benchmark."""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Tally:
    documents: int = 0
    characters: int = 0
    bytes: int = 0
    tokens: int = 0
    exact: int = 0
    unk: int = 0

    def add(self, text: str, n_tokens: int, exact: bool, unk: int) -> None:
        self.documents += 1
        self.characters += len(text)
        self.bytes += len(text.encode("utf-8", "surrogatepass"))
        self.tokens += n_tokens
        self.exact += int(exact)
        self.unk += unk

    def to_dict(self) -> dict[str, Any]:
        t = max(1, self.tokens)
        return {"documents": self.documents, "characters": self.characters, "bytes": self.bytes, "tokens": self.tokens,
                "chars_per_token": round(self.characters / t, 4), "bytes_per_token": round(self.bytes / t, 4),
                "round_trip_rate": round(self.exact / max(1, self.documents), 6), "unk_tokens": self.unk,
                "unk_rate": round(self.unk / t, 8)}


def compression(texts: Sequence[str], groups: Sequence[dict[str, str]], ids: Sequence[Sequence[int]],
                decoded: Sequence[str], unk_id: int | None) -> dict[str, Any]:
    """chars/token, bytes/token, round-trip rate and UNK count, overall and per each grouping key."""
    total = Tally()
    per: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for text, g, tok_ids, back in zip(texts, groups, ids, decoded, strict=True):
        unk = sum(1 for i in tok_ids if i == unk_id) if unk_id is not None else 0
        exact = back == text
        total.add(text, len(tok_ids), exact, unk)
        for key, value in g.items():
            per[key][value].add(text, len(tok_ids), exact, unk)
    out: dict[str, Any] = {"total": total.to_dict()}
    for key in sorted(per):
        out[f"per_{key}"] = {v: per[key][v].to_dict() for v in sorted(per[key])}
    return out


def words_zh(text: str) -> int:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return sum(1 for w in jieba.lcut(text) if w.strip())


def words_en(text: str) -> int:
    return len(text.split())


def fertility(texts: Sequence[str], ids: Sequence[Sequence[int]], count_words: Callable[[str], int],
              max_bytes: float) -> dict[str, Any]:
    """Tokens per word over the first `max_bytes` of the texts (jieba words for zh, whitespace words for en)."""
    words = tokens = used = 0
    for text, tok_ids in zip(texts, ids, strict=True):
        if used >= max_bytes:
            break
        words += count_words(text)
        tokens += len(tok_ids)
        used += len(text.encode("utf-8", "surrogatepass"))
    return {"words": words, "tokens": tokens, "tokens_per_word": round(tokens / max(1, words), 4), "bytes": used}


def _category(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes" if len(data) == 1 else "partial_utf8"
    core = text.strip()
    if not core:
        return "whitespace"
    if any(unicodedata.name(c, "").startswith("CJK UNIFIED IDEOGRAPH") or "\u3400" <= c <= "\u9fff" for c in core):
        return "cjk"
    cats = {unicodedata.category(c)[0] for c in core}
    if cats == {"N"}:
        return "digits"
    if cats <= {"P", "S", "Z"}:
        return "punctuation"
    if cats <= {"L", "M"} and all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in core if c.isalpha()):
        return "latin"
    if "L" in cats:
        return "other_letters" if cats <= {"L", "M"} else "mixed"
    return "mixed"


def vocab_composition(token_bytes_by_id: Sequence[bytes], special_ids: set[int], byte_ids: set[int]) -> dict[str, Any]:
    """How many vocabulary entries are CJK, Latin, digits, punctuation, whitespace, raw bytes, ...

    `byte_ids` are the 256 base byte units (`<0xNN>` tokens or byte-level units), counted as bytes
    whatever byte they hold; the other categories are learned tokens."""
    counts: dict[str, int] = defaultdict(int)
    for i, data in enumerate(token_bytes_by_id):
        counts["special" if i in special_ids else "bytes" if i in byte_ids else _category(data)] += 1
    n = sum(counts.values())
    return {k: {"tokens": counts[k], "share": round(counts[k] / n, 4)} for k in sorted(counts)}


def sentencepiece_composition(pieces: Sequence[str]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for p in pieces:
        if p.startswith("<") and p.endswith(">") and len(p) > 2:
            counts["bytes" if p.startswith("<0x") else "special"] += 1
        else:
            counts[_category(p.replace("\u2581", " ").encode("utf-8"))] += 1
    n = sum(counts.values())
    return {k: {"tokens": counts[k], "share": round(counts[k] / n, 4)} for k in sorted(counts)}


def throughput(encode: Callable[[list[str]], object], texts: list[str], repeats: int) -> dict[str, Any]:
    """Best-of-`repeats` encode rate over all the texts, in MB/s of UTF-8."""
    n_bytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        encode(texts)
        best = min(best, time.perf_counter() - t0)
    return {"bytes": n_bytes, "seconds": round(best, 4), "mb_per_s": round(n_bytes / 1e6 / max(best, 1e-9), 3)}
