"""The SymbolicLight V1 network (spec §2): spike encoder, L dual-path blocks, prior head.

    (s⁰, c⁰) = SpikeEncoder(E[x])
    for each block ℓ:  c' = Mixer(s, c);  (c'', z) = FFN(c');  s = H(c'' − θ);  c = c''
    logits = PriorHead(c_L)            (no final extra LayerNorm)

Forward modes:
- training / scoring: `model(idx, targets)` → `ModelOutput` with loss = CE (+ z-loss, + aux);
- incremental decoding: `model(idx, cache=model.new_cache())`, then one or more tokens per call;
  the LIF membrane, decay states and trimmed KV caches carry over (see `decoding.py`);
- entropy early exit (inference, no cache, `entropy_exit` on): after each block the shared head is
  applied to that block's output; if the mean entropy (nats) of the last position's softmax is
  below the threshold, those logits are returned and the remaining blocks are skipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .config import SymbolicLightConfig
from .decoding import BlockCache, SymbolicLightCache
from .encoder import SpikeEncoder
from .feedforward import SpikingFeedForward
from .fused_decode import decode_step
from .fused_loss import fused_cross_entropy
from .head import PriorHead
from .mixer import DualPathMixer
from .objective import ModelOutput, cross_entropy, z_loss
from .sparsity import SparsityMeter
from .spike_kernels import count_at_least, spike_fast_counted
from .spiking import spike


class Block(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.threshold, self.alpha = cfg.threshold, cfg.surrogate_alpha
        self.fast = cfg.impl == "fast"
        self.mixer = DualPathMixer(cfg)
        self.ffn = SpikingFeedForward(cfg)
        self.out_ones: Tensor | None = None  # fast path: spike count of the last call's output

    def forward(self, spikes: Tensor, cont: Tensor, offset: int = 0, cache: BlockCache | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """→ (block output spikes s'', c'', mixer output c', FFN hidden spikes z)."""
        mixed = self.mixer(spikes, cont, offset, cache)
        out, hidden = self.ffn(mixed)
        if self.fast:
            out_spikes, self.out_ones = spike_fast_counted(out, self.threshold, self.alpha)
        else:
            out_spikes = spike(out, self.threshold, self.alpha)
        return out_spikes, out, mixed, hidden


class SymbolicLight(nn.Module):
    def __init__(self, cfg: SymbolicLightConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.encoder = SpikeEncoder(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.head = PriorHead(cfg)
        self.sparsity = SparsityMeter(cfg.n_layers)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)

    def new_cache(self) -> SymbolicLightCache:
        return SymbolicLightCache.empty(self.cfg.n_layers)

    def _record(self, layer: int, mixed: Tensor, hidden: Tensor, out_spikes: Tensor, block: Block) -> None:
        meter = self.sparsity
        if not meter.enabled:
            return
        theta = self.cfg.threshold
        if self.cfg.impl == "fast":  # counts from the spike kernels' own passes; one read for the mixer
            meter.record_count(layer, "mixer", count_at_least(mixed, theta), mixed.numel(), lambda: mixed >= theta)
            if block.ffn.hidden_ones is not None:
                meter.record_count(layer, "ffn_hidden", block.ffn.hidden_ones, hidden.numel(), lambda: hidden)
            else:
                meter.record(layer, "ffn_hidden", hidden)
            meter.record_count(layer, "block_out", block.out_ones, out_spikes.numel(), lambda: out_spikes)
            return
        with torch.no_grad():
            meter.record(layer, "mixer", mixed >= theta)
        meter.record(layer, "ffn_hidden", hidden)
        meter.record(layer, "block_out", out_spikes)

    def _head(self, c: Tensor) -> Tensor:
        """The prior head; in the fast path W_o·c and the prior's W_2 product are one GEMM over the
        concatenated inputs [c, w_p·GELU(W_1·c)] (D + D/4 wide) and weights [W_o, W_2], so no
        [.., V] tensor is added or scaled, and backward runs two GEMMs instead of four (the D/4-wide
        ones are the least efficient of the network)."""
        head = self.head
        if self.cfg.impl != "fast" or head.prior_in is None:
            return head(c)
        flat = c.reshape(-1, c.shape[-1])
        prior = F.gelu(head.prior_in(flat)) * head.prior_weight
        w_o, w_2 = head.unembed.weight, head.prior_out.weight
        if torch.is_grad_enabled() and (w_o.requires_grad or w_2.requires_grad):
            logits = F.linear(torch.cat([flat, prior], dim=1), torch.cat([w_o, w_2], dim=1))
        else:  # no graph: the second GEMM accumulates into the first's output, no weight copy
            logits = torch.mm(flat, w_o.t())  # under autocast: in the autocast dtype, which addmm_ keeps
            logits.addmm_(prior.to(logits.dtype), w_2.t().to(logits.dtype))
        return logits.view(*c.shape[:-1], logits.shape[-1])

    def _ce(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Token cross-entropy; the fast path fuses it into one native pass (gradient left for backward)."""
        return fused_cross_entropy(logits, targets) if self.cfg.impl == "fast" else cross_entropy(logits, targets)

    def _exit_now(self, logits: Tensor) -> bool:
        with torch.no_grad():
            logp = F.log_softmax(logits[:, -1].float(), dim=-1)
            entropy = -(logp.exp() * logp).sum(-1).mean()
        return bool(entropy < self.cfg.entropy_exit_threshold)

    def forward(self, idx: Tensor, targets: Tensor | None = None, cache: SymbolicLightCache | None = None,
                early_exit: bool | None = None) -> ModelOutput:
        """idx [B, S] token ids (targets [B, S] optional) → ModelOutput (logits [B, S, V], losses)."""
        cfg = self.cfg
        if cache is not None and targets is None and idx.shape[1] == 1 and cfg.impl == "fast":
            fused = decode_step(self, idx, cache)  # one native call for the whole step, when covered
            if fused is not None:
                return fused
        offset = cache.position if cache is not None else 0
        spikes, cont, membrane = self.encoder(self.embed(idx), cache.membrane if cache is not None else None)
        if cache is not None:
            cache.membrane = membrane
            cache.position += idx.shape[1]
        if cfg.impl == "fast" and self.sparsity.enabled:
            self.sparsity.record_count(0, "encoder", count_at_least(spikes, 0.5), spikes.numel(), lambda: spikes)
        else:
            self.sparsity.record(0, "encoder", spikes)

        use_exit = (cfg.entropy_exit if early_exit is None else early_exit) and cache is None and not self.training
        use_ckpt = cfg.grad_checkpoint and self.training and cache is None and torch.is_grad_enabled()
        want_aux = targets is not None and cfg.aux_loss_weight > 0 and cfg.aux_loss_layers
        aux_terms: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            block_cache = cache.blocks[i] if cache is not None else None
            if use_ckpt:
                spikes, cont, mixed, hidden = checkpoint(block, spikes, cont, offset, None, use_reentrant=False)
            else:
                spikes, cont, mixed, hidden = block(spikes, cont, offset, block_cache)
            self._record(i + 1, mixed, hidden, spikes, block)
            if want_aux and (i + 1) in cfg.aux_loss_layers and i + 1 < cfg.n_layers:
                aux_terms.append(self._ce(self._head(cont), targets))
            if use_exit and i + 1 < cfg.n_layers:
                logits = self._head(cont)
                if self._exit_now(logits):
                    return self._with_loss(logits, targets, aux_terms, exit_layer=i + 1)
        return self._with_loss(self._head(cont), targets, aux_terms, exit_layer=None)

    def _with_loss(self, logits: Tensor, targets: Tensor | None, aux_terms: list[Tensor],
                   exit_layer: int | None) -> ModelOutput:
        out = ModelOutput(logits=logits, exit_layer=exit_layer)
        if targets is None:
            return out
        cfg = self.cfg
        out.ce = self._ce(logits, targets)
        loss = out.ce
        if cfg.z_loss_weight > 0:
            out.z_loss = z_loss(logits, cfg.z_loss_samples)
            loss = loss + cfg.z_loss_weight * out.z_loss
        if aux_terms:
            out.aux_loss = torch.stack(aux_terms).mean()
            loss = loss + cfg.aux_loss_weight * out.aux_loss
        out.loss = loss
        return out
