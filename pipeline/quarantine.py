"""The quarantine: where input that cannot become a document goes, with its reason and location.

Nothing a user gives us is dropped silently. Each problem is one JSONL record in
`excluded/quarantine.jsonl.zst` (file, line or row, reason, detail, how many documents it stands for,
and the raw content, or a prefix plus the full length for oversized content), and is counted per
reason for the manifest. With `strict`, the first problem is instead a one-line `UserError`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import zstandard

from .documents import ZSTD_LEVEL
from .errors import UserError
from .readers import Problem

QUARANTINE_FILE = "excluded/quarantine.jsonl.zst"


def where(path: str, p: Problem) -> str:
    """`file:line` (or `file:row`) for messages; just `file` for whole-file problems."""
    return f"{path}:{p.loc}" if p.loc is not None else path


def strict_message(path: str, p: Problem) -> str:
    detail = " ".join(p.detail.split())
    return f"{where(path, p)}: {p.reason}" + (f" ({detail})" if detail else "") + \
        " [--strict; rerun without it to quarantine bad input instead]"


def raw_fields(raw: bytes | None, raw_bytes: int, prefix_bytes: int) -> dict[str, Any]:
    """The raw content as text: whole when it was read whole, else a prefix and the full length."""
    if raw is None:
        return {}
    cut = raw_bytes > len(raw)
    data = raw[:prefix_bytes] if cut else raw
    out: dict[str, Any] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "backslashreplace")
        out["raw_encoding"] = "utf-8 with invalid bytes as \\x escapes"
    if cut:
        out["raw_prefix"] = text
        out["raw_bytes"] = raw_bytes
    else:
        out["raw"] = text
    return out


class Quarantine:
    """Writes quarantine records deterministically and counts them per reason."""

    def __init__(self, root: Path, *, strict: bool, prefix_bytes: int):
        self.path = root / QUARANTINE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.strict = strict
        self.prefix_bytes = prefix_bytes
        self._raw = open(self.path, "wb")
        self._z = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0).stream_writer(self._raw, closefd=False)
        self.records = 0
        self.documents = 0
        self.per_reason: dict[str, dict[str, int]] = defaultdict(lambda: {"records": 0, "documents": 0})
        self.per_domain: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, p: Problem, user_path: str, domain: str) -> None:
        """Record one problem; `user_path` is the path as the user gave it (for the strict message)."""
        if self.strict:
            raise UserError(strict_message(user_path, p))
        rec: dict[str, Any] = {"file": p.file, p.unit: p.loc, "reason": p.reason, "detail": p.detail,
                               "documents": p.documents, "domain": domain}
        rec.update(raw_fields(p.raw, p.raw_bytes, self.prefix_bytes))
        self._z.write(orjson.dumps(rec) + b"\n")
        self.records += 1
        self.documents += p.documents
        self.per_reason[p.reason]["records"] += 1
        self.per_reason[p.reason]["documents"] += p.documents
        self.per_domain[domain][p.reason] += p.documents

    def counts(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "documents": self.documents,
            "per_reason": {k: dict(self.per_reason[k]) for k in sorted(self.per_reason)},
            "per_domain": {d: dict(sorted(self.per_domain[d].items())) for d in sorted(self.per_domain)},
        }

    def close(self) -> None:
        self._z.flush(zstandard.FLUSH_FRAME)
        self._z.close()
        self._raw.close()
