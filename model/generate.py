"""Text generation: incremental decoding with the reference's sampling options, streamed as it goes.

Decoding (spec §2.11): the prompt is prefilled once into the network's cache (SymbolicLight: LIF
membrane, decay states, trimmed KV; GPT-2: KV), then one token per forward. `use_cache=False`
recomputes the whole sequence every step instead: slower, the same tokens (tests check greedy
equality), and the reference point for the cache.

One step's logits → next token, in this order:
1. ids at or above the tokenizer's size are masked (padded vocabulary rows are never sampled);
2. repetition penalty r (CTRL style) on every id already in the prompt or the output: a positive
   logit is divided by r, a negative one multiplied by r;
3. temperature 0 → greedy (argmax). Otherwise the temperature T, optionally entropy-adaptive with
   Ĥ = entropy(softmax(logits)) / ln(active vocabulary) in [0, 1]; the reference has two readings
   with opposite directions (spec §2.11), both offered:
   - `194m` (the 194M package and `src` code): T_eff = max(0.1, T − Ĥ·(T − 0.1)), a flat
     distribution is sampled *colder*;
   - `0.8b` (the 0.8B inference package): T_eff = T_min + Ĥ·(T_max − T_min), T_min = max(0.1, T/2),
     T_max = min(1.5, 1.5·T), a flat distribution is sampled *hotter*;
4. top-k (keep the k largest), then top-p (keep the smallest prefix of the sorted distribution whose
   mass reaches p; the most likely token always stays);
5. a draw from a CPU `torch.Generator` seeded with `seed` (so a seed gives the same text on any
   device, for the same logits).
Generation stops after `max_new_tokens` or at EOS (not emitted into the text).

Defaults are the reference's release-audit settings: T 0.6, top-k 20, prompt encoded after BOS.
"""

from __future__ import annotations

import codecs
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

import torch
from symboliclight.pipeline.errors import UserError
from torch import Tensor

from .config import SymbolicLightConfig
from .eval_checkpoint import LoadedModel

EntropyAdaptive = Literal["off", "194m", "0.8b"]


