"""Fast word splitting that gives exactly the words datatrove's filters see, once per document.

English: datatrove splits with spaCy's blank English tokenizer (`load_word_tokenizer("eng")`), which
cuts the text at whitespace and tokenizes each whitespace-free chunk on its own (prefixes, suffixes,
infixes, exceptions, URL match). `SpacyEnglishRules` runs that same algorithm in Python on spaCy's
own compiled regexes and exception table, without building spaCy lexemes and Docs (the costly
part); plain-letter chunks skip the regexes (none of them can match a run of ASCII letters). Each
distinct chunk is split once per worker and memoised, and natural text repeats chunks heavily.
Where a C compiler is available (`text_native`), the whitespace cut, the memo, the word ids and
the split of ASCII chunks run in C, on programs read off the same regexes (`affix_programs`);
chunks the C loop cannot decide exactly (non-ASCII, exceptions, possible URLs) come back here.

Chinese: datatrove's `cmn` tokenizer is spaCy's blank "zh" with the jieba segmenter, i.e.
`jieba.cut(text)` (accurate mode, HMM on) with whitespace tokens dropped. jieba cuts the text into
blocks of `[Han a-z A-Z 0-9 + # & . _ % -]`, segments each block, and yields every other character
alone. We make the same blocks; blocks of only Han letters and ASCII alphanumerics go to jieba-rs
(`rjieba`, same dictionary and HMM, ~20x faster). Blocks holding `+#&._%-` differ (jieba-rs's HMM
step keeps `apt-get` or `2.2.1` whole), so for them we take jieba-rs's dictionary-only cut, which is
jieba's, and replay jieba's HMM step in Python. Tests check both splitters against datatrove's
tokenizers on real text.

Both splitters also map words to small integer ids with per-word properties (length, has a
non-punctuation character, has a letter, is a stop word), so the quality rules work on arrays.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import logging
import os
import re
from collections.abc import Iterable
from itertools import chain
from pathlib import Path

import numpy as np
from datatrove.utils.text import PUNCTUATION_SET
from datatrove.utils.word_tokenizers import WordTokenizer

_PLAIN = re.compile(r"[A-Za-z]+\Z")
_ASCII_LETTER = re.compile("[A-Za-z]")
_NEVER = re.compile("(?!)").match  # for ASCII text, the same test as any(ch.isalpha())


class WordIndex:
    """Word → id, and per-id properties in arrays that grow in place (amortised O(1) per new word)."""

    def __init__(self, stop_words: Iterable[str] = (), max_words: int = 2_000_000):
        self.stop_words = frozenset(stop_words)
        self.max_words = max_words
        self.reset()

    def reset(self) -> None:
        self.ids: dict[str, int] = {}
        self.words: list[str] = []
        self._bufs = [np.zeros(1024, np.int64)] + [np.zeros(1024, bool) for _ in range(3)]
        self._size = 0  # words whose properties are in the buffers

    def id(self, word: str) -> int:
        i = self.ids.get(word)
        if i is None:
            i = self.ids[word] = len(self.words)
            self.words.append(word)
        return i

    def extend(self, words: list[str]) -> None:
        """Add words known to be new, in order (ids len(words), len(words) + 1, ...)."""
        start = len(self.words)
        self.ids.update(zip(words, range(start, start + len(words)), strict=True))
        self.words.extend(words)
        if len(self.ids) != len(self.words):
            raise ValueError("WordIndex.extend: a word was already present")

    def ids_of(self, words: list[str]) -> np.ndarray:
        get = self.ids.get
        out = [get(w, -1) for w in words]
        if -1 in out:
            out = [i if i >= 0 else self.id(w) for i, w in zip(out, words, strict=True)]
        return np.array(out, dtype=np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(length, non-symbol, has-letter, stop-word) indexed by word id. Properties of words added
        since the last call are computed here in bulk; the arrays grow by doubling, so the cost is
        per new word, not per call."""
        new = self.words[self._size:]
        if new:
            self._add(new)
        n = self._size
        return self._bufs[0][:n], self._bufs[1][:n], self._bufs[2][:n], self._bufs[3][:n]

    def _add(self, new: list[str]) -> None:
        done = self._size
        end = done + len(new)
        if end > len(self._bufs[0]):
            cap = max(end, 2 * len(self._bufs[0]), 1024)
            self._bufs = [np.concatenate([b[:done], np.zeros(cap - done, b.dtype)]) for b in self._bufs]
        length, nonsym, alpha, stop = self._bufs
        length[done:end] = np.fromiter(map(len, new), np.int64, len(new))
        nonsym[done:end] = ~np.fromiter(map(PUNCTUATION_SET.issuperset, new), bool, len(new))
        alpha[done:end] = [_ASCII_LETTER.search(w) is not None if w.isascii() else any(map(str.isalpha, w))
                           for w in new]
        stop[done:end] = np.fromiter(map(self.stop_words.__contains__, new), bool, len(new))
        self._size = end


