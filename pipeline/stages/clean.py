"""The clean stage: Unicode normalisation → language ID → per-language quality rules.

One datatrove block (`CleanBlock`) does all three, so each document is split into words once
(spaCy-equivalent English split or jieba-equivalent Chinese split) and the words are shared by
every rule. Normalisation, LID and word splitting run per document; the prose rules run on
batches of documents (`batch_docs`), because their word statistics are cheap in numpy only in
bulk. Results do not depend on the batch size. Dropped documents are marked with their reason,
never lost (see `parts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from datatrove.pipeline.base import PipelineStep

from ..typed_config import speed_only
from .langid import LanguageIdentifier, LidConfig
from .normalize import NormalizeConfig, normalize
from .parts import is_marked, mark_drop
from .quality import CodeRules, ProseRules, TranslationRules, code_reason, prose_reasons, translation_reason
from .runner import PipelineSpec, Stage, StageContext
from .words import make_splitter


@dataclass
class QualityConfig:
    """Rules per language; `domain_rules` sends whole domains to rule sets that fit them."""

    en: ProseRules = field(default_factory=ProseRules)
    zh: ProseRules = field(default_factory=lambda: ProseRules(words="jieba"))
    mixed: ProseRules = field(default_factory=lambda: ProseRules(words="jieba"))
    code: CodeRules = field(default_factory=CodeRules)
    translation: TranslationRules = field(default_factory=TranslationRules)
    # math word problems: prose rules per language, but numbers and symbols are words there
    math_en: ProseRules = field(default_factory=lambda: ProseRules(fineweb=None))
    math_zh: ProseRules = field(default_factory=lambda: ProseRules(words="jieba", fineweb=None))
    # structured text (manuals, dictionaries, licences, verse and quotations): the web-text rules
    # count punctuation tokens as non-alphabetic words and judge line endings, which drops nearly
    # every document of these domains; these sets keep the repetition rules and a relaxed Gopher check
    structured_en: ProseRules = field(default_factory=lambda: ProseRules(fineweb=None))
    structured_zh: ProseRules = field(default_factory=lambda: ProseRules(words="jieba", fineweb=None))
    domain_rules: dict[str, str] = field(default_factory=lambda: {"code": "code", "translation": "translation",
                                                                  "math": "math"})

    def rule_set(self, domain: str, lang: str) -> str:
        """The rule set for a document: its domain's (per language where `<set>_<lang>` exists), else
        its language's. A domain whose rule set has no variant for the language uses the language's."""
        kind = self.domain_rules.get(domain)
        if kind is None:
            return lang
        if hasattr(self, f"{kind}_{lang}"):
            return f"{kind}_{lang}"
        return kind if isinstance(getattr(self, kind, None), CodeRules | TranslationRules | ProseRules) else lang


@dataclass
class CleanConfig:
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    lid: LidConfig = field(default_factory=LidConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    min_chars: int = 1
    # prose documents are judged in batches: the word statistics of a batch go through numpy together
    batch_docs: int = speed_only(256)
    batch_chars: int = speed_only(4_000_000)


@dataclass
class _Verdict:
    """One document on its way through the block: LID done, prose rules maybe still pending."""

    lang: str
    reason: str | None
    meta: dict
    prose: str | None = None  # the prose rule set still to apply (en / zh / mixed)
    ids: np.ndarray | None = None


class CleanBlock(PipelineStep):
    name = "🧹 clean (normalise, LID, quality)"
    type = "🔻 - FILTER"

    def __init__(self, cfg: CleanConfig):
        super().__init__()
        self.cfg = cfg
        self._lid: LanguageIdentifier | None = None
        self._splitters: dict[str, object] = {}

    def splitter(self, lang: str, rules: ProseRules):
        if lang not in self._splitters:
            self._splitters[lang] = make_splitter(rules.words, rules.stop_words)
        return self._splitters[lang]

    def _prepare(self, text: str, domain: str, source_lang: str) -> _Verdict:
        """LID and the per-document rules; prose documents get their words, judged later in a batch."""
        if self._lid is None:
            self._lid = LanguageIdentifier(self.cfg.lid)
        if len(text) < self.cfg.min_chars:
            return _Verdict(source_lang, "empty", {})
        lid = self._lid.identify(text, domain, source_lang)
        meta = {"lid_label": lid.label, "lid_score": round(lid.score, 4)}
        lang = lid.lang or source_lang
        if lid.reason:
            return _Verdict(lang, lid.reason, meta)
        q = self.cfg.quality
        kind = q.rule_set(domain, lang)
        if kind == "code":
            return _Verdict(lang, code_reason(text, q.code), meta)
        if kind == "translation":
            return _Verdict(lang, translation_reason(text, lid.han, lid.latin, q.translation), meta)
        return _Verdict(lang, None, meta, kind)

    def _split(self, texts: list[str], verdicts: list[_Verdict]) -> None:
        """Word ids for the prose documents, in document order (a phase of its own, so the word
        tables stay in cache across documents)."""
        for text, v in zip(texts, verdicts, strict=True):
            if v.prose is not None and v.ids is None:
                v.ids = self.splitter(v.prose, getattr(self.cfg.quality, v.prose)).word_ids(text)

    def _judge(self, texts: list[str], verdicts: list[_Verdict]) -> None:
        """Apply the prose rules to the pending documents, one batch per rule set."""
        by_kind: dict[str, list[int]] = {}
        for i, v in enumerate(verdicts):
            if v.prose is not None:
                by_kind.setdefault(v.prose, []).append(i)
        for kind, idx in by_kind.items():
            rules: ProseRules = getattr(self.cfg.quality, kind)
            reasons = prose_reasons([texts[i] for i in idx], [verdicts[i].ids for i in idx],
                                    self.splitter(kind, rules).index, rules)
            for i, r in zip(idx, reasons, strict=True):
                verdicts[i].reason = r
                verdicts[i].prose = verdicts[i].ids = None
        for sp in self._splitters.values():
            sp.trim()

    def decide(self, text: str, domain: str, source_lang: str) -> tuple[str | None, str | None, dict]:
        """(final lang, drop reason or None, metadata to add) for one already normalised text."""
        v = self._prepare(text, domain, source_lang)
        self._split([text], [v])
        self._judge([text], [v])
        return v.lang, v.reason, v.meta

    def _flush(self, docs: list, live: list[bool]):
        """Judge one batch, phase by phase over all its documents (language ID, word split, rules),
        so each phase's tables and model stay in cache; results equal a per-document pass."""
        verdicts: list[_Verdict | None] = [None] * len(docs)
        with self.track_time():
            for k, (doc, ok) in enumerate(zip(docs, live, strict=True)):
                if ok:
                    meta = doc.metadata
                    verdicts[k] = self._prepare(doc.text, meta.get("domain", ""), meta.get("lang", ""))
            pending = [(d, v) for d, v in zip(docs, verdicts, strict=True) if v is not None]
            texts, vs = [d.text for d, _ in pending], [v for _, v in pending]
            self._split(texts, vs)
            self._judge(texts, vs)
        for doc, v in zip(docs, verdicts, strict=True):
            if v is not None:
                meta = doc.metadata
                meta.update(v.meta)
                source_lang = meta.get("lang", "")
                if v.lang != source_lang:
                    meta["source_lang"] = source_lang
                    meta["lang"] = v.lang
                if v.reason:
                    mark_drop(doc, v.reason)
                    self.stat_update("dropped", f"dropped_{v.reason}")
                else:
                    self.stat_update("forwarded")
            yield doc

    def run(self, data, rank: int = 0, world_size: int = 1):
        docs: list = []
        live: list[bool] = []
        chars = 0
        for doc in data:
            docs.append(doc)
            live.append(not is_marked(doc))  # dropped or quarantined upstream: passed through untouched
            if live[-1]:
                with self.track_time():
                    text, fixes = normalize(doc.text, self.cfg.normalize)
                    doc.text = text
                    if fixes:
                        doc.metadata["clean_fixes"] = fixes
                chars += len(doc.text)
            if len(docs) >= self.cfg.batch_docs or chars >= self.cfg.batch_chars:
                yield from self._flush(docs, live)
                docs, live, chars = [], [], 0
        yield from self._flush(docs, live)


def warm_up(cfg: CleanConfig) -> None:
    """Build what every worker needs (spaCy's compiled rules, the native text library) once in the
    parent, so that forked workers inherit it instead of each paying ~0.1 s."""
    from .words import english_rules, native_affix_splitter

    q = cfg.quality
    if any(isinstance(r, ProseRules) and r.words == "spacy_en" for r in vars(q).values()):
        english_rules("en")
        native_affix_splitter("en")


def plan(ctx: StageContext) -> list[PipelineSpec]:
    warm_up(ctx.config)
    return [PipelineSpec("clean", [ctx.reader(), CleanBlock(ctx.config), ctx.part_writer()])]


STAGE = Stage(name="clean", config_cls=CleanConfig, plan=plan)
