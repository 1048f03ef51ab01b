"""Through a real Lightning Trainer: the checkpoint carries the data position; a resumed fit sees the same windows."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from shards_fixtures import real_documents, train_tokenizer, write_corpus
from symboliclight.model.data import DataConfig, ShardsDataModule
from symboliclight.tokenizer.pack import PackConfig, pack


class TinyLM(L.LightningModule):
    """A bigram model: enough to train for a few steps and record which windows it saw."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, vocab)
        self.seen: list[torch.Tensor] = []
        self.val_batches = 0

    def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
        self.seen.append(batch["tokens"].clone())
        x, y = batch["tokens"][:, :-1], batch["tokens"][:, 1:]
        return torch.nn.functional.cross_entropy(self.emb(x).flatten(0, 1), y.flatten())

    def validation_step(self, batch: dict[str, torch.Tensor], _: int) -> None:
        self.val_batches += 1

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(root: Path, max_steps: int) -> L.Trainer:
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=root, every_n_train_steps=3, save_top_k=-1)
    return L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=[ckpt], val_check_interval=2, limit_val_batches=2,
                     num_sanity_val_steps=1, default_root_dir=root)


def test_resumed_fit_sees_the_uninterrupted_windows(tmp_path: Path) -> None:
    docs = real_documents()
    corpus = write_corpus(tmp_path / "corpus", docs)
    tok = train_tokenizer(tmp_path / "tok", docs)
    shards = pack(str(corpus.path), str(tok.path), PackConfig(val_fraction=0.05), workdir=tmp_path,
                  out=tmp_path / "shards").artifact.path
    cfg = DataConfig(shards=str(shards), seq_len=32, batch_size=3, num_workers=2, seed=11)

    full = TinyLM(1000)
    _trainer(tmp_path / "a", 6).fit(full, datamodule=ShardsDataModule(cfg, expected_vocab_size=1000))
    assert len(full.seen) == 6 and full.val_batches > 0

    ckpt = torch.load(tmp_path / "a" / "epoch=0-step=3.ckpt", weights_only=True)
    assert ckpt["ShardsDataModule"]["windows_consumed"] == 9  # 3 steps x 3 windows; validation not counted

    resumed = TinyLM(1000)
    _trainer(tmp_path / "b", 6).fit(resumed, datamodule=ShardsDataModule(cfg, expected_vocab_size=1000),
                                    ckpt_path=tmp_path / "a" / "epoch=0-step=3.ckpt")
    assert len(resumed.seen) == 3
    for x, y in zip(full.seen[3:], resumed.seen, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(full.seen[0], resumed.seen[0])


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
