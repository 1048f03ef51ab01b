"""Quality rules per language, evaluated on one word split per document.

The prose rules are datatrove's Gopher repetition, Gopher quality and FineWeb quality filters,
re-expressed on integer word ids so that n-gram counting runs in numpy instead of joining strings.
They apply in the same order, with the same thresholds, comparisons and drop reasons as the stock
filters (a test checks keep/drop agreement on real text). The word statistics of a whole batch of
documents are computed together (`WordBatch`: one hash-table pass per n-gram level over the batch),
because numpy's per-call cost dominates on single short documents; the per-line text rules stay
per document. The duplicate n-gram rule compares n-grams as word tuples; datatrove compares the
separator-less concatenation, which differs only when two different splits of the same characters
repeat (not seen in our tests).

Code and translation documents get rules that fit them instead of prose rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .line_stats import LineStats, dup_counts, line_stats, line_stats_batch
from .words import WordIndex

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


@dataclass
class RepetitionConfig:
    """datatrove `GopherRepetitionFilter` thresholds (None disables a rule)."""

    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: dict[int, float] = field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    dup_n_grams: dict[int, float] = field(default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11,
                                                                   10: 0.10})


@dataclass
class GopherConfig:
    """datatrove `GopherQualityFilter` thresholds (None disables a rule)."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] = field(default_factory=lambda: list(GOPHER_STOP_WORDS))


@dataclass
class FineWebConfig:
    """datatrove `FineWebQualityFilter` thresholds (`short_line_thr` None disables that rule)."""

    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float | None = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


@dataclass
class ProseRules:
    """Rules for one prose language; `words` picks the splitter (spacy_en or jieba)."""

    words: str = "spacy_en"
    repetition: RepetitionConfig | None = field(default_factory=RepetitionConfig)
    gopher: GopherConfig | None = field(default_factory=GopherConfig)
    fineweb: FineWebConfig | None = field(default_factory=FineWebConfig)

    @property
    def stop_words(self) -> list[str]:
        return self.gopher.stop_words if self.gopher else []


@dataclass
class CodeRules:
    """Source code: drop minified/generated or binary-ish files, never prose rules."""

    min_chars: int = 20
    max_chars: int = 1_000_000
    max_line_length: int = 1000
    max_mean_line_length: float = 100.0
    min_alnum_frac: float = 0.25


@dataclass
class TranslationRules:
    """Parallel text: both scripts present, sane length, not one line repeated."""

    min_chars: int = 4
    max_chars: int = 200_000
    require_han: bool = True
    require_latin: bool = True
    max_dup_line_frac: float = 0.5


# ---------------------------------------------------------------------------------------------


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id, group size) per element, equal keys sharing a group: one hash-table pass."""
    codes, uniq = pd.factorize(keys)
    codes = codes.astype(np.int64, copy=False)
    return codes, np.bincount(codes, minlength=len(uniq))[codes]


def _per_doc(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Sum of `values` over each document's slice (`bounds` = offsets, len docs + 1); empty docs give 0."""
    cs = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return cs[bounds[1:]] - cs[bounds[:-1]]


