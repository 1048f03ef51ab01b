"""The clean stage's native English path equals its Python definitions, on real text and fuzzed input.

`text_native` cuts text at whitespace, splits chunks with spaCy's affix/infix loop restated as
programs (`affix_programs`), looks chunks and words up in C hash tables, and counts repeated word
n-grams; each is held to the Python path it replaces (which `test_clean_equivalence` holds to
spaCy and datatrove themselves).
"""

from __future__ import annotations

import random
import re
import sys

import numpy as np
import pytest
from clean_fixtures import code_docs, english_docs
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.affix_programs import affix_programs, mandatory_ascii
from symboliclight.pipeline.stages.quality import WordBatch, prose_reasons
from symboliclight.pipeline.stages.runner import load_stage_config
from symboliclight.pipeline.stages.text_native import (
    AffixSplitter,
    ChunkTable,
    WordTable,
    library,
    ngram_stats,
)
from symboliclight.pipeline.stages.words import SpacyChunkSplitter, SpacyEnglishRules

EDGE = ["(word)", "x:)", "U.S.", "don't", "http://example.com/a.b,", "$5", "US$5", "..word..", "…", "'s", "C++",
        "a-b-c", "10km.", "(5km).", "--a.", "a...b", "x.com-y", "e.g.,", "a--b", "a---b", "A.B.C.", "can't.", "3.5%",
        "1,000,000", "x/y/z", "a:b", "<a@b.c>", "''", "\"\"a\"\"", "((a))", "a.)", "#1", "@user", "50/50", "5'11\"",
        "x=y", "a^b", "2+2", "~a~", "km", "5km²", "ok.", "Dr.", "etc.,", "it's.", "[1]:", "`code`", "a*b*",
        # infixes in text the URL rule may keep whole (C cuts, one url_match in Python)
        "example.com/a-b", "(www.x-y.org),", "a.b-c", "foo.bar/baz", "x.co:80", "os.path.join-like", "v1.2-rc"]


@pytest.fixture(scope="module")
def lib():
    lib = library()
    if lib is None:
        pytest.skip("no C compiler: the native path is off and the Python path is the one in use")
    return lib


@pytest.fixture(scope="module")
def rules():
    return SpacyEnglishRules()


@pytest.fixture(scope="module")
def chunks() -> list[str]:
    return sorted({c for t in english_docs()[:600] + code_docs() for c in t.split()}) + EDGE


