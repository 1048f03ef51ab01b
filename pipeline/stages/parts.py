"""The datatrove blocks at both ends of every stage pipeline, and the deterministic merge.

`CorpusReader` reads the input corpus files (zstd JSONL) and deals documents to tasks round-robin
by their global position, so any task count sees the same documents; broken lines become
quarantine records instead of vanishing. Blocks in between never drop a document: they *mark* it
(`mark_drop`), and `PartWriter` routes every document (kept, dropped with its reason, quarantined)
into one part file per task. `merge_parts` then interleaves the parts by input position into one
file per output, so the final bytes do not depend on task count or on a crash and rerun.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard
from datatrove.data import Document as DTDocument
from datatrove.pipeline.base import PipelineStep

from ..documents import LANGS, REQUIRED_METADATA, ZSTD_LEVEL
from ..errors import UserError

POS = "_pos"
DROP = "_drop"
QUARANTINE = "_quarantine"
OUT = "_out"
INTERNAL = (POS, DROP, QUARANTINE, OUT)
_REASON_OK = re.compile(r"[^A-Za-z0-9_.\-]+")


def is_marked(doc: DTDocument) -> bool:
    """True once a document is dropped or quarantined; later blocks must pass it through untouched."""
    return DROP in doc.metadata


def mark_drop(doc: DTDocument, reason: str) -> None:
    doc.metadata[DROP] = reason


def safe_reason(reason: str) -> str:
    return _REASON_OK.sub("_", reason).strip("_") or "unknown"


class MarkingFilter(PipelineStep):
    """Run any datatrove `BaseFilter`'s rule, marking instead of dropping (so nothing is lost)."""

    type = "🔻 - FILTER"

    def __init__(self, inner: Any, prefix: str = ""):
        super().__init__()
        self.inner = inner
        self.prefix = prefix
        self.name = f"marking {getattr(inner, 'name', type(inner).__name__)}"

    def run(self, data, rank: int = 0, world_size: int = 1):
        for doc in data:
            if not is_marked(doc):
                res = self.inner.filter(doc)
                ok, reason = (res if isinstance(res, tuple) else (res, None))
                if not ok:
                    mark_drop(doc, self.prefix + (reason or type(self.inner).__name__))
                    self.stat_update("dropped")
            yield doc


@dataclass
class ReadCounts:
    lines: int = 0
    documents: int = 0
    quarantined: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"lines": self.lines, "documents": self.documents, "quarantined": self.quarantined}


