"""Clean stage parts on real text: word-split agreement, keep/drop agreement with datatrove's stock
filters, Chinese thresholds, language ID accuracy, Unicode normalisation."""

from __future__ import annotations

import pytest
from clean_fixtures import chinese_docs, code_docs, english_docs
from datatrove.data import Document as DTDocument
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.utils.word_tokenizers import load_word_tokenizer
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.clean import CleanBlock
from symboliclight.pipeline.stages.langid import LanguageIdentifier
from symboliclight.pipeline.stages.normalize import NormalizeConfig, normalize
from symboliclight.pipeline.stages.quality import ProseRules, prose_reason, stock_filters
from symboliclight.pipeline.stages.runner import load_stage_config
from symboliclight.pipeline.stages.words import JiebaSplitter, SpacyChunkSplitter

N_EN = 250
N_ZH = 120


@pytest.fixture(scope="module")
def cfg():
    return load_stage_config(get_stage("clean"))


def _stock_reason(filters, text: str) -> str | None:
    doc = DTDocument(text=text, id="x")
    for f in filters:
        res = f.filter(doc)
        if res is not True:
            return res[1] if isinstance(res, tuple) else "dropped"
    return None


def test_english_word_split_matches_datatrove_spacy():
    docs = english_docs()[:N_EN]
    stock = load_word_tokenizer("eng")
    ours = SpacyChunkSplitter()
    same = sum(stock.word_tokenize(t) == ours.word_tokenize(t) for t in docs)
    assert same / len(docs) >= 0.99, f"{same}/{len(docs)} identical token lists"


def test_chinese_word_split_matches_datatrove_cmn():
    docs = chinese_docs()[:N_ZH]
    stock = load_word_tokenizer("cmn")
    ours = JiebaSplitter()
    same = sum(stock.word_tokenize(t) == ours.word_tokenize(t) for t in docs)
    assert same / len(docs) >= 0.99, f"{same}/{len(docs)} identical token lists"


def test_english_keep_drop_matches_stock_filters(cfg):
    docs = english_docs()[:N_EN]
    stock = [GopherRepetitionFilter(), GopherQualityFilter(), FineWebQualityFilter()]
    rules: ProseRules = cfg.quality.en
    sp = SpacyChunkSplitter(rules.stop_words)
    ref = [_stock_reason(stock, t) for t in docs]
    got = [prose_reason(t, sp.word_ids(t), sp.index, rules) for t in docs]
    keep_agree = sum((a is None) == (b is None) for a, b in zip(ref, got, strict=True)) / len(docs)
    assert keep_agree >= 0.99
    assert sum(a == b for a, b in zip(ref, got, strict=True)) / len(docs) >= 0.99  # same reason too
    # the sample is not trivially all-kept or all-dropped
    assert 0 < sum(r is None for r in ref) < len(docs)


def test_chinese_thresholds_match_stock_filters_with_cmn_words(cfg):
    """Our zh rules (FineWeb-2 cmn_Hani seeds) decide like datatrove's filters given the same thresholds."""
    docs = list(chinese_docs()[:N_ZH])
    # documents that must fail: one line repeated, and a word list without stop words
    docs.append("\n".join([docs[0].split("\n")[0]] * 30))
    docs.append("\n".join("数据 管道 测试 文本 样本" for _ in range(20)))
    z: ProseRules = cfg.quality.zh
    stock = stock_filters(z, "cmn")
    sp = JiebaSplitter(z.stop_words)
    ref = [_stock_reason(stock, t) for t in docs]
    got = [prose_reason(t, sp.word_ids(t), sp.index, z) for t in docs]
    assert sum(a == b for a, b in zip(ref, got, strict=True)) / len(docs) >= 0.99
    kept = sum(x is None for x in got[:-2])
    assert kept / (len(docs) - 2) >= 0.6, "People's Daily prose should mostly pass the Chinese rules"
    assert got[-2] is not None and got[-1] is not None
    # English rules would wrongly drop Chinese prose: the per-language thresholds matter
    en = SpacyChunkSplitter(cfg.quality.en.stop_words)
    assert sum(prose_reason(t, en.word_ids(t), en.index, cfg.quality.en) is None for t in docs[:-2]) < kept / 4


def _labelled_sample() -> list[tuple[str, str, str, str]]:
    """(text, domain, source_lang, true lang) from real text.

    Mixed = a Chinese passage and a longer English one in one document (both scripts substantial:
    our definition of mixed is a Han share of letters between 3% and 50%)."""
    en, zh, code = english_docs(), chinese_docs(), code_docs()
    out = [(t, "tech-en", "en", "en") for t in en[:150]]
    out += [(t, "news", "zh", "zh") for t in zh[:150]]
    out += [(zh[i][:200] + "\n\n" + en[i][:700], "translation", "mixed", "mixed") for i in range(60)]
    out += [(t, "code", "code", "code") for t in code]
    # code without the domain label: the line-shape heuristic has to find it
    out += [(t, "tech-en", "en", "code") for t in code]
    return out


