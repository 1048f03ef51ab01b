"""The tokenizer report: compression, fertility, vocabulary, exactness and speed on held-out text,
side by side with a reference SentencePiece tokenizer on the very same documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import Artifact, atomic_write_text, resolve
from symboliclight.pipeline.documents import Document
from symboliclight.pipeline.typed_config import from_dict

from .config import TokenizerConfig
from .load import BilingualTokenizer, from_artifact
from .metrics import (
    compression,
    fertility,
    sentencepiece_composition,
    throughput,
    vocab_composition,
    words_en,
    words_zh,
)
from .reference import SentencePieceTokenizer, reference_path
from .splits import CorpusSplit, corpus_split, heldout_sample

LANGS_COMPARED = ("zh", "en")


def _groups(docs: list[Document]) -> list[dict[str, str]]:
    return [{"lang": d.metadata.get("lang", "?"), "domain": d.metadata.get("domain", "?")} for d in docs]


def _fertility(docs: list[Document], ids: list[list[int]], max_mb: float) -> dict[str, Any]:
    out = {}
    for lang, counter in (("zh", words_zh), ("en", words_en)):
        sel = [(d.text, i) for d, i in zip(docs, ids, strict=True) if d.metadata.get("lang") == lang]
        if sel:
            texts, tok_ids = zip(*sel, strict=True)
            out[lang] = fertility(texts, tok_ids, counter, max_mb * 1e6)
    return out


def score_reference(ref: SentencePieceTokenizer, docs: list[Document], cfg: TokenizerConfig) -> dict[str, Any]:
    texts = [d.text for d in docs]
    ids = ref.encode_batch(texts)
    decoded = ref.decode_batch(ids)
    return {
        "model": str(ref.path),
        "vocab_size": ref.vocab_size,
        "compression": compression(texts, _groups(docs), ids, decoded, ref.unk_id),
        "fertility": _fertility(docs, ids, cfg.report.fertility_max_mb),
        "vocab_composition": sentencepiece_composition(ref.pieces()),
        "encode_throughput": {**throughput(ref.encode_batch, texts, cfg.report.throughput_repeats), "threads": ref.threads},
    }


def build_report(tok: BilingualTokenizer, split: CorpusSplit, cfg: TokenizerConfig, corpus_version: str,
                 reference: str | None = None) -> dict[str, Any]:
    docs = heldout_sample(split, cfg.heldout.max_mb)
    texts = [d.text for d in docs]
    ids = tok.encode_batch(texts)
    decoded = tok.tokenizer.decode_batch(ids, skip_special_tokens=False)
    report: dict[str, Any] = {
        "tokenizer": tok.version,
        "corpus": corpus_version,
        "vocab_size": tok.vocab_size,
        "special_ids": tok.special_ids,
        "heldout": {**split.describe(), "documents": len(docs), "max_mb": cfg.heldout.max_mb},
        "compression": compression(texts, _groups(docs), ids, decoded, tok.unk_id),
        "fertility": _fertility(docs, ids, cfg.report.fertility_max_mb),
        "vocab_composition": vocab_composition(tok.token_bytes, set(tok.special_ids.values()), set(tok.byte_ids)),
        "encode_throughput": {**throughput(tok.encode_batch, texts, cfg.report.throughput_repeats),
                              "engine": "tiktoken" if tok.fast else "tokenizers encode_batch_fast",
                              "batch_size": tok.batch_size},
    }
    if tok.fast is not None:
        hf_rate = throughput(lambda t: tok.encode_batch(t, engine="hf"), texts, cfg.report.throughput_repeats)
        report["encode_throughput_tokenizers"] = {**hf_rate, "engine": "tokenizers encode_batch_fast"}
    ref_path = reference_path(reference if reference is not None else cfg.report.reference_model)
    if ref_path and ref_path.is_file() and docs:
        ref = score_reference(SentencePieceTokenizer(ref_path), docs, cfg)
        report["reference"] = ref
        report["comparison"] = compare(report["compression"], ref["compression"])
        report["comparison"]["encode_mb_per_s"] = {"ours": report["encode_throughput"]["mb_per_s"],
                                                   "reference": ref["encode_throughput"]["mb_per_s"]}
    elif ref_path:
        report["reference"] = {"model": str(ref_path), "skipped": "model file not found or no held-out text"}
    return report


def compare(ours: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """chars/token per language for both, and whether ours is at least as good on each language."""
    rows = {}
    for lang in LANGS_COMPARED:
        a, b = ours.get("per_lang", {}).get(lang), ref.get("per_lang", {}).get(lang)
        if a and b:
            rows[lang] = {"ours": a["chars_per_token"], "reference": b["chars_per_token"],
                          "ratio": round(a["chars_per_token"] / max(b["chars_per_token"], 1e-9), 4),
                          "ours_round_trip": a["round_trip_rate"], "reference_round_trip": b["round_trip_rate"]}
    at_least = all(r["ours"] >= r["reference"] for r in rows.values()) and len(rows) == len(LANGS_COMPARED)
    return {"chars_per_token": rows, "at_least_reference_on_zh_and_en": at_least}


def write_report(path: Path, report: dict[str, Any]) -> Path:
    atomic_write_text(path, json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    return path


def report_for(tokenizer_ref: str, corpus_ref: str, workdir: str | Path, reference: str | None = None) -> dict[str, Any]:
    """`tokenizer report`: score a tokenizer artifact on a corpus's held-out text."""
    tok_art: Artifact = resolve(tokenizer_ref, "tokenizer", workdir)
    tok = from_artifact(tok_art)
    cfg = from_dict(TokenizerConfig, tok_art.manifest.get("config", {}), where=f"{tok_art.path}/manifest.json config")
    corpus = resolve(corpus_ref, "corpus", workdir)
    split = corpus_split(corpus, cfg.heldout.fraction)
    return build_report(tok, split, cfg, corpus.version, reference)