class CorpusReader(PipelineStep):
    """Read corpus files; task `rank` takes the documents whose global index ≡ rank (mod tasks).

    A malformed line (invalid UTF-8, bad JSON, wrong schema) or an unreadable/truncated file becomes
    a quarantine record naming file and line, or a `UserError` in strict mode. With `counts_dir`
    set, the number of records dealt to this task is written there so the runner can check that
    every one of them reached the part writer.
    """

    name = "corpus reader"
    type = "📖 - READER"

    def __init__(self, files: list[str], strict: bool = False, counts_dir: str | None = None,
                 emit_quarantine: bool = True):
        super().__init__()
        self.files = list(files)
        self.strict = strict
        self.counts_dir = counts_dir
        self.emit_quarantine = emit_quarantine

    def _quarantine(self, fi: int, line_no: int, reason: str, raw: bytes, detail: str = "") -> DTDocument:
        path = self.files[fi]
        if self.strict:
            raise UserError(f"{path}:{line_no}: {reason}{': ' + detail if detail else ''}")
        text = raw.decode("utf-8", "backslashreplace")
        meta = {POS: [fi, line_no], DROP: "quarantine", QUARANTINE: reason, "file": os.path.basename(path),
                "line": line_no, "error": detail[:200]}
        return DTDocument(text=text, id=f"{os.path.basename(path)}:{line_no}", metadata=meta)

    def _lines(self, fi: int) -> Iterator[tuple[int, bytes | None, str | None]]:
        """(line number, raw bytes, file-level error) for every non-blank line of file `fi`."""
        path = self.files[fi]
        line_no = 0
        try:
            with open(path, "rb") as raw:
                stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
                for line in io.BufferedReader(stream, 1 << 20):
                    line_no += 1
                    if line.strip():
                        yield line_no, line, None
        except (OSError, zstandard.ZstdError) as e:
            yield line_no + 1, None, f"{type(e).__name__}: {e}"

    def _parse(self, fi: int, line_no: int, raw: bytes) -> DTDocument:
        try:
            text_line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return self._quarantine(fi, line_no, "invalid_utf8", raw, str(e))
        try:
            rec = orjson.loads(text_line)
        except orjson.JSONDecodeError as e:
            return self._quarantine(fi, line_no, "malformed_json", raw, str(e))
        reason = _schema_problem(rec)
        if reason:
            return self._quarantine(fi, line_no, reason, raw)
        meta = dict(rec.get("metadata") or {})
        meta[POS] = [fi, line_no]
        return DTDocument(text=rec["text"], id=str(rec["id"]), metadata=meta)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        counts = ReadCounts()
        g = 0
        for fi in range(len(self.files)):
            for line_no, raw, err in self._lines(fi):
                if err is not None:
                    # file-level fault: reported once, by the task that owns the failing position
                    if g % world_size == rank:
                        counts.lines += 1
                        counts.quarantined += 1
                        q = self._quarantine(fi, line_no, "unreadable_file", b"", err)
                        if self.emit_quarantine:
                            yield q
                    g += 1
                    continue
                mine = g % world_size == rank
                g += 1
                if not mine:
                    continue
                counts.lines += 1
                doc = self._parse(fi, line_no, raw)
                self.stat_update("read")
                if QUARANTINE in doc.metadata:
                    counts.quarantined += 1
                    if self.emit_quarantine:
                        yield doc
                    continue
                counts.documents += 1
                yield doc
        if self.counts_dir:
            _atomic_json(Path(self.counts_dir) / f"{rank:05d}.read.json", counts.to_dict())


def _schema_problem(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return "not_an_object"
    if not isinstance(rec.get("text"), str):
        return "text_not_string"
    if rec.get("id") in (None, ""):
        return "missing_id"
    meta = rec.get("metadata")
    if not isinstance(meta, dict):
        return "missing_metadata"
    for key in REQUIRED_METADATA:
        if not meta.get(key):
            return f"missing_{key}"
    if meta["lang"] not in LANGS:
        return "bad_lang"
    return None


def _atomic_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


class PartWriter(PipelineStep):
    """Write every document of a task, kept or not, to `<parts_dir>/<rank>.jsonl.zst` (atomic rename)."""

    name = "part writer"
    type = "💽 - WRITER"

    def __init__(self, parts_dir: str):
        super().__init__()
        self.parts_dir = parts_dir

    def run(self, data, rank: int = 0, world_size: int = 1):
        final = Path(self.parts_dir) / f"{rank:05d}.jsonl.zst"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "wb") as raw:
            z = zstandard.ZstdCompressor(level=1).stream_writer(raw, closefd=False)
            for doc in data:
                meta = doc.metadata
                pos = meta.pop(POS)
                drop = meta.pop(DROP, None)
                q = meta.pop(QUARANTINE, None)
                out = meta.pop(OUT, None)
                if q is not None:
                    kind, route = "q", q
                elif drop is not None:
                    kind, route = "x", drop
                else:
                    kind, route = "k", out or meta.get("domain", "unknown")
                rec = {"p": pos, "k": kind, "r": route, "d": {"id": doc.id, "text": doc.text, "metadata": meta}}
                z.write(orjson.dumps(rec) + b"\n")
                self.stat_update(kind)
            z.flush(zstandard.FLUSH_FRAME)
            z.close()
        os.replace(tmp, final)
        return
        yield  # a generator, so datatrove drives it like any other block


