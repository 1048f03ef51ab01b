"""The fast network's one-token cached decoding step as a single native call (`csrc_decode.py`).

`decode_step(model, idx, cache)` returns the step's `ModelOutput`, or None when the fused kernel
does not cover the call, and the caller takes the module path (same function, more calls). Covered:
fp32 CPU, impl "fast", one new token per row after a prefill, no autograd, dropout inactive, the
full architecture (attention + decay + gate, LIF encoder, dynamic prior), and a sparsity meter that
only counts (a subclass that inspects spike tensors gets them from the module path).

The kernel reads transposed copies of the weight matrices (its products run along contiguous rows),
made once and remade whenever any parameter changes (its storage or in-place version), so training
between generations is seen. Decoding states (LIF membrane, decay states) are written to fresh
tensors each step; the attention ring buffers are written in place, as the module path does.
"""

from __future__ import annotations

import ctypes
import math

import torch
from torch import Tensor

from . import native
from .csrc_decode import N_LAYER_PTRS, work_floats
from .decoding import SymbolicLightCache
from .objective import ModelOutput
from .sparsity import SparsityMeter

# Rows per step above which batched GEMMs (the module path) beat the kernel's per-row products.
MAX_ROWS = 8


class _Plan:
    """Weights laid out for the kernel and everything that stays fixed while they do."""

    def __init__(self, model: torch.nn.Module, key: tuple) -> None:
        cfg = model.cfg
        self.key = key
        with torch.inference_mode(False), torch.no_grad():
            def t(w: Tensor) -> Tensor:
                return w.detach().t().contiguous()

            self.blocks = []
            for block in model.blocks:
                mixer, ffn = block.mixer, block.ffn
                attn, decay = mixer.attn, mixer.decay
                wqkv = torch.cat([attn.q.weight, attn.k.weight, attn.v.weight]).detach()
                self.blocks.append({
                    "wqkvT": t(wqkv), "wtcamT": t(decay.proj.weight),
                    "lam": torch.sigmoid(decay.logit.detach()).float().contiguous(),
                    "oml": torch.sigmoid(-decay.logit.detach()).float().contiguous(),
                    "woutT": t(mixer.out_proj.weight), "n1w": mixer.norm.weight.detach(),
                    "n1b": mixer.norm.bias.detach(), "wupT": t(ffn.up.weight), "wdownT": t(ffn.down.weight),
                    "n2w": ffn.norm.weight.detach(), "n2b": ffn.norm.bias.detach(),
                })
            self.gates = torch.tensor([float(torch.sigmoid(b.mixer.gate_logit.detach())) for b in model.blocks],
                                      dtype=torch.float32)
            head = model.head
            self.unembT = t(head.unembed.weight)
            self.pinT = t(head.prior_in.weight)
            self.poutT = t(head.prior_out.weight)
            self.prior_weight = float(head.prior_weight)
            self.emb = model.embed.weight.detach()
            self.enc_w, self.enc_b = model.encoder.norm.weight.detach(), model.encoder.norm.bias.detach()
        self.eps = float(model.encoder.norm.eps)
        self.scale = 1.0 / math.sqrt(cfg.head_dim)
        self.table = (ctypes.c_int64 * (cfg.n_layers * N_LAYER_PTRS))()
        self.work = torch.empty(work_floats(cfg.embed_dim, cfg.intermediate_dim, cfg.prior_dim,
                                            cfg.n_anchors + cfg.window + 1), dtype=torch.float32)


def _covered(model: torch.nn.Module, idx: Tensor, cache: SymbolicLightCache) -> bool:
    cfg = model.cfg
    if not (cfg.impl == "fast" and idx.dim() == 2 and idx.shape[1] == 1 and idx.shape[0] <= MAX_ROWS
            and idx.device.type == "cpu" and not torch.is_grad_enabled()
            and cfg.attention and cfg.decay and cfg.encoder_mask == "lif" and cfg.dynamic_prior
            and (not model.training or cfg.dropout == 0.0)):
        return False
    if torch.is_autocast_enabled("cpu") or model.embed.weight.dtype != torch.float32:
        return False
    meter = model.sparsity
    if meter.enabled and type(meter).record is not SparsityMeter.record:
        return False
    if cache.membrane is None or cache.membrane.shape[0] != idx.shape[0]:
        return False
    for bc in cache.blocks:
        if bc.decay_state is None or bc.attn.k is None or bc.attn.k.dtype != torch.float32:
            return False
    return native.kernels() is not None


