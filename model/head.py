"""Output head with the context-conditioned prior ("BayesianHead", spec §2.7).

    logits = W_o·c + w_p·W_2·GELU(W_1·c)     (dynamic prior, W_1: D → D/4, W_2: D/4 → V)
    logits = W_o·c + w_p·b                   (static-prior ablation, b ∈ R^V learned, init 0)

W_o is not tied to the embedding. w_p is the constant 0.1 in the 194M release (not a parameter; it
is kept as a non-persistent buffer so it follows the module's device) and a learnable scalar,
init 0.1, in the 0.8B release. The sum is plain additive logits; only the final softmax normalises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import SymbolicLightConfig


class PriorHead(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.unembed = nn.Linear(cfg.embed_dim, cfg.vocab_size, bias=False)
        if cfg.dynamic_prior:
            self.prior_in = nn.Linear(cfg.embed_dim, cfg.prior_dim, bias=False)
            self.prior_out = nn.Linear(cfg.prior_dim, cfg.vocab_size, bias=False)
            self.log_prior = None
        else:
            self.prior_in = self.prior_out = None
            self.log_prior = nn.Parameter(torch.zeros(cfg.vocab_size))
        weight = torch.tensor(cfg.prior_weight)
        if cfg.learnable_prior_weight:
            self.prior_weight = nn.Parameter(weight)
        else:
            self.register_buffer("prior_weight", weight, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        prior = self.log_prior if self.log_prior is not None else self.prior_out(F.gelu(self.prior_in(c)))
        return self.unembed(c) + self.prior_weight * prior
