"""SpikingFeedForward (spec §2.5): a binary hidden layer, no GELU, no gating, post-LN residual.

    z = H(W_up·c' − θ)  (stateless threshold, surrogate backward)
    c'' = LayerNorm(c' + W_down·Dropout(z))

Implementations (same function): the oracle uses the plain surrogate spike and a dense W_down
GEMM; the fast path makes the spike one native pass (`spike_kernels.spike_fast`) and, where the
hidden layer fires rarely enough (`ffn_sparse`, `ffn_sparse_max_density`), computes W_down·z as a
gather-add over the fired units (`sparse_ffn`). `ffn_checkpoint` recomputes the hidden layer in
backward instead of keeping its [B, S, F] tensors (the largest activations of the block).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .config import SymbolicLightConfig
from .sparse_ffn import sparse_down, sparse_down_usable
from .spike_kernels import spike_fast_counted
from .spiking import spike


class SpikingFeedForward(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.threshold, self.alpha = cfg.threshold, cfg.surrogate_alpha
        self.fast = cfg.impl == "fast"
        self.sparse_mode, self.max_density = cfg.ffn_sparse, cfg.ffn_sparse_max_density
        self.recompute = cfg.ffn_checkpoint
        self.up = nn.Linear(cfg.embed_dim, cfg.intermediate_dim, bias=False)
        self.down = nn.Linear(cfg.intermediate_dim, cfg.embed_dim, bias=False)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.hidden_ones: Tensor | None = None

    def _use_sparse(self, zd: Tensor, ones: Tensor) -> bool:
        """Gather-add when forced, or under "auto" when the firing rate (before dropout) is low."""
        if self.sparse_mode == "dense" or not sparse_down_usable(zd, self.down.weight):
            return False
        return self.sparse_mode == "sparse" or int(ones) <= self.max_density * zd.numel()

    def _hidden(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x → (W_down·Dropout(z), z)."""
        a = self.up(x)
        if not self.fast:
            z = spike(a, self.threshold, self.alpha)
            return self.down(self.dropout(z)), z
        z, ones = spike_fast_counted(a, self.threshold, self.alpha)
        self.hidden_ones = ones  # the spike count of this call, for the sparsity meter
        zd = self.dropout(z)
        return (sparse_down(zd, self.down.weight) if self._use_sparse(zd, ones) else self.down(zd)), z

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, S, D] → (c'' [B, S, D], hidden spikes z [B, S, F] for sparsity accounting)."""
        if self.recompute and self.training and torch.is_grad_enabled():
            y, z = checkpoint(self._hidden, x, use_reentrant=False)
        else:
            y, z = self._hidden(x)
        return self.norm(x + y), z
