"""Loading a training checkpoint for evaluation, and the checks that it fits the data it is given.

Every evaluation command (`eval ppl|mc|generate`, the ablation study, the lm-eval adapter) starts
here. A checkpoint written by `symboliclight train` holds the network's state under `net.` and its
model config, run config and the shards version it trained on; it is loaded with `weights_only`
(no pickle can run code). What can go wrong, each reported as one `UserError` line:

- the file is not a checkpoint, or not one of ours (no model config);
- the weights do not fit the recorded model config (another architecture or a damaged file);
- the evaluation data was tokenised with another tokenizer: the vocabulary sizes differ, or, when
  the training shards can still be found, their tokenizer's sha256 differs from the evaluation
  shards' (same size, different pieces: the scores would be meaningless without this check).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from symboliclight.pipeline.artifacts import Artifact, resolve
from symboliclight.pipeline.errors import UserError
from torch import nn

from .build import build_model, count_params
from .checkpointing import OUR_KEY, load_checkpoint_file
from .config import ModelConfig, SymbolicLightConfig, config_from_dict

_PREFIXES = ("net.", "_orig_mod.", "module.")


@dataclass
class LoadedModel:
    """A network in eval mode with what evaluation needs to know about it."""

    net: nn.Module
    model_cfg: ModelConfig
    path: Path
    step: int
    train_config: dict[str, Any]
    trained_shards: str | None  # shards version the run read (from the data module's state)
    n_params: int

    @property
    def arch(self) -> str:
        return self.model_cfg.arch

    @property
    def vocab_size(self) -> int:
        return self.model_cfg.vocab_size

    @property
    def context(self) -> int:
        """Longest sequence one forward may take (SymbolicLight: max_seq_len; GPT-2: block_size)."""
        cfg = self.model_cfg
        return cfg.max_seq_len if isinstance(cfg, SymbolicLightConfig) else cfg.block_size

    @property
    def train_seq_len(self) -> int | None:
        data = self.train_config.get("data") or {}
        return int(data["seq_len"]) if "seq_len" in data else None

    @property
    def padded_vocab_ok(self) -> bool:
        return bool((self.train_config.get("model") or {}).get("allow_padded_vocab", False))


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is visible")
    return torch.device(name)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The checkpoint's network with its weights, in eval mode on `device`."""
    path = Path(path)
    ckpt = load_checkpoint_file(path)
    meta = ckpt.get(OUR_KEY)
    if not isinstance(meta, dict) or not isinstance(meta.get("model_config"), dict):
        raise UserError(f"{path}: not a symboliclight training checkpoint (no model config inside)")
    try:
        model_cfg = config_from_dict(dict(meta["model_config"]), where=f"{path.name} model config")
    except UserError as e:
        raise UserError(f"{path}: its model config does not load with this version ({e})") from None
    if isinstance(model_cfg, SymbolicLightConfig):  # inference: no checkpointing, no dropout
        model_cfg = dataclasses.replace(model_cfg, grad_checkpoint=False, ffn_checkpoint=False)
    net = build_model(model_cfg)
    state = {_strip(k): v for k, v in ckpt["state_dict"].items()}
    result = net.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        parts = []
        if result.missing_keys:
            parts.append(f"missing {', '.join(result.missing_keys[:3])}"
                         + (f" (+{len(result.missing_keys) - 3})" if len(result.missing_keys) > 3 else ""))
        if result.unexpected_keys:
            parts.append(f"unexpected {', '.join(result.unexpected_keys[:3])}"
                         + (f" (+{len(result.unexpected_keys) - 3})" if len(result.unexpected_keys) > 3 else ""))
        raise UserError(f"{path}: weights do not match the {model_cfg.arch} model config it records ({'; '.join(parts)})")
    dm_state = ckpt.get("ShardsDataModule") or {}
    net.to(device).eval()
    return LoadedModel(net=net, model_cfg=model_cfg, path=path, step=int(ckpt.get("global_step", -1)),
                       train_config=dict(meta.get("config") or {}), trained_shards=dm_state.get("shards_version"),
                       n_params=count_params(net))


