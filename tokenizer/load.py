"""Load a tokenizer artifact and encode/decode with it, fast and exactly.

`BilingualTokenizer` wraps the HF `tokenizers.Tokenizer` in `tokenizer.json` with what the rest of
the system needs: the special ids, batch encoding over all cores (Rust threads via rayon, texts
passed in large batches), and a decode that returns the exact original text.

Two choices keep encoding exact for arbitrary data:
- Special-token strings that occur *in the text* (`<s>` in HTML, a literal `<|user|>`) are encoded
  as ordinary text, never as the control ids; control ids come only from the caller.
- Lone surrogates (U+D800-U+DFFF) cannot be carried by UTF-8, so corpus files never hold them
  (the JSONL writer refuses them; ingestion replaces them). A Python string given to `encode` may
  still hold them: each one becomes the three byte tokens of its `surrogatepass` encoding, and
  `decode` reads them back, so even such strings round-trip exactly.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import Artifact, resolve
from symboliclight.pipeline.errors import UserError
from tokenizers import Tokenizer

from .byte_fallback import BYTE_TOKENS
from .bytemap import byte_to_char, token_bytes
from .fast_encode import TiktokenEncoder

TOKENIZER_FILE = "tokenizer.json"
_SURROGATE = re.compile("[\ud800-\udfff]")


def set_threads(n: int) -> None:
    """Cap the Rust thread pool (read once, at its first use); 0 leaves the default (all cores)."""
    if n > 0:
        os.environ.setdefault("RAYON_NUM_THREADS", str(n))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


@dataclass
class BilingualTokenizer:
    tokenizer: Tokenizer
    path: Path | None = None
    version: str = ""
    batch_size: int = 4096
    fast: TiktokenEncoder | None = None  # same ids, faster (byte-level models verified at training)

    def __post_init__(self) -> None:
        self.tokenizer.encode_special_tokens = True
        added = self.tokenizer.get_added_tokens_decoder()
        self.special_ids: dict[str, int] = {t.content: i for i, t in sorted(added.items()) if t.special}
        self.byte_fallback = bool(json.loads(self.tokenizer.to_str())["model"].get("byte_fallback"))
        self._bytes: list[bytes] = [b""] * self.vocab_size
        for tok, i in self.tokenizer.get_vocab(with_added_tokens=True).items():
            self._bytes[i] = self._token_bytes(tok)
        names = BYTE_TOKENS if self.byte_fallback else [byte_to_char()[b] for b in range(256)]
        self._byte_ids = [self.tokenizer.token_to_id(n) for n in names]

    def _token_bytes(self, tok: str) -> bytes:
        if tok in self.special_ids:
            return tok.encode("utf-8")
        if not self.byte_fallback:
            return token_bytes(tok)
        if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            return bytes([int(tok[3:5], 16)])
        return tok.encode("utf-8")

    @property
    def token_bytes(self) -> list[bytes]:
        """The exact bytes each id stands for (special tokens: their UTF-8 text)."""
        return list(self._bytes)

    @property
    def byte_ids(self) -> list[int]:
        """Id of the base token of each byte value 0..255 (`<0xNN>` tokens, or byte-level units)."""
        return list(self._byte_ids)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def _special(self, position: int) -> int:
        return sorted(self.special_ids.values())[position]

    @property
    def pad_id(self) -> int:
        return self._special(0)

    @property
    def bos_id(self) -> int:
        return self._special(1)

    @property
    def eos_id(self) -> int:
        return self._special(2)

    @property
    def unk_id(self) -> int:
        return self._special(3)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str], engine: str = "auto") -> list[list[int]]:
        """Token ids for each text (no BOS/EOS: packing adds those), in batches across all cores.

        `engine`: "auto" (the verified fast encoder when there is one), "hf" (always `tokenizers`)."""
        out: list[list[int]] = []
        fast = self.fast if engine == "auto" else None
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            if fast is not None:
                if any(not t.isascii() and _SURROGATE.search(t) for t in chunk):
                    out.extend(self._encode_with_surrogates(t) for t in chunk)
                else:
                    out.extend(fast.encode_batch(chunk))
                continue
            try:
                encs = self.tokenizer.encode_batch_fast(chunk, add_special_tokens=False)
                out.extend(e.ids for e in encs)
            except TypeError:  # a lone surrogate somewhere in the chunk
                out.extend(self._encode_with_surrogates(t) for t in chunk)
        return out

    def _encode_with_surrogates(self, text: str) -> list[int]:
        ids: list[int] = []
        pos = 0
        for m in _SURROGATE.finditer(text):
            if m.start() > pos:
                ids.extend(self.tokenizer.encode(text[pos:m.start()], add_special_tokens=False).ids)
            ids.extend(self._byte_ids[b] for b in m.group().encode("utf-8", "surrogatepass"))
            pos = m.end()
        if pos < len(text):
            ids.extend(self.tokenizer.encode(text[pos:], add_special_tokens=False).ids)
        return ids

    def decode(self, ids: list[int]) -> str:
        """The exact text of `ids` (special tokens included as their strings)."""
        try:
            data = b"".join(self._bytes[i] for i in ids)
        except IndexError:
            raise UserError(f"token id out of range (vocabulary size {self.vocab_size})") from None
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # ids cut inside a character: show the damage, do not fail
            return data.decode("utf-8", "replace")

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def info(self) -> dict[str, Any]:
        return {"version": self.version, "fast_encoder": self.fast is not None, "path": str(self.path) if self.path else None, "vocab_size": self.vocab_size,
                "special_ids": self.special_ids, "pad_id": self.pad_id, "bos_id": self.bos_id,
                "eos_id": self.eos_id, "unk_id": self.unk_id}


def from_file(path: str | Path, batch_size: int = 4096) -> BilingualTokenizer:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: tokenizer file not found")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust loader reports bad JSON as a generic exception
        raise UserError(f"{path}: not a tokenizers file ({str(e).splitlines()[0]})") from None
    return BilingualTokenizer(tok, path.parent, batch_size=batch_size)


def from_artifact(art: Artifact) -> BilingualTokenizer:
    if art.stage != "tokenizer":
        raise UserError(f"{art.path}: a {art.stage!r} artifact, not a tokenizer")
    cfg = art.manifest.get("config", {})
    set_threads(int(cfg.get("encode_threads", 0)))
    tok = from_file(art.file(TOKENIZER_FILE), batch_size=int(cfg.get("encode_batch_size", 4096)))
    tok.path, tok.version = art.path, art.version
    if (art.manifest.get("fast_encoder") or {}).get("agrees"):
        tok.fast = TiktokenEncoder.from_tokenizer(tok.tokenizer, int(cfg.get("encode_threads", 0)))
    return tok


def load_tokenizer(ref: str | Path, workdir: str | Path = "work") -> BilingualTokenizer:
    """A tokenizer by version id, `latest`, or artifact path (DESIGN.md VERSION convention)."""
    return from_artifact(resolve(ref, "tokenizer", workdir))
