"""Train the bilingual BPE and write the `tokenizer/<version>/` artifact.

Either model never emits UNK and decodes every input exactly: byte-fallback BPE spells any
character outside its alphabet with byte tokens; byte-level BPE works on bytes throughout. There is no normaliser (NFKC would
fold full-width punctuation and break the round trip). The BPE trainer itself has no randomness;
the seed fixes which documents enter the training sample.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import (
    Artifact,
    artifact_dir,
    existing,
    prepare_dir,
    resolve,
    set_latest,
    write_manifest,
)
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import version_id
from symboliclight.pipeline.typed_config import identity, to_dict
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from .alphabet import choose_alphabet, count_chars
from .byte_fallback import BYTE_TOKENS, add_byte_tokens
from .config import TokenizerConfig
from .fast_encode import TiktokenEncoder
from .hf_files import write_hf_files
from .load import TOKENIZER_FILE, BilingualTokenizer, set_threads
from .pretokenize import build_pretokenizer
from .sampling import draw_sample
from .splits import CorpusSplit, corpus_split, heldout_sample

STAGE = "tokenizer"
# Edge cases the fast encoder must split exactly like `tokenizers` (whitespace classes, marks, digits).
PROBE_TEXTS = ["a\u00a0b\u3000c\u2028d\x85e\x0b\x0c  \t\r\n x", "e\u0301\u200d\ufeff 0١٢३ ٣.٥", "It's I'LL we've 'd",
               "中文English混合😀𠀀 <s> <|user|>", "    def f():\n\t\treturn 1\n\n\n"]
REPORT_FILE = "report.json"


def new_tokenizer(cfg: TokenizerConfig) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, ignore_merges=cfg.ignore_merges))
    tok.pre_tokenizer = build_pretokenizer(cfg)
    if cfg.model == "byte_level":
        tok.decoder = decoders.ByteLevel()
    return tok


def _alphabet(texts: list[str], cfg: TokenizerConfig) -> list[str]:
    if cfg.model == "byte_level":
        return pre_tokenizers.ByteLevel.alphabet()
    alphabet = choose_alphabet(count_chars(texts), cfg.character_coverage)
    need = len(cfg.special_tokens) + len(BYTE_TOKENS) + len(alphabet)
    if cfg.vocab_size <= need:
        raise UserError(f"vocab size {cfg.vocab_size} is below the alphabet plus special tokens: {len(alphabet)} "
                        f"characters + {len(BYTE_TOKENS)} byte tokens + {len(cfg.special_tokens)} specials = {need}")
    return alphabet


def train_on_texts(texts: Iterable[str], cfg: TokenizerConfig) -> Tokenizer:
    """Train a BPE on `texts`; specials take ids 0..n-1 in config order, then the 256 byte units."""
    set_threads(cfg.encode_threads)
    texts = list(texts)
    alphabet = _alphabet(texts, cfg)
    n_bytes = len(BYTE_TOKENS) if cfg.model == "byte_fallback" else 0
    tok = new_tokenizer(cfg)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size - n_bytes,
        min_frequency=cfg.min_frequency,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in cfg.special_tokens],
        initial_alphabet=alphabet,
        limit_alphabet=len(alphabet),
        max_token_length=cfg.max_token_length,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer, length=len(texts))
    if cfg.model == "byte_fallback":
        add_byte_tokens(tok, len(cfg.special_tokens), cfg.ignore_merges)
    return tok


def verify_fast_encoder(tok: BilingualTokenizer, split: CorpusSplit, cfg: TokenizerConfig) -> dict[str, Any]:
    """Attach the tiktoken encoder if it gives HF's ids on every held-out document (and tricky text)."""
    fast = TiktokenEncoder.from_tokenizer(tok.tokenizer, cfg.encode_threads)
    if fast is None:
        return {"engine": None, "agrees": False, "note": "model/pre-tokeniser not runnable by tiktoken (or not installed)"}
    texts = [d.text for d in heldout_sample(split, cfg.heldout.max_mb)] + PROBE_TEXTS
    agree = sum(a == b for a, b in zip(tok.encode_batch(texts, engine="hf"), fast.encode_batch(texts), strict=True))
    ok = agree == len(texts)
    if ok:
        tok.fast = fast
    return {"engine": "tiktoken", "agrees": ok, "documents_checked": len(texts), "documents_identical": agree}


def tokenizer_version(cfg: TokenizerConfig, corpus_version: str) -> str:
    return version_id(STAGE, identity(cfg), {"corpus": corpus_version})


def train(corpus_ref: str, cfg: TokenizerConfig, workdir: str | Path = "work", out: str | Path | None = None,
          with_report: bool = True) -> Artifact:
    """Train on the corpus's training documents and write the artifact (a no-op if it exists)."""
    corpus = resolve(corpus_ref, "corpus", workdir)
    version = tokenizer_version(cfg, corpus.version)
    root = artifact_dir(workdir, STAGE, version, out)
    done = existing(root)
    if done is not None:
        return done
    split = corpus_split(corpus, cfg.heldout.fraction)
    sample = draw_sample(split, cfg.sample, cfg.seed)
    prepare_dir(root)
    t0 = time.perf_counter()
    tok = train_on_texts(sample.texts(split), cfg)
    seconds = time.perf_counter() - t0
    tok.save(str(root / TOKENIZER_FILE), pretty=True)
    files = [root / TOKENIZER_FILE, *write_hf_files(root, cfg)]
    wrapped = BilingualTokenizer(Tokenizer.from_file(str(root / TOKENIZER_FILE)), root, version, cfg.encode_batch_size)
    fast = verify_fast_encoder(wrapped, split, cfg)
    counts = {"vocab_size": wrapped.vocab_size, "sample_documents": sample.documents,
              "sample_bytes": sample.stats["sampled_bytes"]}
    if with_report:
        from .report import build_report, write_report

        report = build_report(wrapped, split, cfg, corpus_version=corpus.version)
        report["training"] = {"seconds": round(seconds, 2), "sample": sample.stats}
        files.append(write_report(root / REPORT_FILE, report))
        counts["heldout_documents"] = report["heldout"]["documents"]
    art = write_manifest(root, stage=STAGE, version=version, parents={"corpus": corpus.version}, config=to_dict(cfg),
                         counts=counts, files=files,
                         extra={"fast_encoder": fast, "special_ids": wrapped.special_ids, "split": split.describe(), "sample": sample.stats,
                                "training_seconds": round(seconds, 2)})
    if out is None:
        set_latest(workdir, STAGE, version)
    return art