class WordBatch:
    """Word-array statistics of many documents at once, so numpy's per-call cost is paid per batch.

    n-gram levels: the n-gram at p can only repeat if the (n-1)-grams at p and p+1 both repeat, so
    each level groups only the positions that survive the previous one (exactly: same group iff the
    word tuples are equal, and keys carry the document, so groups never span two documents).
    """

    def __init__(self, ids_list: list[np.ndarray], index: WordIndex):
        self.lens, self.nonsym, self.alpha, self.stop = index.arrays()
        self.docs = len(ids_list)
        self.n_words = np.array([len(x) for x in ids_list], dtype=np.int64)
        self.bounds = np.concatenate(([0], np.cumsum(self.n_words)))
        self.ids = np.concatenate(ids_list) if ids_list else np.zeros(0, np.int64)
        self.doc = np.repeat(np.arange(self.docs), self.n_words)
        self.end = self.bounds[1:][self.doc]  # per position: where its document ends
        self.cum = np.concatenate(([0], np.cumsum(self.lens[self.ids], dtype=np.int64)))
        self.radix = max(len(self.lens), 1)
        self._levels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._top: dict[int, np.ndarray] = {}
        self._dup: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._dup_native: dict[int, np.ndarray] = {}

    def precompute(self, top: list[int], dup: list[int]) -> bool:
        """Compute these top and duplicate n-gram measures for every document in one native call
        (`text_native.ngram_stats`); False when native loops are unavailable (numpy path then)."""
        from .text_native import library, ngram_stats

        lib = library()
        if lib is None:
            return False
        stats = ngram_stats(lib, self.ids, self.cum, self.bounds, [*top, *dup], [0] * len(top) + [1] * len(dup))
        for k, n in enumerate(top):
            self._top[n] = stats[:, k]
        for k, n in enumerate(dup):
            self._dup_native[n] = stats[:, len(top) + k]
        return True

    def level(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions, group ids, group sizes) of every n-gram that may repeat, by position."""
        if n not in self._levels:
            if n == 1:
                g, c = _factorize(self.doc * self.radix + self.ids)
                self._levels[1] = (np.arange(len(self.ids)), g, c)
            else:
                pos, group, count = self.level(n - 1)
                rep = count > 1
                rpos, rgroup = pos[rep], group[rep]
                mask = np.zeros(len(self.ids) + 1, dtype=bool)
                mask[rpos] = True
                keep = mask[rpos + 1] & (rpos + n - 1 < self.end[rpos])
                p = rpos[keep]
                g, c = _factorize(rgroup[keep] * self.radix + self.ids[p + n - 1])
                self._levels[n] = (p, g, c)
        return self._levels[n]

    def top_ngram_chars(self, n: int) -> np.ndarray:
        """Per document: len(most common n-gram joined by spaces) x its count, ties to the first
        seen (datatrove's `find_top_duplicate`); meaningless where a document has < n words."""
        if n not in self._top:
            pos, _group, count = self.level(n)
            top = np.ones(self.docs, dtype=np.int64)
            first = self.bounds[:-1].copy()  # no repeat: the first n-gram, once
            rep = count > 1
            if rep.any():
                rpos, rcount = pos[rep], count[rep]
                rdoc = self.doc[rpos]
                starts = np.flatnonzero(np.diff(rdoc, prepend=-1))
                top[rdoc[starts]] = np.maximum.reduceat(rcount, starts)
                is_top = rcount == top[rdoc]
                tpos, tdoc = rpos[is_top], rdoc[is_top]
                tstarts = np.flatnonzero(np.diff(tdoc, prepend=-1))
                first[tdoc[tstarts]] = tpos[tstarts]
            end = np.minimum(first + n, self.bounds[1:])
            self._top[n] = (self.cum[end] - self.cum[first] + (n - 1)) * top
        return self._top[n]

    def dup_ngram_chars(self, n: int, i: int) -> int:
        """Document i: datatrove's `find_all_duplicate` (greedy scan; a repeated n-gram's characters
        count once and the scan jumps past it), visiting only n-grams that occur twice or more."""
        if n in self._dup_native:
            return int(self._dup_native[n][i])
        lo, hi = self._dup_slice(n, i)
        pos, group = self._dup[n]
        cum = self.cum
        seen: set[int] = set()
        total = 0
        nxt = 0
        for p, x in zip(pos[lo:hi].tolist(), group[lo:hi].tolist(), strict=True):
            if p < nxt:
                continue
            if x in seen:
                total += int(cum[p + n] - cum[p])
                nxt = p + n
            else:
                seen.add(x)
                nxt = p + 1
        return total

    def _dup_slice(self, n: int, i: int) -> tuple[int, int]:
        if n not in self._dup:
            pos, group, count = self.level(n)
            rep = count > 1
            self._dup[n] = (pos[rep], group[rep])
        lo, hi = np.searchsorted(self._dup[n][0], self.bounds[i:i + 2])
        return int(lo), int(hi)

    def gopher_counts(self) -> dict[str, np.ndarray]:
        """Per document: non-symbol words, their total length, words with a letter, distinct stop words."""
        if not hasattr(self, "_gopher"):
            ns = self.nonsym[self.ids]
            st = self.stop[self.ids]
            stop_keys = np.unique(self.doc[st] * self.radix + self.ids[st])
            self._gopher = {
                "non_symbol": _per_doc(ns, self.bounds),
                "non_symbol_chars": _per_doc(np.where(ns, self.lens[self.ids], 0), self.bounds),
                "alpha": _per_doc(self.alpha[self.ids], self.bounds),
                "stop": np.bincount(stop_keys // self.radix, minlength=self.docs),
            }
        return self._gopher


def repetition_reason(text: str, i: int, batch: WordBatch, cfg: RepetitionConfig,
                      ls: LineStats | None = None) -> str | None:
    if not text:
        return "empty"
    ls = ls or line_stats(text)
    if cfg.dup_para_frac and ls.para_dup / ls.paragraphs > cfg.dup_para_frac:
        return "dup_para_frac"
    if cfg.dup_para_char_frac and ls.para_dup_chars / len(text) > cfg.dup_para_char_frac:
        return "dup_para_char_frac"
    if cfg.dup_line_frac and ls.line_dup / ls.lines > cfg.dup_line_frac:
        return "dup_line_frac"
    if cfg.dup_line_char_frac and ls.line_dup_chars / len(text) > cfg.dup_line_char_frac:
        return "dup_line_char_frac"
    n_words = int(batch.n_words[i])
    for n, frac in sorted(cfg.top_n_grams.items()):
        if n_words - n + 1 <= 0:
            continue
        if int(batch.top_ngram_chars(n)[i]) / len(text) > frac:
            return f"top_{n}_gram"
    dup = sorted(cfg.dup_n_grams.items())
    for k, (n, frac) in enumerate(dup):
        if n_words - n + 1 <= 0:
            continue
        chars = batch.dup_ngram_chars(n, i)
        if chars / len(text) > frac:
            return f"duplicated_{n}_n_grams"
        # the greedy scan steps one word at a time until it meets a repeat, so 0 characters means
        # no repeated n-gram, hence no longer one: every later score is 0 and cannot exceed its threshold
        if chars == 0 and all(f >= 0 for _, f in dup[k + 1:]):
            break
    return None


def gopher_reason(text: str, i: int, batch: WordBatch, cfg: GopherConfig, ls: LineStats | None = None) -> str | None:
    g = batch.gopher_counts()
    n_words = int(batch.n_words[i])
    n_ns = int(g["non_symbol"][i])
    if cfg.min_doc_words and n_ns < cfg.min_doc_words:
        return "gopher_short_doc"
    if cfg.max_doc_words and n_ns > cfg.max_doc_words:
        return "gopher_long_doc"
    avg = int(g["non_symbol_chars"][i]) / n_ns if n_ns else math.nan
    if cfg.min_avg_word_length and avg < cfg.min_avg_word_length:
        return "gopher_below_avg_threshold"
    if cfg.max_avg_word_length and avg > cfg.max_avg_word_length:
        return "gopher_above_avg_threshold"
    if n_words == 0:
        return "gopher_short_doc"
    ls = ls or line_stats(text)
    if cfg.max_symbol_word_ratio and ls.hashes / n_words > cfg.max_symbol_word_ratio:
        return "gopher_too_many_hashes"
    if cfg.max_symbol_word_ratio and ls.ellipses / n_words > cfg.max_symbol_word_ratio:
        return "gopher_too_many_ellipsis"
    n_lines, bullets, ellipses = ls.split_lines, ls.bullet_lines, ls.ellipsis_lines
    if n_lines and cfg.max_bullet_lines_ratio and bullets / n_lines > cfg.max_bullet_lines_ratio:
        return "gopher_too_many_bullets"
    if n_lines and cfg.max_ellipsis_lines_ratio and ellipses / n_lines > cfg.max_ellipsis_lines_ratio:
        return "gopher_too_many_end_ellipsis"
    if cfg.max_non_alpha_words_ratio and int(g["alpha"][i]) / n_words < cfg.max_non_alpha_words_ratio:
        return "gopher_below_alpha_threshold"
    if cfg.min_stop_words and int(g["stop"][i]) < cfg.min_stop_words:
        return "gopher_enough_stop_words"
    return None


def fineweb_reason(text: str, n_words: int, cfg: FineWebConfig, ls: LineStats | None = None) -> str | None:
    ls = ls or line_stats(text, cfg.short_line_length)
    if not ls.nonblank:
        return "empty"
    ratio = ls.terminal / ls.nonblank
    if ratio < cfg.line_punct_thr and not (ratio == 0 and cfg.line_punct_exclude_zero):
        return "line_punct_ratio"
    if cfg.short_line_thr is not None and ls.short / ls.nonblank > cfg.short_line_thr:
        return "short_line_ratio"
    if ls.nonblank_dup_chars / (ls.chars - ls.newlines) > cfg.char_duplicates_ratio:
        return "char_dup_ratio"
    if n_words == 0 or ls.newlines / n_words > cfg.new_line_ratio:
        return "list_ratio"
    return None


def stock_filters(rules: ProseRules, language: str) -> list:
    """datatrove's own Gopher repetition, Gopher quality and FineWeb filters set to these rules'
    thresholds, with datatrove's word tokenizer for `language`: the stock pipeline the prose rules
    restate, which tests and benchmarks compare against. A disabled short-line rule becomes a
    threshold no ratio exceeds (datatrove has no off switch for it)."""
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    out = []
    if (r := rules.repetition) is not None:
        out.append(GopherRepetitionFilter(
            dup_line_frac=r.dup_line_frac, dup_para_frac=r.dup_para_frac, dup_line_char_frac=r.dup_line_char_frac,
            dup_para_char_frac=r.dup_para_char_frac, top_n_grams=tuple(r.top_n_grams.items()),
            dup_n_grams=tuple(r.dup_n_grams.items()), language=language))
    if (g := rules.gopher) is not None:
        out.append(GopherQualityFilter(
            min_doc_words=g.min_doc_words, max_doc_words=g.max_doc_words, min_avg_word_length=g.min_avg_word_length,
            max_avg_word_length=g.max_avg_word_length, max_symbol_word_ratio=g.max_symbol_word_ratio,
            max_bullet_lines_ratio=g.max_bullet_lines_ratio, max_ellipsis_lines_ratio=g.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=g.max_non_alpha_words_ratio, min_stop_words=g.min_stop_words,
            stop_words=g.stop_words, language=language))
    if (f := rules.fineweb) is not None:
        out.append(FineWebQualityFilter(
            line_punct_thr=f.line_punct_thr, short_line_thr=999.0 if f.short_line_thr is None else f.short_line_thr,
            char_duplicates_ratio=f.char_duplicates_ratio, new_line_ratio=f.new_line_ratio, language=language))
    return out


def prose_reasons(texts: list[str], ids_list: list[np.ndarray], index: WordIndex, rules: ProseRules,
                  native: bool = True) -> list[str | None]:
    """Per document, the first failing rule in stock order (repetition → Gopher quality → FineWeb),
    or None to keep. The word statistics are computed for the whole batch at once, the n-gram
    measures in C when it is available (`native=False`: always numpy)."""
    batch = WordBatch(ids_list, index)
    if rules.repetition is not None and native:
        batch.precompute(sorted(rules.repetition.top_n_grams), sorted(rules.repetition.dup_n_grams))
    short = rules.fineweb.short_line_length if rules.fineweb is not None else 0
    stats = line_stats_batch(texts, short, native=native)
    out: list[str | None] = []
    for i, (text, ls) in enumerate(zip(texts, stats, strict=True)):
        r = None
        if rules.repetition is not None:
            r = repetition_reason(text, i, batch, rules.repetition, ls)
        if r is None and rules.gopher is not None:
            r = gopher_reason(text, i, batch, rules.gopher, ls)
        if r is None and rules.fineweb is not None:
            r = fineweb_reason(text, int(batch.n_words[i]), rules.fineweb, ls)
        out.append(r)
    return out


def prose_reason(text: str, ids: np.ndarray, index: WordIndex, rules: ProseRules) -> str | None:
    """`prose_reasons` for one document."""
    return prose_reasons([text], [ids], index, rules)[0]


def code_reason(text: str, cfg: CodeRules) -> str | None:
    n = len(text)
    if n < cfg.min_chars:
        return "code_too_short"
    if n > cfg.max_chars:
        return "code_too_long"
    lines = text.split("\n")
    if max(len(line) for line in lines) > cfg.max_line_length:
        return "code_long_line"
    if n / len(lines) > cfg.max_mean_line_length:
        return "code_mean_line_length"
    alnum = sum(1 for ch in text if ch.isalnum())
    if alnum / n < cfg.min_alnum_frac:
        return "code_low_alnum"
    return None


def translation_reason(text: str, han: int, latin: int, cfg: TranslationRules) -> str | None:
    if len(text) < cfg.min_chars:
        return "translation_too_short"
    if len(text) > cfg.max_chars:
        return "translation_too_long"
    if cfg.require_han and han == 0:
        return "translation_no_han"
    if cfg.require_latin and latin == 0:
        return "translation_no_latin"
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if lines and dup_counts(lines)[0] / len(lines) > cfg.max_dup_line_frac:
        return "translation_dup_lines"
    return None