def _pattern_spec(fn) -> list | None:
    """[pattern, flags, method] of a bound `re.Pattern` method, or None (spaCy's rules are these)."""
    pat = getattr(fn, "__self__", None)
    if fn is None or not isinstance(pat, re.Pattern):
        return None
    return [pat.pattern, pat.flags, fn.__name__]


def _span(m: re.Match | None) -> int:
    return m.end() - m.start() if m is not None else 0


def _compiled(spec: list | None):
    if spec is None:
        return None
    pattern, flags, method = spec
    return getattr(re.compile(pattern, flags), method)


def spacy_rules_data(lang: str = "en") -> dict:
    """spaCy's tokenizer rules for `lang` as plain data (imports spaCy: ~1-2 s, so it is cached)."""
    import spacy
    from spacy.symbols import ORTH

    tok = spacy.blank(lang).tokenizer
    specs = {name: _pattern_spec(getattr(tok, name)) for name in
             ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match")}
    for name, spec in specs.items():
        if spec is None and getattr(tok, name) is not None:
            raise ValueError(f"spaCy {lang} tokenizer: {name} is not a compiled regex")
    return {"spacy": spacy.__version__, "lang": lang, "faster_heuristics": bool(tok.faster_heuristics), **specs,
            "specials": {k: [d[ORTH] for d in v] for k, v in sorted(tok.rules.items())}}


def _rules_cache_path(lang: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "symboliclight" / "spacy-rules" / f"spacy-{importlib.metadata.version('spacy')}-{lang}.json"


def load_spacy_rules_data(lang: str = "en") -> dict:
    """The rules from a per-spaCy-version cache file, made on first use (workers then skip importing
    spaCy, which costs more than splitting a few MB of text)."""
    path = _rules_cache_path(lang)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    data = spacy_rules_data(lang)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    return data


def _edge_chars(items, last: bool) -> tuple[frozenset[str] | None, bool]:
    """(characters the first consumed character can be, or the last one if `last`; whether the
    items can consume nothing) of a parsed regex; None = any character. Assertions consume nothing."""
    from re import _constants as C

    seq = list(items)[::-1] if last else list(items)
    chars: set[str] = set()
    for op, av in seq:
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if op is C.LITERAL:
            item, nullable = {chr(av)}, False
        elif op is C.IN:
            item, nullable = set(), False
            for iop, iav in av:
                if iop is C.LITERAL:
                    item.add(chr(iav))
                elif iop is C.RANGE:
                    item.update(map(chr, range(iav[0], iav[1] + 1)))
                else:
                    return None, False
        elif op is C.SUBPATTERN:
            sub, nullable = _edge_chars(av[3], last)
            if sub is None:
                return None, False
            item = set(sub)
        elif op is C.BRANCH:
            item, nullable = set(), False
            for branch in av[1]:
                sub, n = _edge_chars(branch, last)
                if sub is None:
                    return None, False
                item |= sub
                nullable = nullable or n
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            sub, n = _edge_chars(av[2], last)
            if sub is None:
                return None, False
            item, nullable = set(sub), n or av[0] == 0
        else:
            return None, False
        chars |= item
        if not nullable:
            return frozenset(chars), False
    return frozenset(chars), True


def _min_width(items: list) -> int:
    from re import _parser

    sub = _parser.SubPattern(_parser.State())
    sub.data = list(items)
    return sub.getwidth()[0]


def _alternatives(pattern: re.Pattern) -> list | None:
    from re import _constants as C
    from re import _parser

    if pattern.flags & re.IGNORECASE:
        return None
    tree = list(_parser.parse(pattern.pattern, pattern.flags))
    if tree and tree[-1][0] is C.BRANCH:
        # the parser hoists items every alternative starts with (e.g. `^`): a·(b|c) = a·b | a·c
        return [tree[:-1] + list(branch) for branch in tree[-1][1][1]]
    return [tree]


class AffixIndex:
    """Which characters can start (prefix rules) or end (suffix rules) a match of spaCy's anchored
    affix regex, read off the regex itself, so most chunks get their affix without a search.

    `length(s)` equals the regex's match length: 0 when no alternative can match the edge
    character, 1 when every alternative that can is a single fixed character (then that one char is
    the match), else the regex decides. Built only when every alternative is anchored, finite-edged
    and cannot match empty; otherwise `length` always runs the regex.
    """

    def __init__(self, pattern: re.Pattern, last: bool):
        from re import _constants as C

        self.search = pattern.search
        self.last = last
        self.table: dict[str, bool] | None = None
        try:
            alts = _alternatives(pattern)
        except (ImportError, AttributeError, TypeError, ValueError, re.error):
            alts = None
        if not alts:
            return
        anchor = C.AT_END if last else C.AT_BEGINNING
        table: dict[str, bool] = {}
        for alt in alts:
            items = list(alt)
            if not items:
                return
            edge = items[-1] if last else items[0]
            if edge != (C.AT, anchor) or _min_width(items) == 0:
                return
            chars, nullable = _edge_chars(items, last)
            if chars is None or nullable:
                return
            core = items[:-1] if last else items[1:]
            simple = len(core) == 1 and core[0][0] in (C.LITERAL, C.IN) and _edge_chars(core, last)[0] is not None
            for ch in chars:
                table[ch] = table.get(ch, True) and simple
        self.table = table

    def length(self, s: str) -> int:
        if self.table is not None and s:
            simple = self.table.get(s[-1] if self.last else s[0])
            if simple is None:
                return 0
            if simple:
                return 1
        m = self.search(s)
        return m.end() - m.start() if m is not None else 0


class InfixIndex:
    """The characters an infix match can begin with; a chunk holding none of them has no infix."""

    def __init__(self, pattern: re.Pattern):
        self.finditer = pattern.finditer
        self.starts: frozenset[str] | None = None
        try:
            alts = _alternatives(pattern)
        except (ImportError, AttributeError, TypeError, ValueError, re.error):
            alts = None
        if not alts:
            return
        starts: set[str] = set()
        for alt in alts:
            chars, nullable = _edge_chars(list(alt), False)
            if chars is None or nullable or _min_width(list(alt)) == 0:
                return
            starts |= chars
        self.starts = frozenset(starts)

    def matches(self, s: str) -> list:
        if self.starts is not None and self.starts.isdisjoint(s):
            return []
        return list(self.finditer(s))


class SpacyEnglishRules:
    """spaCy's `Tokenizer` algorithm for one whitespace-free chunk, on spaCy's own rules.

    Mirrors `_split_affixes` / `_attach_tokens` (exceptions checked before and while stripping
    affixes, URL match, infixes) and the special-case matcher pass that re-merges an exception
    whose pieces the affix rules split apart (e.g. `:)` inside `x:)`), longest match first.
    """

    def __init__(self, lang: str = "en", data: dict | None = None):
        data = data or load_spacy_rules_data(lang)
        self.prefix_search = _compiled(data["prefix_search"])
        self.suffix_search = _compiled(data["suffix_search"])
        self.infix_finditer = _compiled(data["infix_finditer"])
        self.token_match = _compiled(data["token_match"])
        self.url_match = _compiled(data["url_match"])
        self.specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in data["specials"].items()}
        self._prefix = AffixIndex(self.prefix_search.__self__, last=False)
        self._suffix = AffixIndex(self.suffix_search.__self__, last=True)
        self._infix = InfixIndex(self.infix_finditer.__self__)
        # exceptions the matcher pass can apply: those the affix rules would split (spaCy's
        # faster_heuristics test); whitespace-bearing ones only ever match whitespace tokens
        self.patterns: dict[tuple[str, ...], str] = {}
        for key in sorted(self.specials):
            if any(ch.isspace() for ch in key):
                continue
            if not data["faster_heuristics"] or _span(self.prefix_search(key)) or _span(self.suffix_search(key)) \
                    or any(True for _ in self.infix_finditer(key)):
                self.patterns[tuple(self.split(key, with_specials=False))] = key
        # one-token patterns re-tokenize a token as itself and, tried last, never block a longer
        # match: only patterns of two or more tokens matter, indexed by their first two tokens
        self.by_pair: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = {}
        for pat, key in self.patterns.items():
            if len(pat) > 1:
                self.by_pair.setdefault(pat[:2], []).append((pat, key))
            elif tuple(self.specials[key]) != pat:
                raise ValueError(f"spaCy exception {key!r}: one-token pattern that changes the token")

    def split(self, s: str, with_specials: bool = True) -> list[str]:
        """The tokens of one whitespace-free chunk (`with_specials=False`: without exceptions, as
        spaCy tokenizes an exception's own text to build its matcher pattern)."""
        sp = self.specials if with_specials else {}
        hit = sp.get(s)
        if hit is not None:
            return list(hit)
        plain = _PLAIN.match if with_specials else _NEVER
        if plain(s):
            return [s]  # (not an exception) no prefix, suffix, infix or URL rule matches ASCII letters
        tm = self.token_match
        prefix_len, suffix_len = self._prefix.length, self._suffix.length
        prefixes: list[str] = []
        suffixes: list[str] = []
        last = -1
        while s and len(s) != last:
            if (tm is not None and tm(s)) or s in sp or (plain(s) and s not in sp):
                break
            last = len(s)
            pre_len = prefix_len(s)
            if pre_len:
                prefix, minus_pre = s[:pre_len], s[pre_len:]
                if minus_pre and minus_pre in sp:
                    s = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = suffix_len(s[pre_len:])
            if suf_len:
                suffix, minus_suf = s[-suf_len:], s[:-suf_len]
                if minus_suf and minus_suf in sp:
                    s = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(s):
                s = s[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                s = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                s = minus_suf
                suffixes.append(suffix)
        out = prefixes
        if s:
            hit = sp.get(s)
            if hit is not None:
                out.extend(hit)
            elif plain(s):
                out.append(s)
            else:
                infixes = self._infix.matches(s)
                if not infixes or (tm is not None and tm(s)) or (self.url_match is not None and self.url_match(s)):
                    out.append(s)  # without infixes a URL / token match would keep it whole anyway
                else:
                    start = 0
                    for m in infixes:
                        a, b = m.start(), m.end()
                        if a == 0:
                            continue
                        if a != start:
                            out.append(s[start:a])
                        if a != b:
                            out.append(s[a:b])
                        start = b
                    if start < len(s):
                        out.append(s[start:])
        if suffixes:
            out.extend(reversed(suffixes))
        if with_specials and len(out) > 1 and not self.by_pair.keys().isdisjoint(zip(out, out[1:], strict=False)):
            out = self._merge_specials(out)
        return out

    def _merge_specials(self, toks: list[str]) -> list[str]:
        """spaCy's matcher pass inside one chunk: longest, then leftmost match wins; a match is
        skipped when its first or last token is covered by one taken before (as spaCy filters)."""
        found = []
        for i, pair in enumerate(zip(toks, toks[1:], strict=False)):
            for pat, key in self.by_pair.get(pair, ()):
                if tuple(toks[i:i + len(pat)]) == pat:
                    found.append((i, i + len(pat), key))
        if not found:
            return toks
        found.sort(key=lambda f: (f[0] - f[1], f[0]))
        seen: set[int] = set()
        keep = []
        for a, b, key in found:
            if a not in seen and b - 1 not in seen:
                keep.append((a, b, key))
            seen.update(range(a, b))
        out: list[str] = []
        i = 0
        for a, b, key in sorted(keep):
            out.extend(toks[i:a])
            out.extend(self.specials[key])
            i = b
        out.extend(toks[i:])
        return out


@functools.cache
def english_rules(lang: str = "en") -> SpacyEnglishRules:
    """One `SpacyEnglishRules` per process (compiling spaCy's regexes takes ~50 ms); a stage that
    builds it before forking its workers hands it to all of them for free."""
    return SpacyEnglishRules(lang)


@functools.cache
def native_affix_splitter(lang: str = "en"):
    """The C affix loop for `english_rules(lang)` (shared and read-only), or None when native code
    is unavailable or the rules need the Python loop."""
    from .text_native import AffixSplitter, library

    lib = library()
    if lib is None:
        return None
    try:
        return AffixSplitter(lib, english_rules(lang))
    except ValueError:
        return None


class SpacyChunkSplitter(WordTokenizer):
    """spaCy's blank-English word split (identical output), memoised per whitespace-free chunk."""

    def __init__(self, stop_words: Iterable[str] = (), spacy_lang: str = "en", max_chunks: int = 1_000_000,
                 native: bool = True):
        super().__init__("en")
        self.spacy_lang = spacy_lang
        self.max_chunks = max_chunks
        self.native = native  # False: the pure-Python path even where the C loops are available
        self._index = WordIndex(stop_words)
        self._rules: SpacyEnglishRules | None = None
        self._cache: dict[str, tuple[int, ...]] = {}
        # native path (`text_native`), set up on first use: chunk → ids table, word → id table (the
        # Python index mirrors it), and the C affix loop; None → the pure-Python `_cache` path
        self._native: bool | None = None
        self._table = self._words = self._affix = None

    @property
    def index(self) -> WordIndex:
        """Word ids and their properties; on the native path, first brought up to date with the
        words the C tables have added (ids are the C tables', in the same order)."""
        if self._words is not None:
            new = self._words.words_since(len(self._index.words))
            if new:
                self._index.extend([w.decode("utf-8", "surrogatepass") for w in new])
            if len(self._index.words) != len(self._words):
                raise RuntimeError("word index out of step with the native word table")
        return self._index

    @property
    def rules(self) -> SpacyEnglishRules:
        if self._rules is None:
            self._rules = english_rules(self.spacy_lang)
        return self._rules

    def _fill(self, chunks: list[str]) -> None:
        cache = self._cache
        split = self.rules.split
        idx = self._index.id
        for c in chunks:
            cache[c] = tuple(map(idx, split(c)))

    def _chunk_table(self):
        """The native chunk table, or None when native loops are unavailable (then `_cache`)."""
        if self._native is None:
            from .text_native import ChunkTable, WordTable, library

            lib = library()
            self._native = lib is not None and self.native
            if self._native:
                self._table, self._words = ChunkTable(lib), WordTable(lib)
                # None when the rules need the Python loop: then Python splits every new chunk
                self._affix = native_affix_splitter(self.spacy_lang)
        return self._table

    def trim(self) -> None:
        """Drop the memo and word index once they outgrow their caps. Only between batches: ids
        handed out before a trim refer to the old index."""
        chunks = len(self._table) if self._table is not None else len(self._cache)
        words = len(self._words) if self._words is not None else len(self._index.words)
        if chunks > self.max_chunks or words > self._index.max_words:
            self._cache.clear()
            if self._table is not None:
                self._table.clear()
                self._words.clear()
            self._index.reset()

    def word_ids(self, text: str) -> np.ndarray:
        table = self._chunk_table()
        if table is not None:
            data = text.encode("utf-8", "surrogatepass")
            ids, missing = table.doc_ids(data, self._words, self._affix)
            if ids is not None:
                return ids
            # chunks the C loop declined (non-ASCII, infixes, exceptions): spaCy's rules in Python,
            # in sorted order so that ids do not depend on set order
            new = sorted(set(missing))
            split, affix = self.rules.split, self._affix
            tokens = []
            for c in new:
                toks = affix.split_bytes(c) if affix is not None else None
                if toks is None:
                    toks = [w.encode("utf-8", "surrogatepass") for w in split(c.decode("utf-8", "surrogatepass"))]
                tokens.append(toks)
            flat = self._words.ids([w for t in tokens for w in t])
            grouped, k = [], 0
            for t in tokens:
                grouped.append(flat[k:k + len(t)])
                k += len(t)
            table.put_many(new, grouped)
            ids, missing = table.doc_ids(data, self._words, self._affix)
            if ids is None:
                raise RuntimeError(f"chunk table lost {len(missing)} chunks it was just given")
            return ids
        chunks = text.split()
        missing = set(chunks).difference(self._cache)
        if missing:
            self._fill(sorted(missing))  # sorted: word ids do not depend on set order
        return np.fromiter(chain.from_iterable(map(self._cache.__getitem__, chunks)), dtype=np.int64)

    def word_tokenize(self, text: str) -> list[str]:
        ids = self.word_ids(text)
        words = self.index.words
        return [words[i] for i in ids]

    def sent_tokenize(self, text: str) -> list[str]:
        raise NotImplementedError("word splitting only")

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError("word splitting only")

    def __getstate__(self):
        # caches and the spaCy rules are rebuilt in each worker
        return {"language": self.language, "spacy_lang": self.spacy_lang, "max_chunks": self.max_chunks,
                "stop_words": self._index.stop_words, "native": self.native}

    def __setstate__(self, st):
        self.__init__(st["stop_words"], st["spacy_lang"], st["max_chunks"], st.get("native", True))


# jieba's block pattern (`jieba.re_han_default`); blocks of only Han + ASCII alphanumerics, which
# jieba-rs segments exactly like jieba; and the punctuation jieba allows inside a block
_JIEBA_BLOCK = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&._%\\-]+)")
_RUST_SAFE = re.compile("[\u4e00-\u9fd5a-zA-Z0-9]+\\Z")


