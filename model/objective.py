"""Training objective (spec §4): token cross-entropy, optional z-loss, optional deep supervision.

Readings chosen where the reference is silent or absent:
- Cross-entropy: mean over every position of every packed window; no ignore index.
- z-loss (the 0.8B script): weight · mean(logsumexp(logits)²) over `samples` logit vectors drawn
  uniformly with replacement from the batch's (row, position) pairs with torch's global RNG (so a
  seeded run is deterministic); samples = 0 uses every position. It is added to the loss returned
  for backward; the reference logs only the CE, and so do we (`ModelOutput.ce`).
- Auxiliary deep supervision ("AuxCE"): the reference released no code. We read it, as the spec
  suggests, as the *shared* output head applied to the continuous output of the chosen blocks,
  each term a full-sequence CE, with the total weight split evenly over those blocks:
  loss += (aux_weight / n) · Σ_ℓ CE(head(c_ℓ), y). No schedule (constant weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class ModelOutput:
    logits: Tensor
    loss: Tensor | None = None  # what to backpropagate: CE + z-loss + aux
    ce: Tensor | None = None  # the main cross-entropy (what to log as train loss)
    z_loss: Tensor | None = None
    aux_loss: Tensor | None = None
    exit_layer: int | None = None  # block whose logits were returned by the entropy early exit


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def z_loss(logits: Tensor, samples: int) -> Tensor:
    """mean(logsumexp(logits)²) over `samples` random (row, position) vectors (all when 0)."""
    flat = logits.reshape(-1, logits.shape[-1])
    if 0 < samples < flat.shape[0]:
        flat = flat[torch.randint(flat.shape[0], (samples,), device=flat.device)]
    return torch.logsumexp(flat.float(), dim=-1).pow(2).mean()
