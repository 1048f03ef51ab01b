"""Dual-Path SparseTCAM mixer (spec §2.4): decay path over spikes + spike-gated local attention over
the continuous stream, fused by a learned sigmoid gate, then output projection and post-LN residual.

    o  = g·attn_output + (1 − g)·decay_output,   g = sigmoid(γ), γ init 0
    c' = LayerNorm(c + W_out·Dropout(o))

Ablations: with `attention` off o = decay_output; with `decay` off o = attn_output. The gate exists
only when both paths do (the 194M "no attention" count, 172,783,248, has no gate).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import SpikeGatedAttention
from .config import SymbolicLightConfig
from .decay import DecayPath
from .decoding import BlockCache
from .spike_kernels import gate_mix


class DualPathMixer(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.decay = DecayPath(cfg) if cfg.decay else None
        self.attn = SpikeGatedAttention(cfg) if cfg.attention else None
        self.gate_logit = nn.Parameter(torch.full((1,), cfg.gate_init_logit)) if cfg.has_gate else None
        self.out_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim, bias=False)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fast = cfg.impl == "fast"

    def forward(self, spikes: Tensor, cont: Tensor, offset: int = 0, cache: BlockCache | None = None) -> Tensor:
        """spikes [B, S, D] (0/1), cont [B, S, D] → c' [B, S, D]; updates `cache` when given."""
        spikes = spikes.to(cont.dtype)
        active = spikes.sum(dim=-1) > 0  # a_t: the position fired at least one spike
        paths = []
        if self.attn is not None:
            paths.append(self.attn(cont, active, offset, cache.attn if cache is not None else None))
        if self.decay is not None:
            decay_out, state = self.decay(spikes, active, cache.decay_state if cache is not None else None)
            if cache is not None:
                cache.decay_state = state.detach()
            paths.append(decay_out)
        if self.gate_logit is not None and self.fast:
            mixed = gate_mix(paths[0], paths[1], self.gate_logit)  # one native pass, same roundings
        elif self.gate_logit is not None:
            g = torch.sigmoid(self.gate_logit)
            mixed = g * paths[0] + (1 - g) * paths[1]
        else:
            mixed = paths[0]
        return self.norm(cont + self.out_proj(self.dropout(mixed)))
