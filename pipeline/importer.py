"""`corpus import`: bring user data (local JSONL / JSONL.zst / gzip JSONL / Parquet, or a streamed
Hugging Face hub dataset) into the document schema as a versioned corpus artifact.

Every input document ends up either written to `<domain>.jsonl.zst` or quarantined with a reason in
`excluded/quarantine.jsonl.zst`; the manifest counts both, and read = written + quarantined always
holds. The version is a hash of the import config and the input files' sha256, so re-importing
unchanged files is a no-op.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as _dt
import decimal
import json
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import orjson

from .artifacts import Artifact, artifact_dir, existing, prepare_dir, set_latest, write_manifest
from .cli_options import print_json
from .documents import Document, JsonlZstWriter, dumps
from .errors import UserError
from .hashing import sha256_file, text_id, version_id
from .quarantine import QUARANTINE_FILE, Quarantine
from .readers import (
    Item,
    Problem,
    Record,
    UnsupportedFormat,
    file_format,
    read_jsonl,
    read_parquet,
    supported_suffixes,
)
from .recipe import load_recipe, shipped_config
from .typed_config import from_dict, load_yaml

STAGE = "import"
LangChoice = Literal["zh", "en", "mixed", "code", "auto"]
_INT64 = 1 << 63


# --- configuration -----------------------------------------------------------------------------


@dataclass
class LangAutoConfig:
    """How `--lang auto` decides from script statistics (Han characters vs Latin-script words).

    A Han character and a Latin word carry about the same amount of content, so the share compared
    is han / (han + latin_words). Code is never guessed: it must be asked for with `--lang code`.
    """

    zh_min_han_share: float = 0.7  # at or above: zh
    en_max_han_share: float = 0.1  # at or below: en; in between: mixed
    sample_chars: int = 20_000  # only the document's first characters are counted

    def __post_init__(self) -> None:
        if not 0.0 <= self.en_max_han_share < self.zh_min_han_share <= 1.0:
            raise UserError("lang_auto: need 0 <= en_max_han_share < zh_min_han_share <= 1")


@dataclass
class ImportConfig:
    """How records of one input map to documents, and how bad input is treated."""

    domain: str
    lang: LangChoice = "auto"
    text_field: str = "text"
    text_template: str | None = None  # e.g. "{translation.zh}\n{translation.en}"; overrides text_field
    id_field: str = "id"
    source: str | None = None  # default: the input file name (or hub dataset id)
    license: str | None = None  # default: the record's own `license`, else "unknown"
    max_doc_mb: float = 10.0
    strict: bool = False
    recipe: str = "default"
    quarantine_prefix_bytes: int = 4096
    lang_auto: LangAutoConfig = field(default_factory=LangAutoConfig)

    def __post_init__(self) -> None:
        if self.max_doc_mb <= 0:
            raise UserError(f"max_doc_mb must be positive, got {self.max_doc_mb}")
        if not self.text_field and not self.text_template:
            raise UserError("give a text field or a text template")
        if self.text_template is not None:
            template_fields(self.text_template)  # validates

    @property
    def max_doc_bytes(self) -> int:
        return int(self.max_doc_mb * 1_000_000)

    def hashed(self) -> dict[str, Any]:
        """The part of the config that decides the output (`strict` only decides whether it fails)."""
        d = dataclasses.asdict(self)
        d.pop("strict")
        return d


@dataclass
class HubSource:
    """One public dataset of `configs/sources/hub.yaml`."""

    id: str
    domain: str
    lang: LangChoice
    license: str
    config: str | None = None
    split: str = "train"
    text_field: str = "text"
    text_template: str | None = None
    id_field: str = "id"
    data_dir: str | None = None
    revision: str | None = None
    limit: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.text_template is not None:
            template_fields(self.text_template)


@dataclass
class HubList:
    sources: list[HubSource]
    limit: int | None = None  # documents per source unless the source or --limit says otherwise
    recipe: str = "default"


# --- text templates ------------------------------------------------------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def template_fields(template: str) -> list[str]:
    """Field paths named by a template (`{a}`, `{a.b}`; `{{`/`}}` are literal braces)."""
    names = [m.group(1) for m in _FIELD.finditer(template) if m.group(1) is not None]
    if any(not n.strip() for n in names):
        raise UserError(f"text template {template!r}: empty field name {{}}")
    if "{" in _FIELD.sub("", template) or "}" in _FIELD.sub("", template):
        raise UserError(f"text template {template!r}: unbalanced brace (write {{{{ or }}}} for a literal one)")
    return names


class _TemplateMissing(KeyError):
    pass


def render_template(template: str, data: dict[str, Any]) -> str:
    """Fill a template from a record; a missing or null field raises `_TemplateMissing`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)[0]
        value: Any = data
        for key in m.group(1).split("."):
            if not isinstance(value, dict) or value.get(key) is None:
                raise _TemplateMissing(m.group(1))
            value = value[key]
        if isinstance(value, dict | list):
            raise TypeError(f"field {m.group(1)!r} is a {type(value).__name__}")
        return value if isinstance(value, str) else str(value)

    return _FIELD.sub(sub, template)