def test_whitespace_cut_equals_str_split(lib):
    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert spaces == "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) + \
        "\u2028\u2029\u202f\u205f\u3000"
    rng = random.Random(0)
    # near-misses of the multi-byte spaces (same lead bytes) must stay inside chunks
    alphabet = list(spaces) + ["a", "b", "中", "\u200b", "\u2030", "\u1681", "\u3001", "\u00a1", "é", "😀", "\ud800"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += [spaces, "a" + spaces + "b", ""] + list(english_docs()[:50])
    table = ChunkTable(lib)
    for t in texts:
        ids, missing = table.doc_ids(t.encode("utf-8", "surrogatepass"))
        expected = t.split()
        assert [m.decode("utf-8", "surrogatepass") for m in missing] == expected, repr(t)
        assert (ids is None) == bool(expected)


def test_chunk_and_word_tables_round_trip(lib):
    table, words = ChunkTable(lib), WordTable(lib)
    chunks = [f"w{i}".encode() for i in range(5000)]  # forces the tables to grow several times
    ids = [[i, i + 1, 7] for i in range(5000)]
    table.put_many(chunks, ids)
    assert len(table) == 5000
    got, missing = table.doc_ids(b" ".join(chunks[::-1]) + b"\n")
    assert missing == []
    assert got.tolist() == [x for i in reversed(range(5000)) for x in ids[i]]
    assert table.doc_ids(b"w1 new w2")[1] == [b"new"]
    names = [f"word{i % 700}".encode() for i in range(2000)]
    wid = words.ids(names)
    assert wid[:700] == list(range(700)) and wid[700:] == [i % 700 for i in range(700, 2000)]
    assert words.words_since(0) == names[:700] and words.words_since(690) == names[690:700]
    table.clear()
    words.clear()
    assert len(table) == 0 == len(words) and table.doc_ids(b"w1")[1] == [b"w1"]


def test_c_split_equals_spacy_rules_on_real_chunks(lib, rules, chunks):
    sp = AffixSplitter(lib, rules)
    decided = 0
    for c in chunks:
        got = sp.split(c)
        if got is not None:
            decided += 1
            assert got == rules.split(c), c
    # the C loop must actually take the common shapes (words with punctuation, numbers, infixes)
    assert decided / len(chunks) > 0.9
    for c in ["word,", "(word)", "gathered.", "5km", "a-b", "x/y", "end...", "$5", "example.com/a-b", "a.b-c"]:
        assert sp.split(c) == rules.split(c)


def test_c_split_equals_spacy_rules_on_fuzzed_ascii(lib, rules):
    sp = AffixSplitter(lib, rules)
    rng = random.Random(1)
    alphabet = "aAbsStkmgZ0159.,;:!?-_'\"()[]{}<>/\\$%&*+=#@~`^|"
    decided = 0
    for _ in range(30000):
        c = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
        got = sp.split(c)
        if got is not None:
            decided += 1
            assert got == rules.split(c), c
    assert decided > 10000


def test_affix_programs_cover_spacy_english(rules):
    for fn, kind in ((rules.prefix_search, "prefix"), (rules.suffix_search, "suffix"), (rules.infix_finditer, "infix")):
        progs = affix_programs(fn.__self__, kind)
        assert not progs.complex_chars and progs.by_char, kind
    # a URL always has a dot (a host name or an IP address)
    need = mandatory_ascii(rules.url_match.__self__)
    assert need == 1 << ord(".")
    assert mandatory_ascii(re.compile(r"ab(?:c|cd)e?")) == sum(1 << ord(c) for c in "abc")


def test_native_splitter_equals_python_splitter(lib):
    docs = list(english_docs()[:300]) + list(code_docs()) + [" ".join(EDGE), "naïve café 東京 x\u00a0y"]
    native, python = SpacyChunkSplitter(), SpacyChunkSplitter(native=False)
    for t in docs:
        assert native.word_tokenize(t) == python.word_tokenize(t), t[:80]
    assert native._table is not None and python._table is None
    # the Python index mirrors the C word table: ids name the same words
    ids = native.word_ids(docs[0])
    assert [native.index.words[i] for i in ids] == python.word_tokenize(docs[0])
    # trimming empties both sides together
    native.max_chunks = 0
    native.trim()
    assert len(native._table) == 0 == len(native.index.words)
    assert native.word_tokenize(docs[1]) == python.word_tokenize(docs[1])


def test_ngram_stats_equal_numpy_word_batch(lib):
    cfg = load_stage_config(get_stage("clean"))
    rules = cfg.quality.en
    docs = list(english_docs()[:150])
    docs += ["\n".join([docs[0].split("\n")[0]] * 30), docs[1] * 3, "one two", "a a a a a a a a a a a a"]
    sp = SpacyChunkSplitter(rules.stop_words)
    ids = [sp.word_ids(t) for t in docs]
    numpy_batch, native_batch = WordBatch(ids, sp.index), WordBatch(ids, sp.index)
    top, dup = [2, 3, 4], [5, 6, 7, 8, 9, 10]
    assert native_batch.precompute(top, dup)
    for n in top:
        ok = numpy_batch.n_words >= n
        assert np.array_equal(native_batch.top_ngram_chars(n)[ok], numpy_batch.top_ngram_chars(n)[ok]), n
    for n in dup:
        for i in range(len(docs)):
            if numpy_batch.n_words[i] >= n:
                assert native_batch.dup_ngram_chars(n, i) == numpy_batch.dup_ngram_chars(n, i), (n, i)
    stats = ngram_stats(lib, native_batch.ids, native_batch.cum, native_batch.bounds, [10, 2], [1, 0])
    assert stats[-2, 0] == -1 and stats[-2, 1] == 7  # "one two": too short for 10-grams; "one two" once
    # twelve "a": the top 2-gram "a a" (3 characters) occurs 11 times; the greedy 10-gram scan meets
    # the first repeat at word 1 and counts its 10 characters once, then runs out of words
    assert stats[-1].tolist() == [10, 33]
    assert prose_reasons(docs, ids, sp.index, rules) == prose_reasons(docs, ids, sp.index, rules, native=False)


def test_line_stats_native_equals_definition(lib):
    from clean_fixtures import chinese_docs
    from symboliclight.pipeline.stages.line_stats import line_stats, line_stats_batch

    texts = list(english_docs()[:300]) + list(chinese_docs()[:200]) + list(code_docs())
    texts += ["", "\n", "a\n", "\n\na\n\n\nb\n", " \u3000 ", "x...y....z…", "a\n\n  \n\nb", "  lead\n\n\ntrail  \n",
              "# h\n#\n...", "same\nsame\n\nsame\n\nsame", "短句。\n短句。\n长一点的句子，没有终止"]
    rng = random.Random(2)
    alphabet = ["a", "b", "\n", "\n", " ", "\u3000", "。", ".", "…", "#", "中", "\t", "!", "\u2028", "\u00a0", "é",
                "\r", "\x0b", "\x1c", "\x1f", "\x85", "\u2029", "•", "-", "..."]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for short in (0, 5, 30):
        assert line_stats_batch(texts, short) == [line_stats(t, short) for t in texts]
    s = line_stats("same\nsame\n\nsame\n\nsame")
    assert (s.paragraphs, s.para_dup, s.para_dup_chars, s.lines, s.line_dup, s.line_dup_chars) == (3, 1, 4, 4, 3, 12)
