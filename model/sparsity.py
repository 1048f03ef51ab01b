"""Running spike counts per layer and site, cheap enough to leave on during training.

Definition (spec §5). For a binary spike tensor X, the *per-element activation sparsity* is the
fraction of its entries that are zero, pooled uniformly over every element (batch × positions ×
channels):

    sparsity(X) = 1 − (number of ones in X) / (number of elements of X).

Over several tensors (layers, batches) we pool element-weighted: 1 − Σ ones / Σ elements. This is
the element-wise reading of the paper's ">89% per-element activation sparsity"; it is not a mean of
per-position or per-neuron rates.

Sites counted (spec §2.2-§2.6):
- ``encoder``: encoder spikes s⁰ (D wide), one per model;
- ``mixer``: the mixer's output spikes s' = H(c' − θ) (D wide; computed but not consumed downstream);
- ``ffn_hidden``: the FFN hidden spikes z (F wide);
- ``block_out``: the block output spikes s'' (D wide), the input of the next block.

The headline number, as the spec recommends, pools the encoder and every block's output spikes
(the D-wide tensors the 0.8B release audit pooled). Counting keeps one int64 tensor of ones per
site on the spikes' device (no host sync while recording) and element counts as Python ints; no
spike tensor is stored. Reading the counts syncs once. The fast network hands over the counts its
native spike kernels make in the same pass (`record_count`), as host ints folded in on read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

BLOCK_SITES = ("mixer", "ffn_hidden", "block_out")
HEADLINE_SITES = ("encoder", "block_out")


@dataclass
class SiteCount:
    layer: int  # 0 = encoder, 1..L = blocks
    site: str
    ones: int
    elements: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.ones / self.elements if self.elements else float("nan")


def _pooled(counts: list[SiteCount]) -> float:
    ones = sum(c.ones for c in counts)
    elements = sum(c.elements for c in counts)
    return 1.0 - ones / elements if elements else float("nan")


class SparsityMeter:
    """Counts of ones and elements for the encoder and (mixer, ffn_hidden, block_out) of each block.

    `record` adds only while `enabled`. The model records outside any checkpointed region, so the
    recomputation that activation checkpointing runs during backward is never counted twice.
    """

    def __init__(self, n_layers: int) -> None:
        self.n_layers = n_layers
        self.keys: list[tuple[int, str]] = [(0, "encoder")] + [
            (layer, site) for layer in range(1, n_layers + 1) for site in BLOCK_SITES
        ]
        self._index = {key: i for i, key in enumerate(self.keys)}
        self.enabled = True
        self._ones_t: Tensor | None = None
        self._pending = [0] * len(self.keys)  # counts handed over as host ints, folded in on read
        self._elements = [0] * len(self.keys)

    @property
    def _ones(self) -> Tensor | None:
        """int64 ones per site (device tensor); host-side counts are folded in on every read."""
        if any(self._pending):
            extra = torch.tensor(self._pending, dtype=torch.int64)
            self._pending = [0] * len(self.keys)
            if self._ones_t is None:
                self._ones_t = extra
            else:
                self._ones_t = self._ones_t + extra.to(self._ones_t.device, self._ones_t.dtype)
        return self._ones_t

    @_ones.setter
    def _ones(self, value: Tensor | None) -> None:
        self._ones_t = value

    def reset(self) -> None:
        self._ones = None
        self._pending = [0] * len(self.keys)
        self._elements = [0] * len(self.keys)

    def record_count(self, layer: int, site: str, ones: Tensor | int, elements: int,
                     spikes: Callable[[], Tensor]) -> None:
        """Add a count a fused kernel already made (no pass over the spikes). A subclass that overrides
        `record` needs the tensor itself (e.g. per-channel sums), so it gets `record(spikes())`."""
        if not self.enabled:
            return
        if type(self).record is not SparsityMeter.record:
            self.record(layer, site, spikes())
            return
        i = self._index[(layer, site)]
        if isinstance(ones, Tensor) and ones.device.type != "cpu":
            with torch.no_grad():
                if self._ones_t is None or self._ones_t.device != ones.device:
                    current = self._ones
                    self._ones_t = torch.zeros(len(self.keys), dtype=torch.int64, device=ones.device)
                    if current is not None:
                        self._ones_t += current.to(ones.device)
                self._ones_t[i] += ones
        else:
            self._pending[i] += int(ones)
        self._elements[i] += elements

    def record(self, layer: int, site: str, spikes: Tensor) -> None:
        """Add the ones and elements of `spikes` (any 0/1 or bool tensor) to (layer, site)."""
        if not self.enabled:
            return
        i = self._index[(layer, site)]
        with torch.no_grad():
            if self._ones is None or self._ones.device != spikes.device:
                previous = self._ones
                self._ones = torch.zeros(len(self.keys), dtype=torch.int64, device=spikes.device)
                if previous is not None:
                    self._ones += previous.to(spikes.device)
            self._ones[i] += torch.count_nonzero(spikes)
        self._elements[i] += spikes.numel()

    def all_reduce(self) -> None:
        """Sum the counts over a torch.distributed group (each DDP rank counts only its own batch).
        Every rank must call it, after at least one recorded forward on the training device."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        if self._ones is None:
            raise RuntimeError("SparsityMeter.all_reduce before any recorded forward")
        elements = torch.tensor(self._elements, dtype=torch.int64, device=self._ones.device)
        dist.all_reduce(self._ones)
        dist.all_reduce(elements)
        self._elements = [int(e) for e in elements.tolist()]

    def counts(self) -> list[SiteCount]:
        ones = self._ones.tolist() if self._ones is not None else [0] * len(self.keys)
        return [SiteCount(layer, site, int(o), e) for (layer, site), o, e in zip(self.keys, ones, self._elements,
                                                                                 strict=True)]

    def summary(self) -> dict:
        """Per layer and site sparsity, pooled per site, the headline (encoder + block outputs) and
        the pool of every site; sparsities are NaN where nothing was recorded."""
        counts = self.counts()
        per_site = {site: _pooled([c for c in counts if c.site == site]) for site in ("encoder",) + BLOCK_SITES}
        return {
            "headline": _pooled([c for c in counts if c.site in HEADLINE_SITES]),
            "all_sites": _pooled(counts),
            "per_site": per_site,
            "per_layer": [{"layer": c.layer, "site": c.site, "ones": c.ones, "elements": c.elements,
                           "sparsity": c.sparsity} for c in counts],
        }
