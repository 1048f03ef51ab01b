"""Zero-shot log-likelihood scoring (multiple choice and LAMBADA), the lm-evaluation-harness way.

`Scorer` is the one place a (context, continuation) pair becomes a log-likelihood; `eval mc` and the
lm-eval adapter (`lm_eval_adapter.py`) both use it, so the two give the same numbers.

- Encoding follows the harness's causal models: trailing spaces of the context move to the
  continuation; the continuation's tokens are those of encode(context + continuation) after the
  first len(encode(context)) (so a BPE merge across the boundary stays a continuation token).
- Every sequence starts with BOS, as the training documents did (the shards put BOS at each
  document start); an empty context is just BOS. When BOS + context + continuation exceeds the
  model's context, the context is cut from the left (the continuation is always scored whole).
- Each request is scored from a fresh state; requests are batched longest first with right
  padding, which no causal model can see.
- Result: (sum of the continuation's token log-probabilities, whether greedy decoding would have
  produced exactly the continuation).

Metrics, as the harness computes them: acc = argmax of the summed log-likelihoods is the gold
choice; acc_norm = argmax of log-likelihood divided by the choice's length in characters; LAMBADA:
acc = the last word is the greedy continuation, perplexity = exp(−mean log-likelihood).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .eval_checkpoint import LoadedModel
from .mc_tasks import TARGET_DELIMITER, ClozeItem, McItem


@dataclass
class Scorer:
    loaded: LoadedModel
    tokenizer: Any  # BilingualTokenizer
    batch_size: int = 16
    device: torch.device | None = None

    def __post_init__(self) -> None:
        self.device = self.device or next(self.loaded.net.parameters()).device
        self.bos = self.tokenizer.bos_id

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text) if text else []

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        if not context:
            return [], self.encode(continuation)
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        if len(whole) <= len(ctx):  # a merge swallowed the boundary: score the continuation on its own
            return ctx, self.encode(continuation)
        return ctx, whole[len(ctx):]

    @torch.no_grad()
    def loglikelihood_tokens(self, requests: list[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """Per (context ids, continuation ids): (sum log p(continuation), greedy match)."""
        limit = self.loaded.context
        rows: list[tuple[list[int], int]] = []
        for ctx, cont in requests:
            if not cont:
                raise ValueError("empty continuation")
            if len(cont) > limit:
                raise ValueError(f"continuation of {len(cont)} tokens exceeds the model's context {limit}")
            seq = ctx if ctx[:1] == [self.bos] else [self.bos] + ctx
            seq = (seq + cont)[-(limit + 1):]
            rows.append((seq, len(cont)))
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
        out: list[tuple[float, bool] | None] = [None] * len(rows)
        net = self.loaded.net
        meter = getattr(net, "sparsity", None)
        was_on = meter.enabled if meter is not None else False
        if meter is not None:
            meter.enabled = False  # padded batches would skew spike counts; scoring does not report them
        try:
            for lo in range(0, len(order), self.batch_size):
                idx = order[lo:lo + self.batch_size]
                width = len(rows[idx[0]][0]) - 1
                batch = torch.zeros(len(idx), width, dtype=torch.long)
                for r, i in enumerate(idx):
                    seq = rows[i][0][:-1]
                    batch[r, :len(seq)] = torch.tensor(seq)
                logp = F.log_softmax(net(batch.to(self.device)).logits.float(), dim=-1)
                for r, i in enumerate(idx):
                    seq, n = rows[i]
                    end = len(seq) - 1
                    target = torch.tensor(seq[end - n + 1:end + 1], device=self.device)
                    lp = logp[r, end - n:end]
                    ll = float(lp.gather(-1, target[:, None]).sum())
                    greedy = bool((lp.argmax(-1) == target).all())
                    out[i] = (ll, greedy)
        finally:
            if meter is not None:
                meter.enabled = was_on
        return [o for o in out if o is not None]

    def loglikelihood(self, pairs: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        return self.loglikelihood_tokens([self.encode_pair(c, x) for c, x in pairs])


def _stderr(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def _argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=lambda i: xs[i])  # first of ties, as numpy's argmax


def evaluate_items(scorer: Scorer, task: str, items: list[McItem] | list[ClozeItem]) -> dict[str, Any]:
    """acc/acc_norm (multiple choice) or acc/perplexity (LAMBADA), with per-item details."""
    if items and isinstance(items[0], ClozeItem):
        results = scorer.loglikelihood([(it.context, it.target) for it in items])  # type: ignore[union-attr]
        lls = [ll for ll, _ in results]
        acc = [float(g) for _, g in results]
        mean_ll = sum(lls) / len(lls)
        return {"task": task, "n": len(items), "acc": sum(acc) / len(acc), "acc_stderr": _stderr(acc),
                "perplexity": math.exp(-mean_ll), "items": [{"ll": ll, "greedy": g} for ll, g in results]}
    pairs: list[tuple[str, str]] = []
    for it in items:
        pairs += [(it.context, TARGET_DELIMITER + c) for c in it.choices]  # type: ignore[union-attr]
    results = scorer.loglikelihood(pairs)
    acc, acc_norm, details = [], [], []
    k = 0
    for it in items:
        lls = [ll for ll, _ in results[k:k + len(it.choices)]]  # type: ignore[union-attr]
        k += len(it.choices)  # type: ignore[union-attr]
        norm = [ll / len(c) if c else float("-inf") for ll, c in zip(lls, it.choices, strict=True)]  # type: ignore[union-attr]
        pred, pred_norm = _argmax(lls), _argmax(norm)
        acc.append(float(pred == it.gold))  # type: ignore[union-attr]
        acc_norm.append(float(pred_norm == it.gold))  # type: ignore[union-attr]
        details.append({"lls": lls, "pred": pred, "pred_norm": pred_norm, "gold": it.gold})  # type: ignore[union-attr]
    return {"task": task, "n": len(items), "acc": sum(acc) / len(acc), "acc_stderr": _stderr(acc),
            "acc_norm": sum(acc_norm) / len(acc_norm), "acc_norm_stderr": _stderr(acc_norm), "items": details}
