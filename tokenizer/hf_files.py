"""The files `transformers.PreTrainedTokenizerFast.from_pretrained(dir)` reads beside `tokenizer.json`."""

from __future__ import annotations

import json
from pathlib import Path

from .config import TokenizerConfig

TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"


def _dump(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def write_hf_files(out: Path, cfg: TokenizerConfig) -> list[Path]:
    """Special-token map and tokenizer config. No automatic BOS/EOS and no space clean-up on decode,
    so `decode(encode(x)) == x` holds through `transformers` as well."""
    named = {"pad_token": cfg.pad_token, "bos_token": cfg.bos_token, "eos_token": cfg.eos_token, "unk_token": cfg.unk_token}
    extra = cfg.special_tokens[4:]
    special_map = {**named, "additional_special_tokens": extra}
    added = {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                      "special": True} for i, t in enumerate(cfg.special_tokens)}
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **named,
        "additional_special_tokens": extra,
        "added_tokens_decoder": added,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1 << 20,
    }
    return [_dump(out / SPECIAL_TOKENS_MAP, special_map), _dump(out / TOKENIZER_CONFIG, tok_config)]
