"""Typed tokenizer configuration (`configs/tokenizer/*.yaml`): what the BPE is, and what it learns from.

Everything that changes the trained vocabulary lives here (and so in the artifact's version id):
vocabulary size, pre-tokenisation, digit splitting, the special-token layout, how the training
sample is drawn per language and domain, and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml, speed_only

# The reference tokenizer's layout (spec §8): pad, bos, eos, unk at 0-3, then 16 control tokens at 4-19.
REFERENCE_SPECIALS = [
    "<pad>", "<s>", "</s>", "<unk>",
    "<|stream|>", "<|vision|>", "<|endofvision|>", "<|audio|>", "<|endofaudio|>",
    "<|think|>", "<|endofthink|>", "<|spike|>", "<|tool_call|>", "<|endoftool_call|>",
    "<|system|>", "<|endofsystem|>", "<|user|>", "<|endofuser|>", "<|assistant|>", "<|endofassistant|>",
]
PRETOKENIZERS = ("gpt2", "script", "script_capped")
BYTE_ALPHABET = 256


@dataclass
class SampleConfig:
    """How the training text is drawn: a byte budget split over languages, then over domains.

    A language short of its budget is repeated (up to `max_repeat` passes): BPE learns only from
    pre-token counts, so repeating a language's text is exactly weighting it.
    """

    total_mb: float = 64.0
    lang_weights: dict[str, float] = field(default_factory=lambda: {"zh": 0.5, "en": 0.3, "code": 0.1, "mixed": 0.1})
    domain_weights: dict[str, float] = field(default_factory=dict)  # within a language; absent = 1.0
    max_repeat: float = 3.0
    max_doc_chars: int = 200_000  # longer documents contribute only their head to the sample


@dataclass
class HeldOutConfig:
    """Text the report scores. A corpus with a `val/` split uses it; otherwise a stable id-hash slice."""

    fraction: float = 0.05
    max_mb: float = 8.0  # cap on held-out text scored (taken in stable hash order)


@dataclass
class ReportConfig:
    fertility_max_mb: float = 2.0  # jieba is slow; fertility is measured on this much text per language
    throughput_repeats: int = 3  # best of N timed passes
    reference_model: str = ""  # a SentencePiece .model to compare against; skipped when empty or absent


@dataclass
class TokenizerConfig:
    name: str = "bilingual-bpe"
    vocab_size: int = 48_000
    # byte_level: the 256 bytes are the base units (ids right after the specials); byte_fallback:
    # characters are the base units and a character outside the learned alphabet is spelled with
    # <0xNN> byte tokens (ids right after the specials, as in the reference). Both never emit UNK.
    model: Literal["byte_level", "byte_fallback"] = "byte_level"
    character_coverage: float = 0.9999  # byte_fallback: alphabet = most frequent chars covering this share
    pretokenizer: Literal["gpt2", "script", "script_capped"] = "script"
    han_run_cap: int = 4  # used by `script_capped` only
    split_digits: bool = True
    min_frequency: int = 2
    max_token_length: int = 24  # in base units: characters (byte_fallback) or bytes (byte_level)
    ignore_merges: bool = True  # a pre-token already in the vocabulary is one token (faster encode)
    special_tokens: list[str] = field(default_factory=lambda: list(REFERENCE_SPECIALS))
    seed: int = 0
    sample: SampleConfig = field(default_factory=SampleConfig)
    heldout: HeldOutConfig = field(default_factory=HeldOutConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    encode_batch_size: int = speed_only(4096)
    encode_threads: int = speed_only(0)  # 0 = all cores (RAYON_NUM_THREADS)

    def __post_init__(self) -> None:
        sp = self.special_tokens
        if len(sp) < 4 or len(set(sp)) != len(sp):
            raise UserError("tokenizer config: special_tokens must list at least pad, bos, eos, unk, without repeats")
        minimum = BYTE_ALPHABET + len(sp)
        if self.vocab_size <= minimum:
            raise UserError(f"tokenizer config: vocab_size {self.vocab_size} must exceed the byte alphabet plus "
                            f"special tokens ({BYTE_ALPHABET} + {len(sp)} = {minimum})")
        if not 0.0 < self.character_coverage <= 1.0:
            raise UserError("tokenizer config: character_coverage must be in (0, 1]")
        if not 0.0 < self.heldout.fraction < 1.0:
            raise UserError("tokenizer config: heldout.fraction must be between 0 and 1")
        if self.sample.total_mb <= 0 or self.sample.max_repeat < 1.0:
            raise UserError("tokenizer config: sample.total_mb must be > 0 and sample.max_repeat >= 1")
        weights = self.sample.lang_weights
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise UserError("tokenizer config: sample.lang_weights must be non-negative and not all zero")
        bad = set(weights) - {"zh", "en", "code", "mixed"}
        if bad:
            raise UserError(f"tokenizer config: sample.lang_weights has unknown language {sorted(bad)[0]!r}")

    @property
    def pad_token(self) -> str:
        return self.special_tokens[0]

    @property
    def bos_token(self) -> str:
        return self.special_tokens[1]

    @property
    def eos_token(self) -> str:
        return self.special_tokens[2]

    @property
    def unk_token(self) -> str:
        return self.special_tokens[3]


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                vocab_size: int | None = None) -> TokenizerConfig:
    """The shipped default (or a YAML file), then `key=value` overrides, then an explicit vocab size."""
    source = Path(path) if path else shipped_config("tokenizer", "default.yaml")
    data = apply_overrides(load_yaml(source), overrides or [])
    if vocab_size is not None:
        data["vocab_size"] = vocab_size
    return from_dict(TokenizerConfig, data, where=source.name)