# ---------------------------------------------------------------------------------------------
# merge


@dataclass
class Tally:
    documents: int = 0
    characters: int = 0
    bytes: int = 0

    def add(self, text: str) -> None:
        self.documents += 1
        self.characters += len(text)
        self.bytes += len(text.encode("utf-8", "surrogatepass"))

    def to_dict(self) -> dict[str, int]:
        return {"documents": self.documents, "characters": self.characters, "bytes": self.bytes}


@dataclass
class MergeCounts:
    """What a stage did: every record read is kept, dropped (with reason) or quarantined."""

    kept: dict[str, Tally] = field(default_factory=dict)  # key: domain/lang
    outputs: dict[str, Tally] = field(default_factory=dict)  # key: output file stem
    dropped: dict[str, dict[str, Tally]] = field(default_factory=dict)  # reason -> domain/lang
    quarantined: dict[str, int] = field(default_factory=dict)
    read_records: int = 0

    @staticmethod
    def _bump(table: dict[str, Tally], key: str, text: str) -> None:
        table.setdefault(key, Tally()).add(text)

    def totals(self) -> dict[str, Any]:
        kept = _sum(self.kept.values())
        dropped = _sum(t for by in self.dropped.values() for t in by.values())
        q = sum(self.quarantined.values())
        return {"in": {"documents": kept.documents + dropped.documents + q,
                       "characters": kept.characters + dropped.characters},
                "kept": kept.to_dict(), "dropped": dropped.to_dict(), "quarantined": q}

    def to_dict(self) -> dict[str, Any]:
        t = self.totals()
        per_domain: dict[str, Tally] = {}
        per_lang: dict[str, Tally] = {}
        in_domain: dict[str, Tally] = {}
        for key, tally in list(self.kept.items()) + [(k, t) for by in self.dropped.values() for k, t in by.items()]:
            agg = in_domain.setdefault(key.split("/", 1)[0], Tally())
            agg.documents += tally.documents
            agg.characters += tally.characters
            agg.bytes += tally.bytes
        for key, tally in self.kept.items():
            dom, lang = key.split("/", 1)
            for table, k in ((per_domain, dom), (per_lang, lang)):
                agg = table.setdefault(k, Tally())
                agg.documents += tally.documents
                agg.characters += tally.characters
                agg.bytes += tally.bytes
        return {
            "documents": t["kept"]["documents"],
            "characters": t["kept"]["characters"],
            "bytes": t["kept"]["bytes"],
            "in": t["in"],
            "kept": t["kept"],
            "dropped": t["dropped"],
            "quarantined": t["quarantined"],
            "per_domain": {k: per_domain[k].to_dict() for k in sorted(per_domain)},
            "per_lang": {k: per_lang[k].to_dict() for k in sorted(per_lang)},
            "per_domain_lang": {k: self.kept[k].to_dict() for k in sorted(self.kept)},
            "in_per_domain": {k: in_domain[k].to_dict() for k in sorted(in_domain)},
            "per_output": {k: self.outputs[k].to_dict() for k in sorted(self.outputs)},
            "dropped_per_reason": {r: {k: by[k].to_dict() for k in sorted(by)} for r, by in sorted(self.dropped.items())},
            "quarantined_per_reason": dict(sorted(self.quarantined.items())),
        }


def _sum(tallies: Any) -> Tally:
    out = Tally()
    for t in tallies:
        out.documents += t.documents
        out.characters += t.characters
        out.bytes += t.bytes
    return out


def _records(path: Path) -> Iterator[tuple[tuple[int, int], dict[str, Any]]]:
    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        for line in io.BufferedReader(reader, 1 << 20):
            rec = orjson.loads(line)
            yield (rec["p"][0], rec["p"][1]), rec