class JiebaSplitter(WordTokenizer):
    """jieba words exactly as datatrove's `cmn` tokenizer yields them (whitespace tokens dropped).

    A block holding `+#&._%-` is rebuilt from jieba-rs's dictionary-only cut (the same route as
    jieba's) by replaying jieba's HMM buffering: a run of single-character pieces stays one piece
    per character if it is a dictionary word, else goes to jieba's HMM segmenter (`finalseg`, whose
    tables load in milliseconds). jieba's own 0.5 s dictionary load never happens in a worker.
    """

    def __init__(self, stop_words: Iterable[str] = (), hmm: bool = True, rust: bool = True):
        super().__init__("zh")
        self.hmm = hmm
        self.rust = rust
        self.index = WordIndex(stop_words)
        self._lcut = None
        self._rust = None

    def _jieba(self):
        if self._lcut is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            self._lcut = jieba.lcut
        return self._lcut

    def _rjieba(self):
        if self._rust is None:
            import rjieba

            self._rust = rjieba
        return self._rust

    def _punct_block(self, blk: str, out: list[str]) -> None:
        """jieba's `__cut_DAG` on a block holding `+#&._%-`, from jieba-rs's dictionary-only route."""
        pieces: list[str] = []
        for w in self._rjieba().cut(blk, False):
            # this mode glues runs of single-character ASCII alphanumeric pieces (as jieba's does);
            # no dictionary word is pure ASCII alphanumeric, so such a token is single characters
            if len(w) > 1 and w.isascii() and w.isalnum():
                pieces.extend(w)
            else:
                pieces.append(w)
        buf = ""
        for w in pieces:
            if len(w) == 1:
                buf += w
                continue
            if buf:
                self._flush(buf, out)
                buf = ""
            out.append(w)
        if buf:
            self._flush(buf, out)

    def _flush(self, buf: str, out: list[str]) -> None:
        """jieba's `__cut_DAG` buffer rule for a run of single-character pieces."""
        if len(buf) == 1:
            out.append(buf)
        elif self._rjieba().has_word(buf):
            out.extend(buf)
        else:
            from jieba import finalseg

            out.extend(finalseg.cut(buf))

    def words(self, text: str) -> list[str]:
        if not (self.rust and self.hmm):
            return [s for s in (w.strip() for w in self._jieba()(text, cut_all=False, HMM=self.hmm)) if s]
        parts = _JIEBA_BLOCK.split(text)
        safe = _RUST_SAFE.match
        simple = [b for b in parts[1::2] if safe(b)]
        # one jieba-rs call for all plain blocks, "\n"-separated (a whitespace token of its own)
        toks = self._rjieba().cut("\n".join(simple) + "\n", True) if simple else []
        out: list[str] = []
        k = 0
        for i, part in enumerate(parts):
            if i & 1:
                if safe(part):
                    j = toks.index("\n", k)
                    out.extend(toks[k:j])
                    k = j + 1
                else:
                    self._punct_block(part, out)
            elif part:
                out.extend(part.split() if len(part) == 1 else [ch for ch in part if not ch.isspace()])
        return out

    def trim(self) -> None:
        """Drop the word index once it outgrows its cap (only between batches, as above)."""
        if len(self.index.words) > self.index.max_words:
            self.index.reset()

    def word_ids(self, text: str) -> np.ndarray:
        return self.index.ids_of(self.words(text))

    def word_tokenize(self, text: str) -> list[str]:
        return self.words(text)

    def sent_tokenize(self, text: str) -> list[str]:
        raise NotImplementedError("word splitting only")

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError("word splitting only")

    def __getstate__(self):
        return {"hmm": self.hmm, "rust": self.rust, "stop_words": self.index.stop_words}

    def __setstate__(self, st):
        self.__init__(st["stop_words"], st["hmm"], st.get("rust", True))


def make_splitter(kind: str, stop_words: Iterable[str] = ()) -> SpacyChunkSplitter | JiebaSplitter:
    if kind == "spacy_en":
        return SpacyChunkSplitter(stop_words)
    if kind == "jieba":
        return JiebaSplitter(stop_words)
    raise ValueError(f"unknown word splitter {kind!r} (spacy_en, jieba)")
