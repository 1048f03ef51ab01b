"""The clean stage: Unicode normalisation → language ID → per-language quality rules.

One datatrove block (`CleanBlock`) does all three per document so each document is split into
words once (spaCy-equivalent English split or jieba for Chinese) and the words are shared by
every rule. Dropped documents are marked with their reason, never lost (see `parts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datatrove.pipeline.base import PipelineStep

from .langid import LanguageIdentifier, LidConfig
from .normalize import NormalizeConfig, normalize
from .parts import is_marked, mark_drop
from .quality import CodeRules, ProseRules, TranslationRules, code_reason, prose_reason, translation_reason
from .runner import PipelineSpec, Stage, StageContext
from .words import make_splitter


@dataclass
class QualityConfig:
    """Rules per language; `domain_rules` sends whole domains to the code/translation rules."""

    en: ProseRules = field(default_factory=ProseRules)
    zh: ProseRules = field(default_factory=lambda: ProseRules(words="jieba"))
    mixed: ProseRules = field(default_factory=lambda: ProseRules(words="jieba"))
    code: CodeRules = field(default_factory=CodeRules)
    translation: TranslationRules = field(default_factory=TranslationRules)
    domain_rules: dict[str, str] = field(default_factory=lambda: {"code": "code", "translation": "translation"})


@dataclass
class CleanConfig:
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    lid: LidConfig = field(default_factory=LidConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    min_chars: int = 1


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

    def decide(self, text: str, domain: str, source_lang: str) -> tuple[str | None, str | None, dict]:
        """(final lang, drop reason or None, metadata to add) for an already normalised text."""
        if self._lid is None:
            self._lid = LanguageIdentifier(self.cfg.lid)
        if len(text) < self.cfg.min_chars:
            return source_lang, "empty", {}
        lid = self._lid.identify(text, domain, source_lang)
        meta = {"lid_label": lid.label, "lid_score": round(lid.score, 4)}
        lang = lid.lang or source_lang
        if lid.reason:
            return lang, lid.reason, meta
        q = self.cfg.quality
        kind = q.domain_rules.get(domain) or lang
        if kind == "code":
            return lang, code_reason(text, q.code), meta
        if kind == "translation":
            return lang, translation_reason(text, lid.han, lid.latin, q.translation), meta
        rules: ProseRules = getattr(q, kind)
        sp = self.splitter(kind, rules)
        ids = sp.word_ids(text)
        return lang, prose_reason(text, ids, sp.index, rules), meta

    def run(self, data, rank: int = 0, world_size: int = 1):
        for doc in data:
            if is_marked(doc):
                yield doc
                continue
            with self.track_time():
                meta = doc.metadata
                text, fixes = normalize(doc.text, self.cfg.normalize)
                doc.text = text
                if fixes:
                    meta["clean_fixes"] = fixes
                source_lang = meta.get("lang", "")
                lang, reason, extra = self.decide(text, meta.get("domain", ""), source_lang)
                meta.update(extra)
                if lang != source_lang:
                    meta["source_lang"] = source_lang
                    meta["lang"] = lang
                if reason:
                    mark_drop(doc, reason)
                    self.stat_update("dropped", f"dropped_{reason}")
                else:
                    self.stat_update("forwarded")
            yield doc


def plan(ctx: StageContext) -> list[PipelineSpec]:
    return [PipelineSpec("clean", [ctx.reader(), CleanBlock(ctx.config), ctx.part_writer()])]


STAGE = Stage(name="clean", config_cls=CleanConfig, plan=plan)
