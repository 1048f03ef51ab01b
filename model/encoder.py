"""SpikeEncoder (spec §2.1-§2.2): token embedding → LayerNorm → LIF over time (or top-k mask).

The LayerNorm-ed embedding c⁰ is the continuous residual stream handed to the first block; its
spikes s⁰ are the first spike tensor. There is no positional embedding: position enters only
through RoPE inside attention and through the LIF/decay recurrences.
"""

from __future__ import annotations

from torch import Tensor, nn

from .config import SymbolicLightConfig
from .spike_kernels import lif_scan_fast
from .spiking import lif_scan, topk_spike


class SpikeEncoder(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, emb: Tensor, membrane: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """emb [B, S, D] → (spikes s⁰, continuous c⁰, final membrane or None for the top-k mask).

        `membrane` is the carried LIF state (zeros when None, i.e. at every window start)."""
        cfg = self.cfg
        c0 = self.norm(emb)
        if cfg.encoder_mask == "topk":
            return topk_spike(c0, cfg.topk, cfg.threshold, cfg.surrogate_alpha), c0, None
        if cfg.impl == "fast":  # one native pass; the oracle is the Python time loop
            v0 = membrane if membrane is not None else c0.new_zeros(c0.shape[0], c0.shape[2])
            spikes, v = lif_scan_fast(c0, v0, cfg.leak, cfg.threshold, cfg.membrane_clamp, cfg.surrogate_alpha)
        else:
            spikes, v = lif_scan(c0, membrane, leak=cfg.leak, threshold=cfg.threshold,
                                 clamp=cfg.membrane_clamp, alpha=cfg.surrogate_alpha)
        return spikes, c0, v
