"""Turn a character-level BPE into a byte-fallback BPE with the reference's id layout.

The BPE trainer does not create byte tokens, so after training the 256 tokens `<0x00>`..`<0xFF>`
are placed right after the special tokens (ids n_special..n_special+255, as in the reference's
SentencePiece model) and every learned token moves up by 256. Merges refer to tokens by string,
so they are unchanged. The pre-tokeniser splits digits and symbols apart, so no learned token can
spell `<0xNN>`; a clash is still checked.
"""

from __future__ import annotations

import json

from symboliclight.pipeline.errors import UserError
from tokenizers import Tokenizer, decoders, models

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def add_byte_tokens(tok: Tokenizer, n_special: int, ignore_merges: bool) -> Tokenizer:
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    clash = set(vocab) & set(BYTE_TOKENS)
    if clash:
        raise UserError(f"learned token {sorted(clash)[0]!r} collides with a byte token")
    layout: dict[str, int] = {}
    for token, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if i < n_special:
            layout[token] = i
    for b, token in enumerate(BYTE_TOKENS):
        layout[token] = n_special + b
    for token, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if i >= n_special:
            layout[token] = i + len(BYTE_TOKENS)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    tok.model = models.BPE(layout, merges, unk_token=None, byte_fallback=True, ignore_merges=ignore_merges)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return tok
