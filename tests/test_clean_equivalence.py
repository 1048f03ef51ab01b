"""The clean stage's fast paths give exactly what the slow definitions give, on real text.

Each fast path (spaCy rules from the cache file, affix/infix character screens, jieba-rs for plain
and punctuated blocks, the mojibake gate, numpy script counts, the line-shape counters, batched
prose rules) is checked against the definition it replaces; a mismatch anywhere fails.
"""

from __future__ import annotations

import re

import jieba
import pytest
from clean_fixtures import chinese_docs, code_docs, english_docs
from ftfy.badness import is_bad
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.clean import CleanBlock
from symboliclight.pipeline.stages.langid import _CODE_LINE, is_code_line, looks_like_code, script_counts
from symboliclight.pipeline.stages.line_stats import line_stats_batch
from symboliclight.pipeline.stages.normalize import badness_gate
from symboliclight.pipeline.stages.quality import prose_reason, prose_reasons
from symboliclight.pipeline.stages.runner import load_stage_config
from symboliclight.pipeline.stages.words import (
    JiebaSplitter,
    SpacyChunkSplitter,
    SpacyEnglishRules,
    load_spacy_rules_data,
    spacy_rules_data,
)

EDGE = ["", "\n", "a\n", "- a\n  • b\n...\nx …  \n", "\u3000- x", "a...\n\n", "\n\n- \n", "x\u2028- y", " \t-\n",
        "x = 1\n\n  \ny = 2", "x\n= 5", "if a:\n  \n", "a;  ", "{", " }  ", "(word)", "x:)", "U.S.", "don't",
        "http://example.com/a.b,", "$5", "US$5", "..word..", "…", "'s", "C++", "a-b-c", "10km.", "«quote»"]


@pytest.fixture(scope="module")
def cfg():
    return load_stage_config(get_stage("clean"))


@pytest.fixture(scope="module")
def chunks() -> list[str]:
    out = sorted({c for t in english_docs()[:400] + code_docs() for c in t.split()})
    return out + [c for t in EDGE for c in t.split()]


def test_cached_spacy_rules_equal_live_spacy_rules(chunks):
    live = SpacyEnglishRules(data=spacy_rules_data("en"))
    cached = SpacyEnglishRules(data=load_spacy_rules_data("en"))
    assert load_spacy_rules_data("en") == spacy_rules_data("en")
    assert [cached.split(c) for c in chunks] == [live.split(c) for c in chunks]


def test_affix_and_infix_screens_equal_the_regexes(chunks):
    r = SpacyEnglishRules()
    assert r._prefix.table and r._suffix.table and r._infix.starts  # the screens are active

    def span(m):
        return m.end() - m.start() if m is not None else 0

    strings = chunks + [c[1:] for c in chunks] + [c[:-1] for c in chunks]
    assert [r._prefix.length(s) for s in strings] == [span(r.prefix_search(s)) for s in strings]
    assert [r._suffix.length(s) for s in strings] == [span(r.suffix_search(s)) for s in strings]
    assert [[m.span() for m in r._infix.matches(s)] for s in strings] == \
           [[m.span() for m in r.infix_finditer(s)] for s in strings]


def test_spacy_split_agrees_on_code_and_edge_cases():
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    stock = load_word_tokenizer("eng")
    ours = SpacyChunkSplitter()
    for text in list(code_docs()) + EDGE:
        assert ours.word_tokenize(text) == stock.word_tokenize(text), text[:80]


def test_jieba_rust_path_equals_jieba():
    hybrid, plain = JiebaSplitter(), JiebaSplitter(rust=False)
    extra = ["用apt-get安装软件包，版本2.2.1.发布", "C++编程和C#语言", "AT&T公司与AT&T恤", "增长3.5%以上",
             "MALLOC_CHECK_变量", "卡拉OK厅里有T恤衫", "sources.list文件"]
    for text in list(chinese_docs()[:150]) + extra:
        assert hybrid.words(text) == plain.words(text), text[:60]
    # the rebuilt blocks use jieba's own HMM, never its 0.5 s dictionary load
    assert hybrid._lcut is None