def format_report(r: dict[str, Any]) -> str:
    """A short plain-text summary: per-language compression (ours vs reference), exactness, speed."""
    comp = r["compression"]
    ref = r.get("reference", {}).get("compression")
    lines = [f"tokenizer {r['tokenizer']} (vocab {r['vocab_size']:,}) on corpus {r['corpus']}: "
             f"{r['heldout']['documents']} held-out documents ({r['heldout']['method']})"]
    head = f"{'':<18}{'docs':>6}{'chars/tok':>10}{'bytes/tok':>10}{'round-trip':>11}"
    if ref:
        head += f"{'ref c/tok':>10}{'ref rt':>8}"
    lines.append(head)
    for key, label in (("per_lang", "lang"), ("per_domain", "domain")):
        for name, t in comp.get(key, {}).items():
            row = f"{label + '=' + name:<18}{t['documents']:>6}{t['chars_per_token']:>10.3f}{t['bytes_per_token']:>10.3f}{t['round_trip_rate']:>11.2%}"
            if ref and name in ref.get(key, {}):
                rt = ref[key][name]
                row += f"{rt['chars_per_token']:>10.3f}{rt['round_trip_rate']:>8.1%}"
            lines.append(row)
    t = comp["total"]
    lines.append(f"{'total':<18}{t['documents']:>6}{t['chars_per_token']:>10.3f}{t['bytes_per_token']:>10.3f}{t['round_trip_rate']:>11.2%}")
    fert = ", ".join(f"{k} {v['tokens_per_word']:.3f} tokens/word" for k, v in r.get("fertility", {}).items())
    lines.append(f"fertility: {fert or 'n/a'};  UNK tokens: {t['unk_tokens']}")
    comp_v = r["vocab_composition"]
    lines.append("vocabulary: " + ", ".join(f"{k} {v['tokens']:,}" for k, v in comp_v.items()))
    speed = f"encode: {r['encode_throughput']['mb_per_s']:.2f} MB/s"
    if ref:
        speed += f" (reference {r['reference']['encode_throughput']['mb_per_s']:.2f} MB/s)"
        verdict = r["comparison"]["at_least_reference_on_zh_and_en"]
        speed += f";  at least the reference's chars/token on zh and en: {'yes' if verdict else 'NO'}"
    lines.append(speed)
    return "\n".join(lines)