def _try_resolve(ref: str | None, kind: str, workdir: str | Path) -> Artifact | None:
    if not ref:
        return None
    try:
        return resolve(ref, kind, workdir)
    except (UserError, OSError):
        return None


def trained_tokenizer_sha(loaded: LoadedModel, workdir: str | Path) -> str | None:
    """sha256 of the tokenizer the training shards were made with, when those shards can be found."""
    data = loaded.train_config.get("data") or {}
    art = _try_resolve(loaded.trained_shards, "shards", workdir)
    if art is None and data.get("shards") not in (None, "latest"):
        art = _try_resolve(str(data["shards"]), "shards", workdir)
    if art is None or (loaded.trained_shards and art.version != loaded.trained_shards):
        return None
    return (art.manifest.get("tokenizer") or {}).get("sha256")


def check_vocabulary(loaded: LoadedModel, vocab_size: int, tokenizer_sha: str | None, where: str,
                     workdir: str | Path) -> None:
    """Refuse data from a tokenizer the model was not trained with (see the module docstring)."""
    model_vocab = loaded.vocab_size
    if model_vocab != vocab_size and not (model_vocab > vocab_size and loaded.padded_vocab_ok):
        raise UserError(f"{loaded.path}: the model has a {model_vocab}-token vocabulary, {where} uses a "
                        f"{vocab_size}-token tokenizer (evaluate with data from the model's own tokenizer)")
    trained = trained_tokenizer_sha(loaded, workdir)
    if trained and tokenizer_sha and trained != tokenizer_sha:
        raise UserError(f"{loaded.path}: trained with tokenizer sha256 {trained[:12]}, {where} uses "
                        f"{tokenizer_sha[:12]} (same size, different pieces)")


def shards_tokenizer(art: Artifact) -> tuple[int, str | None, str | None]:
    """(vocabulary size, tokenizer version, tokenizer sha256) from a shards manifest."""
    tok = art.manifest.get("tokenizer") or {}
    try:
        return int(tok["vocab_size"]), tok.get("version"), tok.get("sha256")
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{art.path}: shards manifest has no tokenizer.vocab_size") from None


def load_eval_tokenizer(loaded: LoadedModel, tokenizer: str | None, shards: str | None, workdir: str | Path):
    """The tokenizer to encode prompts with: `--tokenizer`, else the one that made `--shards` (or the
    training shards), found in the workdir by version. Checked against the model's vocabulary."""
    from symboliclight.pipeline.hashing import sha256_file
    from symboliclight.tokenizer.load import TOKENIZER_FILE, from_artifact

    ref = tokenizer
    if ref is None:
        art = _try_resolve(shards, "shards", workdir) if shards else None
        if shards and art is None:
            raise UserError(f"shards {shards} not found (looked in {Path(workdir) / 'shards'} and as a path)")
        if art is None:
            data = loaded.train_config.get("data") or {}
            art = _try_resolve(loaded.trained_shards, "shards", workdir) or _try_resolve(data.get("shards"), "shards", workdir)
        if art is None:
            raise UserError(f"{loaded.path}: cannot find the tokenizer of its training shards; pass --tokenizer VERSION|PATH")
        _, ref, _ = shards_tokenizer(art)
        if not ref:
            raise UserError(f"{art.path}: shards manifest names no tokenizer version; pass --tokenizer")
    try:
        tok_art = resolve(ref, "tokenizer", workdir)
    except UserError as e:
        if tokenizer is not None:
            raise
        raise UserError(f"{e}; it is the tokenizer of the shards, pass --tokenizer VERSION|PATH") from None
    tok = from_artifact(tok_art)
    sha = sha256_file(tok_art.file(TOKENIZER_FILE))
    check_vocabulary(loaded, tok.vocab_size, sha, f"tokenizer {tok_art.version}", workdir)
    return tok
