"""Real token shards for the training tests, built once per session.

The corpus is real text from the machine (Python standard-library sources, licence texts, zh_CN
gettext catalogues; see `shards_fixtures.py`), the tokenizer a byte-level BPE of about 1000 ids
trained on it in the test, and the shards are written by the project's packer (`tokenizer/pack.py`).
"""

from __future__ import annotations

from pathlib import Path

from shards_fixtures import real_documents, train_tokenizer, write_corpus
from symboliclight.tokenizer.pack import PackConfig, pack

VOCAB = 1000


def build_train_shards(root: Path, vocab_size: int = VOCAB) -> Path:
    """corpus → tokenizer → shards under `root`; returns the shards artifact directory."""
    shards = root / "shards"
    if (shards / "manifest.json").is_file():
        return shards
    docs = real_documents(1)
    corpus = write_corpus(root / "corpus", docs)
    tok = train_tokenizer(root / "tokenizer", docs, vocab_size=vocab_size)
    pack(str(corpus.path), str(tok.path), PackConfig(shard_tokens=200_000, val_fraction=0.05, val_min_docs=2),
         workdir=root, out=shards)
    return shards


# A smaller network than `tiny` so that run tests take seconds, and settings that make every step
# visible in metrics.csv.
SMALL_RUN = [
    "model.overrides={embed_dim: 32, n_heads: 2, intermediate_dim: 64, max_seq_len: 64, window: 8, decay_chunk: 8}",
    "data.seq_len=32", "data.batch_size=4", "data.val_batch_size=8", "data.val_max_windows_per_domain=2",
    "trainer.log_every_n_steps=1", "trainer.progress_bar=false", "trainer.threads=1",
    "schedule.warmup_steps=2",
]


def small_config(shards: Path, *extra: str):
    """The shipped `tiny-cpu` config with SMALL_RUN applied, reading `shards`."""
    from symboliclight.model.train_config import load_train_config

    return load_train_config("tiny-cpu", [*SMALL_RUN, f"data.shards={shards}", *extra])


def step_losses(run_dir: Path) -> dict[int, float]:
    from symboliclight.model.run_logging import read_metrics

    return read_metrics(run_dir).get("train/loss", {})
