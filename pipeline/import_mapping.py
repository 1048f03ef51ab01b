"""How one input record becomes a `Document` (or a quarantine `Problem` saying why not).

Shared by every import source (local files, hub datasets), so the mapping, its config and the
language guess live apart from where records come from and how they are written.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .documents import Document, dumps
from .errors import UserError
from .hashing import text_id
from .readers import Problem, Record

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
