"""SpikingFeedForward (spec §2.5): a binary hidden layer, no GELU, no gating, post-LN residual.

    z = H(W_up·c' − θ)  (stateless threshold, surrogate backward)
    c'' = LayerNorm(c' + W_down·Dropout(z))
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import SymbolicLightConfig
from .spiking import spike


class SpikingFeedForward(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.threshold, self.alpha = cfg.threshold, cfg.surrogate_alpha
        self.up = nn.Linear(cfg.embed_dim, cfg.intermediate_dim, bias=False)
        self.down = nn.Linear(cfg.intermediate_dim, cfg.embed_dim, bias=False)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, S, D] → (c'' [B, S, D], hidden spikes z [B, S, F] for sparsity accounting)."""
        z = spike(self.up(x), self.threshold, self.alpha)
        return self.norm(x + self.down(self.dropout(z))), z