def _plan(model: torch.nn.Module) -> _Plan:
    params = model.__dict__.get("_fused_decode_params")
    if params is None:
        params = [p for p in model.parameters()] + [model.head.prior_weight]
        model.__dict__["_fused_decode_params"] = params
    key = tuple((p.data_ptr(), p._version) for p in params)
    plan = model.__dict__.get("_fused_decode_plan")
    if plan is None or plan.key != key:
        plan = _Plan(model, key)
        model.__dict__["_fused_decode_plan"] = plan
    return plan


def _f32(t: Tensor) -> Tensor:
    return t if t.dtype == torch.float32 and t.is_contiguous() else t.float().contiguous()


def decode_step(model: torch.nn.Module, idx: Tensor, cache: SymbolicLightCache) -> ModelOutput | None:
    """Logits [B, 1, V] of one new token per row, the cache advanced; None when not covered."""
    if not _covered(model, idx, cache):
        return None
    cfg = model.cfg
    plan = _plan(model)
    B, D, L = idx.shape[0], cfg.embed_dim, cfg.n_layers
    pos = cache.position
    first = cache.blocks[0].attn
    A, R = first.n_anchors, first.window + 1
    slot = pos if pos < A else A + (pos - A) % R
    n_slots = first.k.shape[1]
    states = torch.empty(L + 1, B, D, dtype=torch.float32)  # new membrane, then each block's decay state
    mem_in = _f32(cache.membrane)
    table = plan.table
    inputs = []  # previous decay states, alive until the call returns
    for i, (block, bc, w) in enumerate(zip(model.blocks, cache.blocks, plan.blocks, strict=True)):
        attn = bc.attn
        cos, sin = block.mixer.attn._rope(pos, 1, mem_in)
        st_in = _f32(bc.decay_state)
        bc.decay_state = states[i + 1].view(B, cfg.n_heads, cfg.head_dim)
        inputs.append(st_in)
        o = i * N_LAYER_PTRS
        table[o:o + N_LAYER_PTRS] = (
            w["wqkvT"].data_ptr(), attn.k.data_ptr(), attn.v.data_ptr(), attn.bias.data_ptr(),
            attn.slot_pos.data_ptr(), w["wtcamT"].data_ptr(), w["lam"].data_ptr(), w["oml"].data_ptr(),
            st_in.data_ptr(), states[i + 1].data_ptr(), w["woutT"].data_ptr(), w["n1w"].data_ptr(),
            w["n1b"].data_ptr(), w["wupT"].data_ptr(), w["wdownT"].data_ptr(), w["n2w"].data_ptr(),
            w["n2b"].data_ptr(), cos.data_ptr(), sin.data_ptr())
        attn.end = pos + 1
    tok = idx.reshape(B).to(torch.int64).contiguous()
    logits = torch.empty(B, 1, cfg.vocab_size, dtype=torch.float32)
    counts = (ctypes.c_int64 * (1 + 3 * L))()
    native.kernels().sl_decode_f32(
        tok.data_ptr(), B, D, cfg.n_heads, cfg.intermediate_dim, cfg.vocab_size, cfg.prior_dim, L, n_slots, slot,
        pos, plan.emb.data_ptr(), plan.enc_w.data_ptr(), plan.enc_b.data_ptr(), mem_in.data_ptr(),
        states[0].data_ptr(), cfg.leak, cfg.threshold, cfg.membrane_clamp, plan.eps, plan.scale, table,
        plan.gates.data_ptr(), plan.unembT.data_ptr(), plan.pinT.data_ptr(), plan.poutT.data_ptr(),
        plan.prior_weight, logits.data_ptr(), counts, plan.work.data_ptr())
    del inputs
    cache.membrane = states[0]
    cache.position = pos + 1
    meter = model.sparsity
    if meter.enabled:
        meter.record_count(0, "encoder", counts[0], B * D, None)
        for i in range(L):
            meter.record_count(i + 1, "mixer", counts[1 + 3 * i], B * D, None)
            meter.record_count(i + 1, "ffn_hidden", counts[2 + 3 * i], B * cfg.intermediate_dim, None)
            meter.record_count(i + 1, "block_out", counts[3 + 3 * i], B * D, None)
    return ModelOutput(logits=logits)
