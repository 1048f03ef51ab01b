"""Typed model configurations (SymbolicLight V1 and the GPT-2 baseline), loaded from YAML.

A config is a shipped name (`tiny`, `194m`, `0.8b`, `gpt2-124m`, found in `configs/model/`) or a
path to a YAML file; `key=value` overrides apply on top. The top-level key `arch` picks the
dataclass (`symboliclight`, the default, or `gpt2`). Field names and defaults follow the
specification (`reference/symboliclight-v1.md` §2-§3); every number the network uses lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import shipped_config
from symboliclight.pipeline.typed_config import apply_overrides, from_dict, load_yaml

EncoderMask = Literal["lif", "topk"]
Impl = Literal["fast", "oracle"]
FFNSparse = Literal["auto", "dense", "sparse"]


@dataclass
class SymbolicLightConfig:
    """SymbolicLight V1 network shape, spiking constants, ablation switches and loss options."""

    arch: Literal["symboliclight"] = "symboliclight"
    # shape (spec §3)
    vocab_size: int = 48000
    embed_dim: int = 768
    n_layers: int = 12
    n_heads: int = 12
    intermediate_dim: int = 4096
    max_seq_len: int = 2048
    window: int = 256  # sparse_attn_window W: query i sees keys j with i - j <= W
    n_anchors: int = 4  # global anchors A: keys j < A are visible to every later query
    # spiking constants (spec §2.2-§2.3)
    threshold: float = 1.0
    leak: float = 0.95
    membrane_clamp: float = 3.0
    surrogate_alpha: float = 2.0
    rope_theta: float = 10000.0
    dropout: float = 0.1
    # initialisation (spec §2.10)
    init_std: float = 0.02
    decay_init_logit: float = 3.0
    gate_init_logit: float = 0.0
    prior_weight: float = 0.1
    learnable_prior_weight: bool = False  # 194M: fixed constant; 0.8B: learnable scalar
    prior_bottleneck_div: int = 4  # prior net bottleneck = embed_dim // 4
    # ablation switches (spec §10.2, §14)
    attention: bool = True
    decay: bool = True
    dynamic_prior: bool = True
    encoder_mask: EncoderMask = "lif"
    topk_fraction: float = 0.11  # k = max(1, floor(0.11 * D)) for encoder_mask = topk
    # inference
    entropy_exit: bool = False
    entropy_exit_threshold: float = 0.3
    # objective (spec §4); see symboliclight.model.objective for the readings chosen
    z_loss_weight: float = 0.0
    z_loss_samples: int = 128  # logit vectors sampled per batch; 0 = every position
    aux_loss_layers: list[int] = field(default_factory=list)  # 1-based block indices
    aux_loss_weight: float = 0.0  # total weight, split evenly over aux_loss_layers
    # implementation (none of these change the function computed or the parameters)
    impl: Impl = "fast"  # "oracle": Python-loop LIF, S×S decay convolution, dense-mask attention
    decay_chunk: int = 64  # chunk length of the chunked (fast) decay form
    attn_block: int = 64  # query block of the fast blockwise local attention
    ffn_sparse: FFNSparse = "auto"  # FFN down projection over the binary hidden: gather-add or GEMM
    ffn_sparse_max_density: float = 0.03  # "auto" gathers below this hidden firing rate (bench/)
    grad_checkpoint: bool = False  # per-block activation checkpointing in training
    ffn_checkpoint: bool = False  # recompute the FFN hidden layer in backward (its [B,S,F] tensors)

    def __post_init__(self) -> None:
        positive = ("vocab_size", "embed_dim", "n_layers", "n_heads", "intermediate_dim", "max_seq_len",
                    "decay_chunk", "attn_block", "prior_bottleneck_div")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UserError(f"model config: {name} must be positive, got {getattr(self, name)}")
        if self.embed_dim % self.n_heads:
            raise UserError(f"model config: embed_dim {self.embed_dim} is not divisible by n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise UserError(f"model config: head_dim {self.head_dim} must be even for RoPE")
        if self.window < 0 or self.n_anchors < 0:
            raise UserError("model config: window and n_anchors must be >= 0")
        if not (self.attention or self.decay):
            raise UserError("model config: attention and decay cannot both be off (the mixer would be empty)")
        if not 0.0 < self.topk_fraction <= 1.0:
            raise UserError(f"model config: topk_fraction must be in (0, 1], got {self.topk_fraction}")
        if not 0.0 <= self.ffn_sparse_max_density <= 1.0:
            raise UserError(f"model config: ffn_sparse_max_density must be in [0, 1], got {self.ffn_sparse_max_density}")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"model config: dropout must be in [0, 1), got {self.dropout}")
        for layer in self.aux_loss_layers:
            if not 1 <= layer <= self.n_layers:
                raise UserError(f"model config: aux_loss_layers entry {layer} is not in 1..{self.n_layers}")
        if self.embed_dim // self.prior_bottleneck_div < 1:
            raise UserError("model config: prior bottleneck would be empty")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.n_heads

    @property
    def prior_dim(self) -> int:
        return self.embed_dim // self.prior_bottleneck_div

    @property
    def topk(self) -> int:
        """Channels kept per token by the top-k encoder ablation: max(1, floor(fraction * D))."""
        return max(1, math.floor(self.topk_fraction * self.embed_dim + 1e-9))

    @property
    def has_gate(self) -> bool:
        """The fusion gate exists only when both paths do (a single path needs no mixing)."""
        return self.attention and self.decay


@dataclass
class GPT2Config:
    """Dense pre-LN GPT-2 baseline (learned positions, GELU MLP, final LayerNorm)."""

    arch: Literal["gpt2"] = "gpt2"
    vocab_size: int = 48000
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024
    dropout: float = 0.0
    bias: bool = True
    tie_embeddings: bool = True
    init_std: float = 0.02
    z_loss_weight: float = 0.0
    z_loss_samples: int = 128

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "block_size"):
            if getattr(self, name) <= 0:
                raise UserError(f"model config: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise UserError(f"model config: n_embd {self.n_embd} is not divisible by n_head {self.n_head}")


ModelConfig = SymbolicLightConfig | GPT2Config

_ARCHES: dict[str, type] = {"symboliclight": SymbolicLightConfig, "gpt2": GPT2Config}


def shipped_model_names() -> list[str]:
    folder = shipped_config("model")
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def config_from_dict(data: dict, where: str = "model config") -> ModelConfig:
    arch = data.get("arch", "symboliclight")
    if arch not in _ARCHES:
        raise UserError(f"{where}: arch {arch!r} is not one of {', '.join(map(repr, _ARCHES))}")
    return from_dict(_ARCHES[arch], data, where=where)


def load_model_config(name_or_path: str | Path, overrides: list[str] | None = None) -> ModelConfig:
    """Config from a shipped name (`194m`) or a YAML path, with `key=value` overrides applied."""
    ref = str(name_or_path)
    path = Path(ref)
    if not (path.suffix in (".yaml", ".yml") or path.is_file()):
        path = shipped_config("model", f"{ref}.yaml")
        if not path.is_file():
            raise UserError(f"unknown model config {ref!r} (shipped: {', '.join(shipped_model_names())}; "
                            "or give a YAML path)")
    data = apply_overrides(load_yaml(path), overrides or [])
    return config_from_dict(data, where=path.name)