def _tagged(rank: int, part: Path) -> Iterator[tuple[tuple[int, int], int, dict[str, Any]]]:
    for key, rec in _records(part):
        yield key, rank, rec


# The merge is the one serial step of a stage, so it compresses on every core: zstd's multi-threaded
# mode writes the same bytes for any worker count >= 1 and any input chunking (test_merge_zstd_bytes),
# so outputs stay byte-identical across machines.
MERGE_ZSTD_THREADS = -1


class _Writers:
    """Lazily opened deterministic zstd writers, one per output path."""

    def __init__(self, root: Path):
        self.root = root
        self.open: dict[str, tuple[Any, Any]] = {}

    def write(self, rel: str, line: bytes) -> None:
        if rel not in self.open:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = open(path.with_name(path.name + ".tmp"), "wb")
            self.open[rel] = (raw, zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=MERGE_ZSTD_THREADS)
                              .stream_writer(raw, closefd=False))
        self.open[rel][1].write(line)

    def close(self) -> list[Path]:
        paths = []
        for rel, (raw, z) in sorted(self.open.items()):
            z.flush(zstandard.FLUSH_FRAME)
            z.close()
            raw.close()
            path = self.root / rel
            os.replace(path.with_name(path.name + ".tmp"), path)
            paths.append(path)
        self.open.clear()  # frees the compressors and their threads before anything forks
        return paths

    def abort(self) -> None:
        for raw, _z in self.open.values():
            with contextlib.suppress(OSError):
                raw.close()


def merge_parts(parts_dir: Path, out_dir: Path, tasks: int) -> tuple[list[Path], MergeCounts]:
    """Interleave all task parts by input position into `<out>.jsonl.zst`, `excluded/<reason>.jsonl.zst`
    and `excluded/quarantine/<reason>.jsonl.zst`; check that each task wrote every record it read."""
    counts = MergeCounts()
    sources = []
    for rank in range(tasks):
        part = parts_dir / f"{rank:05d}.jsonl.zst"
        if not part.is_file():
            raise UserError(f"{part}: task output missing; rerun the stage to finish it")
        sources.append((rank, part))
    writers = _Writers(out_dir)
    per_rank = [0] * tasks
    try:
        streams = [_tagged(rank, part) for rank, part in sources]
        for _key, rank, rec in heapq.merge(*streams, key=lambda t: t[0]):
            per_rank[rank] += 1
            doc = rec["d"]
            meta = doc["metadata"]
            kind, route = rec["k"], rec["r"]
            if kind == "k":
                counts._bump(counts.kept, f"{meta.get('domain', '?')}/{meta.get('lang', '?')}", doc["text"])
                counts._bump(counts.outputs, route, doc["text"])
                writers.write(f"{route}.jsonl.zst", orjson.dumps(doc) + b"\n")
            elif kind == "x":
                reason = safe_reason(route)
                meta["drop_reason"] = route
                by = counts.dropped.setdefault(route, {})
                counts._bump(by, f"{meta.get('domain', '?')}/{meta.get('lang', '?')}", doc["text"])
                writers.write(f"excluded/{reason}.jsonl.zst", orjson.dumps(doc) + b"\n")
            else:
                meta["quarantine_reason"] = route
                counts.quarantined[route] = counts.quarantined.get(route, 0) + 1
                writers.write(f"excluded/quarantine/{safe_reason(route)}.jsonl.zst", orjson.dumps(doc) + b"\n")
        files = writers.close()
    except BaseException:
        writers.abort()
        raise
    for rank in range(tasks):
        rc = parts_dir / f"{rank:05d}.read.json"
        if rc.is_file():
            read = json.loads(rc.read_text(encoding="utf-8"))["lines"]
            counts.read_records += read
            if read != per_rank[rank]:
                raise UserError(f"task {rank} read {read} records but wrote {per_rank[rank]}: a block dropped "
                                "documents instead of marking them (see pipeline/stages/parts.py)")
    return files, counts
