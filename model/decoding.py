"""Incremental decoding: the per-sequence state both networks carry between steps, and sampling.

SymbolicLight (spec §2.11) carries, per sequence batch:
- the encoder's LIF membrane (shape [B, D]), so the next token continues the same scan;
- per block, the decay path's state h (shape [B, H, d_h]), which makes that path O(1) per token;
- per block, a KV cache of post-RoPE keys, values, the keys' activity (as an additive bias) and
  absolute positions in a preallocated ring buffer of A + W + 1 slots (the A global anchors plus the
  window), written in place, so memory stays bounded however long the generation runs and a step
  copies one key, never the cache;
- the absolute position of the next token (the RoPE offset).

The GPT-2 baseline carries an ordinary per-layer KV cache bounded by its block size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class AttentionCache:
    """Post-RoPE keys and values in a fixed ring buffer: A anchor slots (positions < A), then W + 1
    window slots, position p ≥ A in slot A + (p − A) mod (W + 1). Written in place, never concatenated
    or trimmed: a step writes one slot and attends over all of them under `bias`. After a call at
    most A + W slots are live (the anchors and the last W positions); the one spare window slot holds
    the oldest key of the window of the call just made, which no later query can see."""

    k: Tensor | None = None  # [B, A + W + 1, H, d_h] (slot-major: a step writes one row), RoPE applied
    v: Tensor | None = None  # [B, A + W + 1, H, d_h]
    bias: Tensor | None = None  # [B, A + W + 1]: 0 for a key that fired, −inf for a silent key or empty slot
    slot_pos: Tensor | None = None  # [A + W + 1] absolute position held by each slot, −1 when empty
    n_anchors: int = 0
    window: int = 0
    end: int = 0  # one past the last position written

    def slots(self, positions: Tensor) -> Tensor:
        """Slot of each absolute position."""
        A, R = self.n_anchors, self.window + 1
        return torch.where(positions < A, positions, A + (positions - A).remainder(R))

    def live(self) -> Tensor:
        """[A + W + 1] bool: slots a query after `end` can still see (anchors and the last W positions)."""
        p = self.slot_pos
        return (p >= 0) & ((p < self.n_anchors) | (p >= self.end - self.window))

    @property
    def positions(self) -> Tensor | None:
        """Absolute positions of the live keys, ascending."""
        if self.slot_pos is None:
            return None
        return self.slot_pos[self.live()].sort().values

    @property
    def active(self) -> Tensor | None:
        """[B, T] bool activity of the live keys, in `positions` order."""
        if self.slot_pos is None:
            return None
        live = self.live()
        order = self.slot_pos[live].sort().indices
        return (self.bias[:, live] == 0)[:, order]

    def __len__(self) -> int:
        return 0 if self.slot_pos is None else int(self.live().sum())


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