# --- language by script statistics ---------------------------------------------------------------

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def guess_lang(text: str, cfg: LangAutoConfig) -> str | None:
    """zh, en or mixed from the share of Han characters; None when the text has neither script."""
    sample = text[: cfg.sample_chars]
    han = sum(map(len, _HAN_RUN.findall(sample)))  # runs, not single characters: ~10x faster on Chinese
    words = _LATIN_WORD.subn("", sample)[1]
    if han + words == 0:
        return None
    share = han / (han + words)
    if share >= cfg.zh_min_han_share:
        return "zh"
    if share <= cfg.en_max_han_share:
        return "en"
    return "mixed"


# --- records to documents ------------------------------------------------------------------------

_RESERVED = ("domain", "lang", "source", "license")


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a value from Parquet or a hub row (dates, decimals, bytes, big ints)."""
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.date | _dt.time | _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def raw_record(data: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(jsonable(data))
    except orjson.JSONEncodeError:  # lone surrogates: escape them rather than lose the record
        return json.dumps(jsonable(data), ensure_ascii=True).encode("ascii")


class DocumentMapper:
    """Turns one input record into a `Document`, or a `Problem` saying why it cannot be one."""

    def __init__(self, cfg: ImportConfig, default_source: str):
        self.cfg = cfg
        self.default_source = default_source
        if cfg.text_template is not None:
            self.consumed = {f.split(".")[0] for f in template_fields(cfg.text_template)}
        else:
            self.consumed = {cfg.text_field}
        self.consumed.add(cfg.id_field)

    def _problem(self, rec: Record, reason: str, detail: str) -> Problem:
        raw = raw_record(rec.data)
        cut = raw[: self.cfg.quarantine_prefix_bytes] if reason == "too_large" else raw
        return Problem(rec.file, rec.loc, rec.unit, reason, detail, cut, len(raw))

    def _text(self, rec: Record) -> str | Problem:
        cfg = self.cfg
        if cfg.text_template is not None:
            try:
                text: Any = render_template(cfg.text_template, rec.data)
            except _TemplateMissing as e:
                return self._problem(rec, "missing_text_field", f"template field {e.args[0]!r} missing or null")
            except TypeError as e:
                return self._problem(rec, "text_not_string", str(e))
        else:
            if cfg.text_field not in rec.data:
                keys = ", ".join(list(rec.data)[:10])
                return self._problem(rec, "missing_text_field", f"no field {cfg.text_field!r} (fields: {keys})")
            text = rec.data[cfg.text_field]
            if text is None:
                return self._problem(rec, "empty_text", f"field {cfg.text_field!r} is null")
            if not isinstance(text, str):
                return self._problem(rec, "text_not_string", f"field {cfg.text_field!r} is a {type(text).__name__}")
        limit = cfg.max_doc_bytes
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit):
            return self._problem(rec, "too_large", f"text over {limit} bytes")
        if not text.strip():
            return self._problem(rec, "empty_text", "text is empty or whitespace")
        return text

    def map(self, rec: Record) -> Document | Problem:
        cfg = self.cfg
        text = self._text(rec)
        if isinstance(text, Problem):
            return text
        raw_id = rec.data.get(cfg.id_field)
        if raw_id is None or raw_id == "":
            doc_id = text_id(text)
        elif isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)):
            doc_id = str(raw_id)
        else:
            return self._problem(rec, "bad_id", f"field {cfg.id_field!r} is a {type(raw_id).__name__}")
        lang = cfg.lang if cfg.lang != "auto" else guess_lang(text, cfg.lang_auto)
        if lang is None:
            return self._problem(rec, "lang_undetected", "no Han or Latin letters for --lang auto; give --lang")

        extras: dict[str, Any] = {}
        nested = rec.data.get("metadata")
        if isinstance(nested, dict):  # re-importing our own format: flatten its metadata
            extras.update(nested)
        for k, v in rec.data.items():
            if k not in self.consumed and not (k == "metadata" and isinstance(v, dict)):
                extras[k] = v
        own_source = extras.get("source") if isinstance(extras.get("source"), str) and extras.get("source") else None
        own_license = extras.get("license") if isinstance(extras.get("license"), str) and extras.get("license") else None
        meta: dict[str, Any] = {
            "domain": cfg.domain,
            "lang": lang,
            "source": cfg.source or own_source or self.default_source,
            "license": cfg.license or own_license or "unknown",
        }
        for k, v in extras.items():
            if k in _RESERVED:
                if v != meta[k] and v is not None:
                    meta[f"original_{k}"] = jsonable(v)
            else:
                meta[k] = jsonable(v)
        doc = Document(doc_id, text, meta)
        try:
            dumps(doc)
        except orjson.JSONEncodeError as e:
            return self._problem(rec, "unencodable", str(e))
        return doc


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalInput:
    path: Path
    user_path: str  # as given (or as found under a given directory), for messages
    name: str  # relative to the inputs' common directory: stable under relocation
    container: str
    compression: str


def resolve_inputs(paths: list[str | Path], skipped: list[str] | None = None) -> list[LocalInput]:
    """Expand directories, check existence and file types; one `UserError` line for any mistake.

    Files inside a given directory that are not data files are appended to `skipped` (so the
    manifest can list them); a file named explicitly must be a data file.
    """
    if not paths:
        raise UserError("no input paths given")
    found: list[tuple[Path, str]] = []
    suffixes = tuple(supported_suffixes())
    for p in map(Path, paths):
        if p.is_dir():
            everything = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            files = [f for f in everything if f.name.lower().endswith(suffixes)]
            if not files:
                raise UserError(f"{p}: directory holds no {', '.join(suffixes)} files")
            if skipped is not None:
                skipped.extend(str(f) for f in everything if not f.name.lower().endswith(suffixes))
            found.extend((f, str(f)) for f in files)
        elif p.is_file():
            found.append((p, str(p)))
        else:
            raise UserError(f"{p}: no such file or directory")
    resolved = [f.resolve() for f, _ in found]
    if len(set(resolved)) != len(resolved):
        dup = next(r for r in resolved if resolved.count(r) > 1)
        raise UserError(f"{dup}: given more than once")
    base = Path(os.path.commonpath([r.parent for r in resolved]))
    out = []
    for (f, user), r in zip(found, resolved, strict=True):
        try:
            container, compression = file_format(f)
        except UnsupportedFormat:
            raise UserError(f"{user}: unknown file type (supported: {', '.join(supported_suffixes())})") from None
        out.append(LocalInput(r, user, r.relative_to(base).as_posix(), container, compression))
    return out


def check_domain(cfg: ImportConfig) -> None:
    recipe = load_recipe(cfg.recipe)
    if cfg.domain not in recipe.domains:
        raise UserError(f"unknown domain {cfg.domain!r} (recipe {recipe.name} has: {', '.join(recipe.domain_names)})")


# --- the import engine ---------------------------------------------------------------------------


@dataclass
class Job:
    """One input stream to import: where its items come from and how they map to documents."""

    cfg: ImportConfig
    name: str
    user_path: str
    default_source: str
    items: Callable[[Callable[[int], None]], Iterator[Item]]
    size: int = 0  # bytes (or rows) for the progress bar


def _local_job(inp: LocalInput, cfg: ImportConfig) -> Job:
    if inp.container == "parquet":
        needed = ([f.split(".")[0] for f in template_fields(cfg.text_template)]
                  if cfg.text_template is not None else [cfg.text_field])

        def items(progress: Callable[[int], None]) -> Iterator[Item]:
            return read_parquet(inp.path, inp.name, needed, progress)
    else:
        def items(progress: Callable[[int], None]) -> Iterator[Item]:
            return read_jsonl(inp.path, inp.name, inp.compression, cfg.max_doc_bytes,
                              cfg.quarantine_prefix_bytes, progress)
    return Job(cfg, inp.name, inp.user_path, Path(inp.name).name, items, inp.path.stat().st_size)


def _progress_bar(total: int, unit: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total or None, unit=unit, unit_scale=True, desc="corpus import", disable=None, leave=False)


def run_jobs(jobs: list[Job], *, config: dict[str, Any], inputs: list[dict[str, Any]], workdir: str | Path,
             out: str | Path | None, strict: bool, prefix_bytes: int, progress_unit: str = "B",
             extra: dict[str, Any] | None = None) -> Artifact:
    """Import every job into one corpus artifact (one file per domain) and write its manifest."""
    version = version_id(STAGE, {"config": config, "inputs": inputs})
    root = artifact_dir(workdir, "corpus", version, out)
    done = existing(root)
    if done is not None and done.version == version:
        if out is None:
            set_latest(workdir, "corpus", version)
        return done
    prepare_dir(root)
    domains = sorted({j.cfg.domain for j in jobs})
    writers = {d: JsonlZstWriter(root / f"{d}.jsonl.zst") for d in domains}
    quarantine = Quarantine(root, strict=strict, prefix_bytes=prefix_bytes)
    per_lang: dict[str, dict[str, int]] = {}
    per_input: list[dict[str, Any]] = []
    bar = _progress_bar(sum(j.size for j in jobs), progress_unit)
    try:
        for job in jobs:
            mapper = DocumentMapper(job.cfg, job.default_source)
            writer = writers[job.cfg.domain]
            read = 0
            w_before, q_before = writer.documents, quarantine.documents
            for item in job.items(bar.update):
                if isinstance(item, Record):
                    read += 1
                    mapped = mapper.map(item)
                    if isinstance(mapped, Document):
                        writer.write(mapped)
                        lang = per_lang.setdefault(mapped.lang, {"documents": 0, "characters": 0})
                        lang["documents"] += 1
                        lang["characters"] += len(mapped.text)
                        continue
                    item = mapped
                else:
                    read += item.documents
                quarantine.add(item, job.user_path, job.cfg.domain)
            per_input.append({"file": job.name, "domain": job.cfg.domain, "read": read,
                              "written": writer.documents - w_before,
                              "quarantined": quarantine.documents - q_before})
    except BaseException:
        bar.close()
        for w in writers.values():
            w.close()
        quarantine.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    bar.close()
    for w in writers.values():
        w.close()
    quarantine.close()

    q = quarantine.counts()
    written_total = sum(w.documents for w in writers.values())
    read_total = sum(p["read"] for p in per_input)
    if read_total != written_total + q["documents"]:  # an accounting bug, never a user error
        raise RuntimeError(f"import lost documents: read {read_total} != written {written_total} + "
                           f"quarantined {q['documents']}")
    counts = {
        "documents": written_total,
        "characters": sum(w.characters for w in writers.values()),
        "bytes": sum(w.bytes for w in writers.values()),
        "read": read_total,
        "written": written_total,
        "quarantined": q["documents"],
        "quarantine_records": q["records"],
        "quarantined_per_reason": q["per_reason"],
        "quarantined_per_domain": q["per_domain"],  # documents per reason
        "per_domain": {d: {"documents": w.documents, "characters": w.characters, "bytes": w.bytes}
                       for d, w in writers.items()},
        "per_lang": {k: per_lang[k] for k in sorted(per_lang)},
        "per_input": per_input,
    }
    files = [root / f"{d}.jsonl.zst" for d in domains] + [root / QUARANTINE_FILE]
    art = write_manifest(root, stage=STAGE, version=version, parents={}, config=config, counts=counts,
                         files=files, extra={"inputs": inputs, **(extra or {})})
    if out is None:
        set_latest(workdir, "corpus", version)
    return art


# --- public API ----------------------------------------------------------------------------------


def import_files(paths: list[str | Path], cfg: ImportConfig, workdir: str | Path = "work",
                 out: str | Path | None = None) -> Artifact:
    """Import local files into one corpus artifact under domain `cfg.domain`."""
    check_domain(cfg)
    skipped: list[str] = []
    found = resolve_inputs(paths, skipped)
    inputs = [{"file": i.name, "bytes": i.path.stat().st_size, "sha256": sha256_file(i.path)} for i in found]
    jobs = [_local_job(i, cfg) for i in found]
    return run_jobs(jobs, config={"import": cfg.hashed()}, inputs=inputs, workdir=workdir, out=out,
                    strict=cfg.strict, prefix_bytes=cfg.quarantine_prefix_bytes,
                    extra={"skipped_files": skipped} if skipped else None)


_TRUE = {"1", "on", "yes", "true"}


def require_hub_access(dataset_id: str) -> None:
    """Fail at once, in one line, where streaming from the hub cannot work.

    Offline mode makes `datasets` refuse hub ids; without it a machine with no network retries for
    many seconds before failing. Neither is a useful way to learn that the network is missing.
    """
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            raise UserError(f"hub dataset {dataset_id}: cannot stream with {var}=1 (offline mode); unset it on a "
                            "machine with network access, or download the files and import them as local paths")
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # name resolution happens at the proxy
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError as e:
        raise UserError(f"hub dataset {dataset_id}: cannot resolve {host} ({e.strerror or e}); no network? "
                        "Import local files instead") from None


def _hub_items(src: HubSource, limit: int | None) -> Callable[[Callable[[int], None]], Iterator[Item]]:
    def items(progress: Callable[[int], None]) -> Iterator[Item]:
        local = Path(src.id).exists()  # a local dataset folder streams without the network
        if not local:
            require_hub_access(src.id)
        import datasets

        where = f"hub dataset {src.id}" + (f" ({src.config})" if src.config else "")
        try:
            ds = datasets.load_dataset(src.id, name=src.config, split=src.split, data_dir=src.data_dir,
                                       revision=src.revision, streaming=True)
            it = iter(ds)
        except Exception as e:  # any failure to open a remote dataset is the user's to fix
            raise UserError(f"{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        row = 0
        while limit is None or row < limit:
            try:
                data = next(it)
            except StopIteration:
                break
            except Exception as e:
                raise UserError(f"{where}: row {row + 1}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}") from None
            row += 1
            progress(1)
            yield Record(src.id, row, "row", data if isinstance(data, dict) else {"value": data})
        if row == 0:
            yield Problem(src.id, None, "row", "empty_file", f"split {src.split!r} has no rows", documents=0)

    return items


def _hub_job(src: HubSource, cfg: ImportConfig, limit: int | None) -> Job:
    return Job(cfg, src.id, src.id, src.id, _hub_items(src, limit), limit or 0)


def _hub_spec(src: HubSource, limit: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"hub": src.id, "config": src.config, "split": src.split, "data_dir": src.data_dir,
                            "revision": src.revision, "limit": limit}
    local = Path(src.id)
    if local.exists():  # a local dataset folder: its content, not its name, decides the version
        files = sorted(f for f in ([local] if local.is_file() else local.rglob("*")) if f.is_file())
        spec["files"] = [{"file": f.relative_to(local).as_posix() if f != local else f.name,
                          "sha256": sha256_file(f)} for f in files]
    return spec


def import_hub(src: HubSource, cfg: ImportConfig, *, limit: int | None = None, workdir: str | Path = "work",
               out: str | Path | None = None) -> Artifact:
    """Stream one hub dataset (only on request: this needs the network) into a corpus artifact."""
    check_domain(cfg)
    return run_jobs([_hub_job(src, cfg, limit)], config={"import": cfg.hashed()}, inputs=[_hub_spec(src, limit)],
                    workdir=workdir, out=out, strict=cfg.strict, prefix_bytes=cfg.quarantine_prefix_bytes,
                    progress_unit="doc")


def load_hub_list(path: str | Path) -> HubList:
    """Load a hub source list; a bare name (or a missing `configs/sources/...` path) means a shipped one."""
    p = Path(path)
    if not p.is_file():
        shipped = shipped_config("sources", p.name if p.suffix else f"{p.name}.yaml")
        if shipped.is_file():
            p = shipped
    hub = from_dict(HubList, load_yaml(p), where=p.name)
    recipe = load_recipe(hub.recipe)
    for i, s in enumerate(hub.sources):
        if s.domain not in recipe.domains:
            raise UserError(f"{p.name}: sources[{i}] ({s.id}): unknown domain {s.domain!r}")
    return hub


def import_from_config(path: str | Path, *, domains: list[str] | None = None, limit: int | None = None,
                       strict: bool = False, max_doc_mb: float = 10.0, workdir: str | Path = "work",
                       out: str | Path | None = None) -> Artifact:
    """Stream every listed hub dataset (optionally only some domains) into one corpus artifact."""
    hub = load_hub_list(path)
    chosen = [s for s in hub.sources if domains is None or s.domain in domains]
    if domains is not None:
        unknown = sorted(set(domains) - {s.domain for s in hub.sources})
        if unknown:
            raise UserError(f"{Path(path).name}: no sources for domain {unknown[0]!r}")
    if not chosen:
        raise UserError(f"{Path(path).name}: no sources selected")
    jobs, configs, inputs = [], [], []
    for s in chosen:
        cfg = ImportConfig(domain=s.domain, lang=s.lang, text_field=s.text_field, text_template=s.text_template,
                           id_field=s.id_field, source=s.id, license=s.license, max_doc_mb=max_doc_mb,
                           strict=strict, recipe=hub.recipe)
        n = limit if limit is not None else s.limit if s.limit is not None else hub.limit
        jobs.append(_hub_job(s, cfg, n))
        configs.append(cfg.hashed())
        inputs.append(_hub_spec(s, n))
    return run_jobs(jobs, config={"import": configs}, inputs=inputs, workdir=workdir, out=out, strict=strict,
                    prefix_bytes=jobs[0].cfg.quarantine_prefix_bytes, progress_unit="doc")


# --- command line --------------------------------------------------------------------------------


def add_subcommand(csub: argparse._SubParsersAction, common_parent: argparse.ArgumentParser) -> None:
    p = csub.add_parser(
        "import", parents=[common_parent], help="import local JSONL/JSONL.zst/Parquet files or a hub dataset",
        description="Import documents into a corpus artifact. Bad input (malformed JSON, invalid UTF-8, "
                    "truncated files, empty or oversized documents, missing text column) is quarantined "
                    "with its file and line in excluded/quarantine.jsonl.zst, or fatal with --strict.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=f"input files or directories ({', '.join(supported_suffixes())})")
    p.add_argument("--hub", metavar="DATASET_ID", help="stream a Hugging Face hub dataset (needs network)")
    p.add_argument("--hub-config", metavar="C", help="hub dataset config name")
    p.add_argument("--split", default="train", help="hub dataset split (default: train)")
    p.add_argument("--from-config", metavar="YAML", help="import the hub sources listed in a YAML file "
                   "(e.g. configs/sources/hub.yaml)")
    p.add_argument("--domains", help="with --from-config: only these comma-separated domains")
    p.add_argument("--limit", type=int, metavar="N", help="hub imports: at most N documents per source")
    p.add_argument("--domain", help="recipe domain the documents belong to (required for PATH and --hub)")
    p.add_argument("--recipe", default="default", help="recipe whose domains are allowed (default: default)")
    p.add_argument("--lang", default="auto", choices=["zh", "en", "mixed", "code", "auto"],
                   help="document language; auto decides by script (code is never guessed)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--text-template", help="build the text from fields, e.g. '{question}\\n{answer}' "
                   "(\\n and \\t mean newline and tab; {a.b} reads a nested field)")
    p.add_argument("--id-field", default="id", help="field holding a document id (default: id; "
                   "content-derived when absent)")
    p.add_argument("--source", help="metadata.source (default: the file name or dataset id)")
    p.add_argument("--license", help="metadata.license (default: the record's own, else 'unknown')")
    p.add_argument("--strict", action="store_true", help="stop at the first bad input instead of quarantining")
    p.add_argument("--max-doc-mb", type=float, default=10.0, help="larger documents are quarantined (default: 10)")
    p.add_argument("--out", help="write the artifact here instead of <workdir>/corpus/<version>")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_import)


def _cfg_from_args(args: argparse.Namespace) -> ImportConfig:
    if not args.domain:
        raise UserError("--domain is required (one of the recipe's domains)")
    template = args.text_template
    if template is not None:  # shells pass "\n" literally; a template almost always means a newline
        template = template.replace("\\n", "\n").replace("\\t", "\t")
    return ImportConfig(domain=args.domain, lang=args.lang, text_field=args.text_field,
                        text_template=template, id_field=args.id_field, source=args.source,
                        license=args.license, max_doc_mb=args.max_doc_mb, strict=args.strict, recipe=args.recipe)


def cmd_import(args: argparse.Namespace) -> int:
    modes = [bool(args.paths), bool(args.hub), bool(args.from_config)]
    if sum(modes) != 1:
        raise UserError("give input PATHs, or --hub DATASET_ID, or --from-config YAML (exactly one)")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.paths and args.limit is not None:
        raise UserError("--limit applies to hub imports (--hub, --from-config), not to local files")
    if args.from_config and args.domain:
        raise UserError("--from-config takes the domains from the YAML; use --domains a,b to choose some")
    if args.from_config:
        domains = [d.strip() for d in args.domains.split(",") if d.strip()] if args.domains else None
        art = import_from_config(args.from_config, domains=domains, limit=args.limit, strict=args.strict,
                                 max_doc_mb=args.max_doc_mb, workdir=args.workdir, out=args.out)
    elif args.hub:
        cfg = _cfg_from_args(args)
        src = HubSource(id=args.hub, domain=cfg.domain, lang=cfg.lang, license=cfg.license or "unknown",
                        config=args.hub_config, split=args.split, text_field=cfg.text_field,
                        text_template=cfg.text_template, id_field=cfg.id_field)
        art = import_hub(src, cfg, limit=args.limit, workdir=args.workdir, out=args.out)
    else:
        art = import_files(args.paths, _cfg_from_args(args), workdir=args.workdir, out=args.out)
    c = art.manifest["counts"]
    if args.json:
        print_json({"version": art.version, "path": str(art.path), **c})
        return 0
    print(f"corpus {art.version} at {art.path}")
    print(f"  read {c['read']:,}  written {c['written']:,}  quarantined {c['quarantined']:,}")
    for reason, n in c["quarantined_per_reason"].items():
        print(f"  quarantined {reason}: {n['documents']:,} documents in {n['records']:,} records")
    if c["quarantine_records"]:
        print(f"  see {art.path / QUARANTINE_FILE}")
    return 0
