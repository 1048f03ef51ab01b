"""Incremental decoding: the per-sequence state both networks carry between steps, and sampling.

SymbolicLight (spec §2.11) carries, per sequence batch:
- the encoder's LIF membrane (shape [B, D]), so the next token continues the same scan;
- per block, the decay path's state h (shape [B, H, d_h]), which makes that path O(1) per token;
- per block, a KV cache of post-RoPE keys, values, the keys' activity bits and absolute positions,
  trimmed after every call to the A global anchors plus the last W positions (all that any later
  query can still see), so memory stays bounded however long the generation runs;
- the absolute position of the next token (the RoPE offset).

The GPT-2 baseline carries an ordinary per-layer KV cache bounded by its block size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class AttentionCache:
    k: Tensor | None = None  # [B, H, T, d_h], RoPE already applied
    v: Tensor | None = None  # [B, H, T, d_h]
    active: Tensor | None = None  # [B, T] bool: the key position fired at least one spike
    positions: Tensor | None = None  # [T] absolute positions of the cached keys

    def __len__(self) -> int:
        return 0 if self.positions is None else int(self.positions.numel())


@dataclass
class BlockCache:
    decay_state: Tensor | None = None  # [B, H, d_h]
    attn: AttentionCache = field(default_factory=AttentionCache)


@dataclass
class SymbolicLightCache:
    membrane: Tensor | None = None  # encoder LIF membrane [B, D]
    blocks: list[BlockCache] = field(default_factory=list)
    position: int = 0  # absolute position of the next token

    @classmethod
    def empty(cls, n_layers: int) -> SymbolicLightCache:
        return cls(blocks=[BlockCache() for _ in range(n_layers)])


@dataclass
class GPT2Cache:
    keys: list[Tensor | None] = field(default_factory=list)
    values: list[Tensor | None] = field(default_factory=list)
    position: int = 0

    @classmethod
    def empty(cls, n_layers: int) -> GPT2Cache:
        return cls(keys=[None] * n_layers, values=[None] * n_layers)


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int = 0, eos_id: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Sample continuations of `prompt` [B, S] with the model's cache (prefill once, then one token per
    step). temperature 0 means greedy. Stops early when every row has produced `eos_id`."""
    was_training = model.training
    model.eval()
    cache = model.new_cache()
    out = prompt
    logits = model(prompt, cache=cache).logits[:, -1]
    done = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    for _ in range(max_new_tokens):
        if temperature <= 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            scaled = logits.float() / temperature
            if top_k > 0:
                kth = scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            nxt = torch.multinomial(torch.softmax(scaled, -1), 1, generator=generator)
        if eos_id is not None:
            nxt = torch.where(done[:, None], torch.full_like(nxt, eos_id), nxt)
            done |= nxt[:, 0] == eos_id
        out = torch.cat([out, nxt], dim=1)
        if eos_id is not None and bool(done.all()):
            break
        logits = model(nxt, cache=cache).logits[:, -1]
    model.train(was_training)
    return out
