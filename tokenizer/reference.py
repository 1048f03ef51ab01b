"""The reference SentencePiece tokenizer, measured on the same text as ours (never shipped)."""

from __future__ import annotations

import os
from pathlib import Path

from symboliclight.pipeline.errors import UserError


class SentencePieceTokenizer:
    """A SentencePiece model behind the same batch encode/decode calls as `BilingualTokenizer`."""

    def __init__(self, path: str | Path, threads: int = 0):
        import sentencepiece as spm

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: SentencePiece model not found")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        self.threads = threads or os.cpu_count() or 1

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def unk_id(self) -> int:
        return self.sp.unk_id()

    def pieces(self) -> list[str]:
        return [self.sp.id_to_piece(i) for i in range(self.vocab_size)]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts, num_threads=self.threads)

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self.sp.decode(batch, num_threads=self.threads)


REFERENCE_ENV = "SYMBOLICLIGHT_REFERENCE_TOKENIZER"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def reference_path(configured: str | Path | None) -> Path | None:
    """Where the reference SentencePiece model is: `$SYMBOLICLIGHT_REFERENCE_TOKENIZER`, else the
    configured path (a relative one is tried from the working directory, then from the project root,
    where `../shared/reference/` sits beside a checkout). None when nothing is configured."""
    chosen = os.environ.get(REFERENCE_ENV) or (str(configured) if configured else "")
    if not chosen:
        return None
    p = Path(chosen)
    if p.is_absolute() or p.exists():
        return p
    return PROJECT_ROOT / p