@dataclass
class GenerationConfig:
    max_new_tokens: int = 64
    temperature: float = 0.6
    top_k: int = 20  # 0 = off
    top_p: float = 1.0  # 1 = off
    repetition_penalty: float = 1.0  # 1 = off
    entropy_adaptive: EntropyAdaptive = "off"
    seed: int = 0
    stop_at_eos: bool = True
    add_bos: bool = True
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise UserError("--max-new-tokens must be >= 0")
        if self.temperature < 0:
            raise UserError("--temperature must be >= 0 (0 = greedy)")
        if self.top_k < 0:
            raise UserError("--top-k must be >= 0 (0 = off)")
        if not 0.0 < self.top_p <= 1.0:
            raise UserError("--top-p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            raise UserError("--repetition-penalty must be > 0 (1 = off)")
        if self.entropy_adaptive not in ("off", "194m", "0.8b"):
            raise UserError("--entropy-adaptive must be off, 194m or 0.8b")


def effective_temperature(logits: Tensor, cfg: GenerationConfig) -> float:
    """The step's temperature (rule 3 of the module docstring); `logits` [V] with masked ids at −inf."""
    t = cfg.temperature
    if cfg.entropy_adaptive == "off":
        return t
    finite = torch.isfinite(logits)
    n = int(finite.sum())
    logp = torch.log_softmax(logits, dim=-1)
    p = logp.exp()
    entropy = float(-(p[finite] * logp[finite]).sum())
    h = min(1.0, max(0.0, entropy / math.log(n))) if n > 1 else 0.0
    if cfg.entropy_adaptive == "194m":
        return max(0.1, t - h * (t - 0.1))
    t_min, t_max = max(0.1, t / 2), min(1.5, 1.5 * t)
    return t_min + h * (t_max - t_min)


def next_token(logits: Tensor, history: Tensor, cfg: GenerationConfig, vocab_limit: int,
               generator: torch.Generator) -> int:
    """One token from the last position's logits [V] (rules 1-5 of the module docstring)."""
    logits = logits.detach().float().cpu().clone()
    if vocab_limit < logits.shape[-1]:
        logits[vocab_limit:] = float("-inf")
    if cfg.repetition_penalty != 1.0 and history.numel():
        seen = torch.unique(history.cpu())
        seen = seen[seen < logits.shape[-1]]
        vals = logits[seen]
        logits[seen] = torch.where(vals > 0, vals / cfg.repetition_penalty, vals * cfg.repetition_penalty)
    if cfg.temperature == 0:
        return int(logits.argmax())
    scaled = logits / effective_temperature(logits, cfg)
    if cfg.top_k > 0 and cfg.top_k < scaled.shape[-1]:
        kth = scaled.topk(cfg.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = scaled.sort(descending=True)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass strictly before each token
        drop = before >= cfg.top_p
        drop[0] = False
        scaled[order[drop]] = float("-inf")
    probs = scaled.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def generate_ids(loaded: LoadedModel, prompt: list[int], cfg: GenerationConfig, *, vocab_limit: int,
                 eos_id: int | None, on_token: Callable[[int], None] | None = None) -> list[int]:
    """New token ids after `prompt` (which already holds BOS when wanted); `on_token` sees each one."""
    net = loaded.net
    device = next(net.parameters()).device
    if not prompt:
        raise UserError("empty prompt (and no BOS to start from)")
    total = len(prompt) + cfg.max_new_tokens
    bounded = not (isinstance(loaded.model_cfg, SymbolicLightConfig) and cfg.use_cache)
    if bounded and total > loaded.context:
        raise UserError(f"prompt ({len(prompt)} tokens) + --max-new-tokens {cfg.max_new_tokens} exceeds the "
                        f"model's context of {loaded.context} tokens")
    meter = getattr(net, "sparsity", None)
    was_on = bool(meter is not None and meter.enabled)
    if meter is not None:
        meter.enabled = False  # generation reports no spike counts
    try:
        return _decode(net, prompt, cfg, vocab_limit, eos_id, on_token, device)
    finally:
        if meter is not None:
            meter.enabled = was_on


def _decode(net: torch.nn.Module, prompt: list[int], cfg: GenerationConfig, vocab_limit: int, eos_id: int | None,
            on_token: Callable[[int], None] | None, device: torch.device) -> list[int]:
    generator = torch.Generator().manual_seed(cfg.seed)
    seq = torch.tensor([prompt], dtype=torch.long, device=device)
    cache = net.new_cache() if cfg.use_cache else None
    logits = net(seq, cache=cache).logits[0, -1] if cache is not None else net(seq).logits[0, -1]
    out: list[int] = []
    for _ in range(cfg.max_new_tokens):
        tok = next_token(logits, seq[0], cfg, vocab_limit, generator)
        if cfg.stop_at_eos and eos_id is not None and tok == eos_id:
            break
        out.append(tok)
        if on_token is not None:
            on_token(tok)
        step = torch.tensor([[tok]], dtype=torch.long, device=device)
        seq = torch.cat([seq, step], dim=1)
        if len(out) == cfg.max_new_tokens:
            break
        logits = net(step, cache=cache).logits[0, -1] if cache is not None else net(seq).logits[0, -1]
    return out


class StreamPrinter:
    """Writes tokens' text as they arrive; bytes of a character split across tokens wait for the rest."""

    def __init__(self, token_bytes: list[bytes], stream: TextIO | None = None) -> None:
        self.token_bytes = token_bytes
        self.stream = stream or sys.stdout
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text: list[str] = []

    def __call__(self, token: int) -> None:
        piece = self.decoder.decode(self.token_bytes[token] if token < len(self.token_bytes) else b"")
        if piece:
            self.text.append(piece)
            self.stream.write(piece)
            self.stream.flush()

    def close(self) -> str:
        tail = self.decoder.decode(b"", final=True)
        if tail:
            self.text.append(tail)
            self.stream.write(tail)
        self.stream.write("\n")
        self.stream.flush()
        return "".join(self.text)


def generate_text(loaded: LoadedModel, tokenizer, prompt: str, cfg: GenerationConfig,
                  stream: TextIO | None = None) -> dict:
    """Encode `prompt` (after BOS), generate, stream the continuation to `stream` when given."""
    ids = ([tokenizer.bos_id] if cfg.add_bos else []) + tokenizer.encode(prompt)
    printer = StreamPrinter(tokenizer.token_bytes, stream) if stream is not None else None
    if printer is not None:
        printer.stream.write(prompt)
        printer.stream.flush()
    new = generate_ids(loaded, ids, cfg, vocab_limit=tokenizer.vocab_size, eos_id=tokenizer.eos_id, on_token=printer)
    if printer is not None:
        printer.close()
    return {"prompt": prompt, "completion": tokenizer.decode(new), "prompt_tokens": len(ids), "new_tokens": new}
