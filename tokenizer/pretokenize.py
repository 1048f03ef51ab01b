"""Pre-tokenisers: how text is cut into pieces before BPE merges (merges never cross a piece).

Three candidates, compared by measurement (`bench/tokenizer_bench.py --pretok`):
- `gpt2`: GPT-2's regex (written out here) with single digits. A run of letters is one piece, so a
  Chinese clause and an adjacent Latin word ("用Python") form one piece.
- `script`: our regex. Han runs are pieces of their own, separate from other letters; a letter run
  may carry one leading ASCII space or symbol (`_name`, `.append`, ` the`); digits are single; symbol runs
  absorb trailing newlines; whitespace runs stay whole except the last space, which goes to the
  next word (indentation in code). No case folding or normalisation: the round trip stays exact.
- `script_capped`: `script` with Han runs cut into chunks of at most `han_run_cap` characters.
"""

from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

from .config import TokenizerConfig


def script_pattern(split_digits: bool = True, han_cap: int | None = None) -> str:
    han = r"\p{Han}+" if han_cap is None else r"\p{Han}{1," + str(han_cap) + "}"
    digits = r"\p{N}" if split_digits else r"\p{N}+"
    return "|".join([
        r"'(?i:[sdmt]|ll|ve|re)",                         # English contractions
        r" ?" + han,                                       # Han runs, apart from other letters
        r"[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]?[\p{L}\p{M}&&[^\p{Han}]]+",  # other letters, one ASCII space/symbol before
        digits,                                            # digits
        r" ?[^\s\p{L}\p{N}]+[\r\n]*",                      # punctuation/symbol runs
        r"\s*[\r\n]+",                                     # line breaks (with trailing blanks before)
        r"\s+(?!\S)",                                      # spaces before spaces (indentation)
        r"\s+",
    ])


def gpt2_pattern(split_digits: bool = True) -> str:
    """GPT-2's split: letter runs (any script), digit runs, symbol runs, whitespace."""
    digits = r"\p{N}" if split_digits else r" ?\p{N}+"
    return "|".join([r"'(?:[sdmt]|ll|ve|re)", r" ?\p{L}+", digits, r" ?[^\s\p{L}\p{N}]+", r"\s+(?!\S)", r"\s+"])


def pattern_for(cfg: TokenizerConfig) -> str:
    if cfg.pretokenizer == "gpt2":
        return gpt2_pattern(cfg.split_digits)
    cap = cfg.han_run_cap if cfg.pretokenizer == "script_capped" else None
    return script_pattern(cfg.split_digits, cap)


def build_pretokenizer(cfg: TokenizerConfig) -> pre_tokenizers.PreTokenizer:
    """The regex split; byte-level models then map every byte to its alphabet character."""
    split = pre_tokenizers.Split(Regex(pattern_for(cfg)), behavior="isolated")
    if cfg.model == "byte_fallback":
        return split
    return pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
