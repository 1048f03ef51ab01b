"""The bilingual BPE tokenizer on real small data: exactness, layout, determinism, report, CLI."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from symboliclight.dags.cli import main as cli_main
from symboliclight.pipeline.artifacts import read_artifact, resolve
from symboliclight.pipeline.documents import Document
from symboliclight.pipeline.errors import UserError
from symboliclight.tokenizer.config import REFERENCE_SPECIALS, TokenizerConfig, load_config
from symboliclight.tokenizer.fast_encode import TiktokenEncoder
from symboliclight.tokenizer.load import BilingualTokenizer, load_tokenizer
from symboliclight.tokenizer.reference import reference_path
from symboliclight.tokenizer.sampling import draw_sample
from symboliclight.tokenizer.splits import corpus_split, heldout_sample
from symboliclight.tokenizer.train import train, train_on_texts
from tokenizer_fixtures import small_corpus, write_corpus

REFERENCE = reference_path(load_config(None).report.reference_model)
VOCAB = 4000

TRICKY = [
    "NUL\x00byte and \x00\x00 twice",
    "emoji 😀👍🏽 👨‍👩‍👧 🇨🇳 flags",
    "CJK extension B/C: 𠀀 𪛖 𫝀, ext A 㐀, compatibility 豈",
    "mixed 中文English混合 русский ελληνικά العربية עברית हिन्दी 한국어 日本語かな",
    "full-width ＡＢＣ１２３，。！？「」 and half-width ｶﾀｶﾅ",
    "whitespace\t\ttabs\r\nCRLF\n\n\n    indent\u3000ideographic space\u00a0nbsp  ",
    "combining: e\u0301 a\u0308 n\u0303 ZWJ\u200d ZWNJ\u200c BOM\ufeff",
    "digits 3.14159 ２０２６ ١٢٣ and 00000000000000000000",
    "special strings as text: <s> </s> <pad> <unk> <|user|> <|endofassistant|> <0x41>",
    "code:\n\tdef f(x):\n\t    return {'k': x ** 2}  # 注释\n",
    "",
    " ",
    "\U0010fffd private plane, \ue000 PUA, \ufffd replacement",
]


def _config(**kw) -> TokenizerConfig:
    cfg = load_config(None, [f"vocab_size={VOCAB}", "character_coverage=0.995", "sample.total_mb=1.0", "report.throughput_repeats=1",
                             "report.fertility_max_mb=0.1", "heldout.max_mb=0.5",
                             "heldout.fraction=0.2"])
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return small_corpus(tmp_path_factory.mktemp("tokcorpus"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("tokwork")
    art = train(str(corpus), _config(), workdir=work)
    return work, art


@pytest.fixture(scope="module")
def tok(trained) -> BilingualTokenizer:
    return load_tokenizer("latest", trained[0])


def test_special_token_layout(tok, trained):
    for i, name in enumerate(REFERENCE_SPECIALS):
        assert tok.tokenizer.token_to_id(name) == i
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    # the 256 byte units follow the specials (ids 20-275), as in the reference
    assert sorted(tok.byte_ids) == list(range(len(REFERENCE_SPECIALS), len(REFERENCE_SPECIALS) + 256))
    assert [tok.token_bytes[i] for i in tok.byte_ids] == [bytes([b]) for b in range(256)]
    assert tok.vocab_size == VOCAB
    assert trained[1].manifest["special_ids"]["<|assistant|>"] == 18


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky_text(tok, text):
    ids = tok.encode(text)
    assert tok.unk_id not in ids
    assert tok.decode(ids) == text
    assert tok.tokenizer.decode(ids, skip_special_tokens=False) == text  # the HF decoder agrees
    assert not set(ids) & set(range(len(REFERENCE_SPECIALS)))  # specials in text stay text


def test_lone_surrogates_round_trip(tok):
    text = "before \ud800 middle \udfff\ud83d after"  # lone halves: UTF-8 cannot hold them
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.encode_batch(["ok", text, "中文"])[1] == ids  # a batch with one still encodes


def _random_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    planes = [(0x0, 0x7E), (0x80, 0x2FF), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF),
              (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF)]
    texts = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 60)):
            lo, hi = rng.choice(planes)
            chars.append(chr(rng.randint(lo, hi)))
        texts.append("".join(chars))
    return texts


def test_random_unicode_never_unk_and_exact(tok):
    texts = _random_texts(200)
    batch = tok.encode_batch(texts)
    assert all(tok.unk_id not in ids for ids in batch)
    assert tok.decode_batch(batch) == texts


def test_byte_fallback_model_round_trips_too(corpus):
    split = corpus_split(read_artifact(corpus), 0.05)
    texts = [d.text for _, d in zip(range(300), split.train_documents(), strict=False)]
    cfg = _config(model="byte_fallback", vocab_size=3000, character_coverage=0.99)
    wrapped = BilingualTokenizer(train_on_texts(texts, cfg))
    assert [wrapped.tokenizer.id_to_token(i) for i in wrapped.byte_ids] == [f"<0x{b:02X}>" for b in range(256)]
    assert wrapped.byte_ids == list(range(20, 276))
    for text in TRICKY + ["a \ud800 b"]:
        ids = wrapped.encode(text)
        assert wrapped.decode(ids) == text and wrapped.unk_id not in ids
        if "\ud800" not in text:
            assert wrapped.tokenizer.decode(ids, skip_special_tokens=False) == text
    assert TiktokenEncoder.from_tokenizer(wrapped.tokenizer) is None  # not a model tiktoken runs


def test_byte_level_tiktoken_engine_matches(corpus):
    split = corpus_split(read_artifact(corpus), 0.05)
    texts = [d.text for _, d in zip(range(300), split.train_documents(), strict=False)]
    cfg = _config(model="byte_level", vocab_size=600)
    hf = train_on_texts(texts, cfg)
    wrapped = BilingualTokenizer(hf)
    for text in TRICKY + ["a \ud800 b"]:
        assert wrapped.decode(wrapped.encode(text)) == text
    # the tiktoken engine gives exactly the ids `tokenizers` gives, and keeps exactness
    pytest.importorskip("tiktoken")
    wrapped.fast = TiktokenEncoder.from_tokenizer(hf)
    assert wrapped.fast is not None
    probe = TRICKY + _random_texts(100) + [d.text for _, d in zip(range(200), split.heldout_documents(), strict=False)]
    assert wrapped.encode_batch(probe) == wrapped.encode_batch(probe, engine="hf")
    assert wrapped.encode("a \ud800 b") == wrapped.encode_batch(["a \ud800 b"], engine="hf")[0]
    assert wrapped.decode(wrapped.encode("a \ud800 b")) == "a \ud800 b"


def test_training_is_deterministic(corpus, trained, tmp_path):
    again = train(str(corpus), _config(), workdir=tmp_path, out=tmp_path / "again", with_report=False)
    first = (trained[1].path / "tokenizer.json").read_bytes()
    second = (again.path / "tokenizer.json").read_bytes()
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert again.version == trained[1].version
    # a different seed draws a different sample, hence a different version
    other = _config(seed=1)
    split = corpus_split(read_artifact(corpus), other.heldout.fraction)
    assert draw_sample(split, other.sample, 1).times != draw_sample(split, other.sample, 0).times


def test_rerun_is_noop(corpus, trained):
    art = train(str(corpus), _config(), workdir=trained[0])
    assert art.manifest["created"] == trained[1].manifest["created"]


def test_sample_weights_languages(corpus):
    cfg = _config()
    cfg.sample.lang_weights = {"zh": 0.7, "en": 0.3}
    cfg.sample.total_mb = 0.1
    cfg.sample.max_repeat = 50.0
    split = corpus_split(read_artifact(corpus), 0.05)
    s = draw_sample(split, cfg.sample, 0)
    per = s.stats["per_lang"]
    assert set(per) == {"zh", "en"}
    for lang, w in (("zh", 0.7), ("en", 0.3)):  # each language reaches its weight's byte budget
        assert per[lang]["sampled_bytes"] >= w * 0.1e6 and per[lang]["target_bytes"] == int(w * 0.1e6)
    assert abs(per["zh"]["share"] - 0.7) < 0.05
    cfg.sample.max_repeat = 1.0  # no repeats: a language is capped at what the corpus holds
    capped = draw_sample(split, cfg.sample, 0).stats["per_lang"]
    assert all(v["sampled_bytes"] <= v["available_bytes"] for v in capped.values())
    heldout_ids = {d.id for d in split.heldout_documents()}
    assert heldout_ids and not heldout_ids & set(s.times)  # never trains on held-out text


def test_report_numbers_are_consistent(tok, trained, corpus):
    report = json.loads((trained[1].path / "report.json").read_text())
    cfg = _config()
    docs = heldout_sample(corpus_split(read_artifact(corpus), cfg.heldout.fraction), cfg.heldout.max_mb)
    assert report["heldout"]["documents"] == len(docs) > 0
    by_lang: dict[str, list[int]] = {}
    for d in docs:
        n_tokens = len(tok.encode(d.text))
        acc = by_lang.setdefault(d.metadata["lang"], [0, 0, 0])
        acc[0] += len(d.text)
        acc[1] += len(d.text.encode("utf-8"))
        acc[2] += n_tokens
    for lang, (chars, nbytes, tokens) in by_lang.items():
        row = report["compression"]["per_lang"][lang]
        assert (row["characters"], row["bytes"], row["tokens"]) == (chars, nbytes, tokens)
        assert row["chars_per_token"] == pytest.approx(chars / tokens, abs=1e-4)
    total = report["compression"]["total"]
    assert total["tokens"] == sum(v[2] for v in by_lang.values())
    assert total["round_trip_rate"] == 1.0 and total["unk_tokens"] == 0
    assert sum(v["tokens"] for v in report["vocab_composition"].values()) == tok.vocab_size
    assert report["vocab_composition"]["special"]["tokens"] == len(REFERENCE_SPECIALS)
    assert report["vocab_composition"]["bytes"]["tokens"] == 256
    assert report["encode_throughput"]["mb_per_s"] > 0
    if REFERENCE.is_file():
        ref = report["reference"]["compression"]["per_lang"]
        assert ref["zh"]["tokens"] > 0
        assert set(report["comparison"]["chars_per_token"]) == {"zh", "en"} & set(report["compression"]["per_lang"])


def test_artifact_uses_verified_fast_engine(trained, tok):
    pytest.importorskip("tiktoken")
    fast = trained[1].manifest["fast_encoder"]
    assert fast["agrees"] and fast["documents_checked"] == fast["documents_identical"] > 5
    assert tok.fast is not None
    texts = TRICKY + _random_texts(50, seed=3)
    assert tok.encode_batch(texts) == tok.encode_batch(texts, engine="hf")


def test_load_by_version_latest_and_path(trained):
    work, art = trained
    for ref in (art.version, "latest", str(art.path)):
        t = load_tokenizer(ref, work)
        assert t.version == art.version and t.vocab_size == VOCAB
    with pytest.raises(UserError):
        load_tokenizer("nope", work)


def test_config_errors():
    with pytest.raises(UserError, match="unknown key"):
        load_config(None, ["vocab_sise=10"])
    with pytest.raises(UserError, match="byte alphabet plus special tokens"):
        load_config(None, [], vocab_size=200)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_and_report(corpus, tmp_path, capsys):
    code, out, err = _cli(capsys, "tokenizer", "train", "--corpus", str(corpus), "--vocab-size", str(VOCAB),
                          "--workdir", str(tmp_path), "--set", "sample.total_mb=1.0", "--set", "character_coverage=0.995", "--set", "report.throughput_repeats=1",
                          "--set", "heldout.max_mb=0.3", "--set", "report.fertility_max_mb=0.1", "--set", "heldout.fraction=0.2",
                          "--reference", "")
    assert code == 0, err
    assert "round-trip" in out and "100.00%" in out
    code, out, err = _cli(capsys, "tokenizer", "report", "--tokenizer", "latest", "--corpus", str(corpus),
                          "--workdir", str(tmp_path), "--json", "--reference", "")
    assert code == 0, err
    report = json.loads(out)
    assert report["compression"]["total"]["round_trip_rate"] == 1.0
    assert report["tokenizer"] == resolve("latest", "tokenizer", tmp_path).version


def test_cli_errors_are_one_line(corpus, tmp_path, capsys):
    empty = write_corpus(tmp_path / "empty", [Document("x", "", {"domain": "news", "lang": "zh", "source": "t"})], "empty")
    cases = [
        ("tokenizer", "train", "--corpus", str(empty), "--workdir", str(tmp_path)),
        ("tokenizer", "train", "--corpus", "0123456789ab", "--workdir", str(tmp_path)),
        ("tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "100", "--workdir", str(tmp_path)),
        ("tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "400", "--workdir", str(tmp_path),
         "--set", "sample.total_mb=0.3", "--set", "model=byte_fallback"),  # above bytes + specials, below the character alphabet
        ("tokenizer", "report", "--tokenizer", "missing", "--corpus", str(corpus), "--workdir", str(tmp_path)),
    ]
    for argv in cases:
        code, _, err = _cli(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "empty corpus" in _cli(capsys, *cases[0])[2]
    assert "alphabet plus special tokens" in _cli(capsys, *cases[3])[2]


def test_transformers_loads_artifact(trained):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast.from_pretrained(str(trained[1].path))
    assert (fast.pad_token_id, fast.bos_token_id, fast.eos_token_id, fast.unk_token_id) == (0, 1, 2, 3)
    text = "中文 English 123 😀"
    ids = fast.encode(text, add_special_tokens=False)
    assert fast.decode(ids) == text


def test_tokenizer_version_ignores_encoding_speed_settings():
    """Encoding batch size and threads never change the trained tokenizer: same version; a real
    setting (the vocabulary size) gives a new one."""
    from dataclasses import replace

    from symboliclight.tokenizer.train import tokenizer_version

    cfg = load_config()
    base = tokenizer_version(cfg, "0123456789ab")
    assert tokenizer_version(replace(cfg, encode_batch_size=7, encode_threads=1), "0123456789ab") == base
    assert tokenizer_version(replace(cfg, vocab_size=cfg.vocab_size + 8), "0123456789ab") != base
    assert tokenizer_version(cfg, "ba9876543210") != base
