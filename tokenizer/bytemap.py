"""The byte-level alphabet: each of the 256 byte values is one printable character in the vocabulary.

Printable Latin-1 bytes stand for themselves; the others are shifted past U+0100 in byte order.
This is the convention HF `tokenizers`' ByteLevel pre-tokenizer uses, so a vocabulary entry can be
turned back into the exact bytes it stands for (used to decode without `tokenizers`, to classify
the vocabulary, and to emit byte tokens for text that UTF-8 cannot carry).
"""

from __future__ import annotations

from functools import cache


@cache
def byte_to_char() -> dict[int, str]:
    kept = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    out = {b: chr(b) for b in kept}
    shift = 0
    for b in range(256):
        if b not in out:
            out[b] = chr(256 + shift)
            shift += 1
    return out


@cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_char().items()}


def token_bytes(token: str) -> bytes:
    """The bytes a byte-level vocabulary entry stands for."""
    table = char_to_byte()
    return bytes(table[c] for c in token)
