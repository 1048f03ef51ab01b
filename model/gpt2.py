"""Dense GPT-2 baseline (pre-LN transformer, SDPA attention) with the same tokenizer and vocabulary.

Standard GPT-2: learned positional embeddings, blocks x + Attn(LN(x)), x + MLP(LN(x)) with a 4×
GELU MLP, a final LayerNorm and a head tied to the token embedding (untied on request). The `124m`
config is GPT-2 small's shape (12 × 768, 12 heads) on our vocabulary.

`matched_gpt2_config(sl)` builds the baseline matched in parameters to a SymbolicLight config:
same width, vocabulary and context, untied head (SymbolicLight's head is untied, and so is the
spec's reading of the "201M" baseline), heads of 64; depth chosen to minimise the parameter gap.
If no depth lands within `tolerance` (e.g. a tiny model whose embeddings dominate), the width
also varies over multiples of 64 (the head size), and the closest (width, depth) wins.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import GPT2Config, SymbolicLightConfig
from .decoding import GPT2Cache
from .objective import ModelOutput, cross_entropy, z_loss


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, cache: GPT2Cache | None = None, layer: int = 0) -> Tensor:
        B, S, D = x.shape
        q, k, v = (t.view(B, S, self.n_head, D // self.n_head).transpose(1, 2) for t in self.qkv(x).split(D, dim=2))
        causal = True
        if cache is not None:
            if cache.keys[layer] is not None:
                k = torch.cat([cache.keys[layer], k], dim=2)
                v = torch.cat([cache.values[layer], v], dim=2)
                causal = False
            cache.keys[layer], cache.values[layer] = k.detach(), v.detach()
        if causal:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:  # new queries sit at the end of the key sequence
            T = k.shape[2]
            mask = torch.ones(S, T, dtype=torch.bool, device=x.device).tril(diagonal=T - S)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, S, D)))


class MLP(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor, cache: GPT2Cache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT2(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(GPT2Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def new_cache(self) -> GPT2Cache:
        return GPT2Cache.empty(self.cfg.n_layer)

    def forward(self, idx: Tensor, targets: Tensor | None = None, cache: GPT2Cache | None = None) -> ModelOutput:
        B, S = idx.shape
        start = cache.position if cache is not None else 0
        if start + S > self.cfg.block_size:
            raise ValueError(f"sequence reaches position {start + S}, beyond block_size {self.cfg.block_size}")
        pos = torch.arange(start, start + S, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.position += S
        out = ModelOutput(logits=self.lm_head(self.ln_f(x)))
        if targets is not None:
            out.ce = cross_entropy(out.logits, targets)
            out.loss = out.ce
            if self.cfg.z_loss_weight > 0:
                out.z_loss = z_loss(out.logits, self.cfg.z_loss_samples)
                out.loss = out.loss + self.cfg.z_loss_weight * out.z_loss
        return out


def gpt2_param_count(cfg: GPT2Config) -> int:
    """Closed form of GPT2(cfg)'s parameter count (checked against the module in tests)."""
    D, b = cfg.n_embd, int(cfg.bias)
    ln = D * (1 + b)
    per_layer = 2 * ln + (3 * D * D + 3 * D * b) + (D * D + D * b) + (4 * D * D + 4 * D * b) + (4 * D * D + D * b)
    head = 0 if cfg.tie_embeddings else cfg.vocab_size * D
    return cfg.vocab_size * D + cfg.block_size * D + cfg.n_layer * per_layer + ln + head


def matched_gpt2_config(sl: SymbolicLightConfig, target: int | None = None, tolerance: float = 0.02,
                        head_dim: int = 64) -> GPT2Config:
    """A GPT-2 whose parameter count is closest to `target` (default: the SymbolicLight model's)."""
    if target is None:
        from .build import symboliclight_param_count
        target = symboliclight_param_count(sl)

    def make(width: int, depth: int) -> GPT2Config:
        heads = max(1, width // head_dim) if width % head_dim == 0 else 1
        return GPT2Config(vocab_size=sl.vocab_size, n_layer=depth, n_head=heads, n_embd=width,
                          block_size=sl.max_seq_len, tie_embeddings=False)

    def best_depth(width: int) -> tuple[float, GPT2Config]:
        per_layer = gpt2_param_count(make(width, 2)) - gpt2_param_count(make(width, 1))
        base = gpt2_param_count(make(width, 1)) - per_layer
        depth = max(1, round((target - base) / per_layer))
        cfg = make(width, depth)
        return abs(gpt2_param_count(cfg) - target) / target, cfg

    gap, cfg = best_depth(sl.embed_dim)
    if gap <= tolerance:
        return cfg
    step = head_dim
    widths = range(step, 4 * max(sl.embed_dim, step) + 1, step)
    return min((best_depth(w) for w in widths), key=lambda t: t[0])[1]