def test_badness_gate_equals_ftfy():
    gate = badness_gate()
    assert gate.alternatives, "the gate read ftfy's regex"
    broken = ["The café’s menu".encode().decode("windows-1252"), "Ã© is bad", "â€œquoteâ€\x9d", "Ãƒâ€šÃ‚Â£"]
    texts = [t for t in list(english_docs()[:300]) + list(chinese_docs()[:300]) if not t.isascii()] + broken
    assert [gate(t) for t in texts] == [is_bad(t) for t in texts]
    assert all(gate(t) for t in broken)


def test_script_counts_and_code_shapes_equal_per_line_definitions():
    han = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
    latin = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
    kana = re.compile(r"[\u3040-\u30ff]")
    texts = list(english_docs()[:200]) + list(chinese_docs()[:200]) + list(code_docs()) + EDGE + ["日本語のテキスト𠀀 ãé"]
    for t in texts:
        assert script_counts(t) == (len(han.findall(t)), len(latin.findall(t)), len(kana.findall(t)))
        lines = [ln for ln in t.split("\n") if ln.strip()]
        assert [is_code_line(ln) for ln in t.split("\n")] == [_CODE_LINE.match(ln) is not None for ln in t.split("\n")]
        for share in (0.0, 0.3, 0.6, 1.0):
            ref = (sum(1 for ln in lines if _CODE_LINE.match(ln)) / len(lines) if lines else 0.0) >= share
            assert looks_like_code(t, share) == ref


def test_line_marks_equal_splitlines():
    texts = list(english_docs()[:300]) + list(chinese_docs()[:100]) + EDGE
    texts += ["a\rb\r\nc\x0bd\x0ce\x1cf\x85g\u2028h\u2029i", " • x\r - y ...\x1e… \x1f", "\r\n", "x\n\n"]
    for t, ls in zip(texts, line_stats_batch(texts), strict=True):
        lines = t.splitlines()
        assert (ls.split_lines, ls.bullet_lines, ls.ellipsis_lines) == (
            len(lines), sum(1 for s in lines if s.lstrip().startswith(("•", "-"))),
            sum(1 for s in lines if s.rstrip().endswith(("...", "…")))), repr(t[:80])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_batched_prose_rules_equal_one_document_at_a_time(cfg, lang):
    rules = getattr(cfg.quality, lang)
    docs = list(english_docs()[:200] if lang == "en" else chinese_docs()[:200])
    docs += ["\n".join([docs[0].split("\n")[0]] * 30), docs[1] * 3]  # heavy repeats
    sp = SpacyChunkSplitter(rules.stop_words) if lang == "en" else JiebaSplitter(rules.stop_words)
    ids = [sp.word_ids(t) for t in docs]
    one = [prose_reason(t, i, sp.index, rules) for t, i in zip(docs, ids, strict=True)]
    for size in (7, 64, len(docs)):
        batched = []
        for k in range(0, len(docs), size):
            batched += prose_reasons(docs[k:k + size], ids[k:k + size], sp.index, rules)
        assert batched == one
    assert len(set(one)) > 2  # the sample exercises several rules


def test_clean_block_output_does_not_depend_on_batch_size(cfg):
    from dataclasses import replace

    from datatrove.data import Document as DTDocument

    texts = [(t, "tech-en", "en") for t in english_docs()[:80]] + [(t, "news", "zh") for t in chinese_docs()[:80]]
    texts += [(t, "code", "code") for t in code_docs()[:3]] + [("打开文件 Open file\n保存 Save", "translation", "mixed")]

    def run(batch_docs: int):
        block = CleanBlock(replace(cfg, batch_docs=batch_docs))
        docs = [DTDocument(text=t, id=str(i), metadata={"domain": d, "lang": lang}) for i, (t, d, lang) in enumerate(texts)]
        return [(d.id, d.text, d.metadata) for d in block.run(iter(docs))]

    assert run(1) == run(16) == run(1000)


def test_jieba_dictionary_has_no_pure_ascii_words():
    """The rebuilt punctuated blocks rely on it (a glued ASCII token is single characters)."""
    jieba.initialize()
    assert not [w for w, f in jieba.dt.FREQ.items() if f and w.isascii() and w.isalnum()]