def test_language_id_accuracy(cfg, capsys):
    lid = LanguageIdentifier(cfg.lid)
    sample = _labelled_sample()
    per: dict[str, list[int]] = {}
    for text, domain, src, truth in sample:
        got = lid.identify(text, domain, src).lang
        per.setdefault(truth, [0, 0])
        per[truth][0] += got == truth
        per[truth][1] += 1
    acc = sum(a for a, _ in per.values()) / sum(n for _, n in per.values())
    with capsys.disabled():
        print(f"\nLID accuracy {acc:.3f} on {len(sample)} docs: " +
              ", ".join(f"{k} {a}/{n}" for k, (a, n) in sorted(per.items())))
    assert acc >= 0.95
    assert all(a / n >= 0.85 for a, n in per.values())
    # a confidently non-English Latin text is dropped, not called English
    fr = ("Le traitement des données est une étape essentielle. Nous avons nettoyé le corpus, puis nous "
          "avons retiré les doublons avant l'entraînement du modèle de langue.")
    assert lid.identify(fr, "tech-en", "en").reason == "lang_other"


def test_normalize_keeps_fullwidth_and_records_fixes():
    text = "中文，标点：（保留）\r\nCafe\u0301\u00a0menu\u200b\x07 done  \n"
    out, fixes = normalize(text, NormalizeConfig())
    assert "，" in out and "：" in out and "（" in out  # never NFKC-folded
    assert "Café menu done" in out and "\r" not in out and "\x07" not in out
    assert set(fixes) >= {"newlines", "nfc", "controls", "odd_spaces", "zero_width", "trailing_spaces"}
    # mojibake (UTF-8 read as Windows-1252) is repaired
    broken = "The café’s menu".encode().decode("windows-1252")
    fixed, f2 = normalize(broken, NormalizeConfig())
    assert fixed == "The café’s menu" and "mojibake" in f2
    clean, f3 = normalize("already clean text", NormalizeConfig())
    assert clean == "already clean text" and f3 == []


def test_clean_block_routes_domains(cfg):
    block = CleanBlock(cfg)
    code = code_docs()[0]
    lang, reason, _ = block.decide(code, "code", "code")
    assert lang == "code" and reason is None  # code is not judged by prose rules
    lang, reason, _ = block.decide("打开文件 Open file\n保存 Save", "translation", "mixed")
    assert reason is None
    lang, reason, _ = block.decide("Open file\nSave", "translation", "mixed")
    assert reason == "translation_no_han"


def test_math_problems_keep_their_own_rules(cfg):
    """Arithmetic word problems are mostly numbers and symbols: the default prose rules would drop
    every one as `gopher_below_alpha_threshold`; the math rule sets keep them."""
    from symboliclight.pipeline.sources.synthetic_math import problem_set
    from symboliclight.pipeline.stages.quality import prose_reason

    block = CleanBlock(cfg)
    sets = [problem_set(0, i, 6) for i in range(20)]
    verdicts = [block.decide(zh, "math", "zh") for zh, _ in sets] + [block.decide(en, "math", "en") for _, en in sets]
    kept = sum(1 for _, reason, _ in verdicts if reason is None)
    assert kept >= 0.9 * len(verdicts)
    # the same English text under the plain English rules is dropped for its numbers
    en = sets[0][1]
    splitter = block.splitter("en", cfg.quality.en)
    assert prose_reason(en, splitter.word_ids(en), splitter.index, cfg.quality.en) == "gopher_below_alpha_threshold"


STRUCTURED_EN = "\n".join([
    "lamp (n.) [OE. lampe.] A device that gives light; e.g., an oil lamp, a gas lamp (see also: lantern).",
    "  Syn. -- light; lantern; torch. [1913 Webster]",
    "lantern (n.) A case, often of metal (with glass sides), that protects a flame from the wind.",
    "  Usage: \"a lantern on a pole\"; \"dark lantern\". [WordNet 3.0]",
    "ledger (n.) [Cf. D. legger.] (Com.) The principal book of accounts; cf. journal (2).",
    "  Syn. -- account book; register. [1913 Webster]",
    "lever (n.) A rigid bar, used to move a load about a fixed point (the fulcrum); see: crowbar.",
    "  Usage: \"use the lever\"; \"pull the lever (gently)\". [WordNet 3.0]",
])


def test_structured_domains_get_rules_that_fit_them(cfg):
    """Dictionary entries fail the web rules (punctuation tokens count as non-alphabetic words) but are
    kept in a structured domain; the same text in a domain without its own rules is still judged by
    the published English defaults."""
    block = CleanBlock(cfg)
    _, web_reason, _ = block.decide(STRUCTURED_EN, "news", "en")
    _, ref_reason, _ = block.decide(STRUCTURED_EN, "reference", "en")
    assert web_reason is not None and ref_reason is None
    assert cfg.quality.rule_set("reference", "en") == "structured_en"
    assert cfg.quality.rule_set("reference", "mixed") == "mixed"  # no structured_mixed: the language's rules
    # repetition still counts in a structured domain
    _, rep_reason, _ = block.decide("\n".join([STRUCTURED_EN] * 4), "reference", "en")
    assert rep_reason is not None
