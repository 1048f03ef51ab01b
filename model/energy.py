"""An ESTIMATE of inference energy per token from operation counts, the usual SNN-paper convention.

This is arithmetic on operation counts, not a measurement: no hardware was metered, and the
numbers say nothing about wall-clock speed on GPUs or CPUs (dense hardware runs SymbolicLight
slower than GPT-2, spec §11). It answers one question: if every synaptic operation cost what the
45 nm convention says (Horowitz, ISSCC 2014, 32-bit float: 0.9 pJ per accumulate, 4.6 pJ per
multiply-accumulate), what would a forward pass cost per token?

Counting rules (forward pass, per token, for a sequence of S tokens scored from a fresh state):

1. A weight matrix applied to a *binary spike* input costs one accumulate (AC) per fan-out for
   each input channel that fired: ones(input) × fan_out. Spike counts come from the measured
   firing (the `SparsityMeter` counts of the evaluation run), never from an assumed rate.
   SymbolicLight has two such products per block: the decay path's W_tcam over the block's input
   spikes (the encoder spikes for block 1, the previous block's output spikes after that), and
   the FFN's W_down over the hidden spikes z.
2. A weight matrix applied to a *continuous* input costs fan_in × fan_out multiply-accumulates
   (MAC): SymbolicLight's W_q, W_k, W_v (3D²), W_out (D²), W_up (D·F) and the head (D·V, plus
   D·D/4 + D/4·V for the dynamic prior; the static prior is a bias, 0); every GPT-2 linear layer
   (12D² per layer, D·V for the head).
3. Attention costs 2·D MACs per (query, admissible key) pair (QKᵀ and the weighted sum of V).
   Admissible keys are counted from the masks: GPT-2's causal mask, (S + 1)/2 keys on average;
   SymbolicLight's window W plus A anchors, averaged over the S positions. SymbolicLight also
   drops keys at positions that fired no spike; that is not counted, so its attention count is an
   upper bound.
4. Not counted, for either network: element-wise work (LayerNorm, LIF and decay-state updates,
   the gate, GELU, softmax, RoPE, residual adds), embedding lookups (memory reads, no arithmetic),
   and memory traffic, which dominates real energy on every current chip.

Ablations change the counts the obvious way (no attention: no Q/K/V/score terms; no decay: no
W_tcam ACs; static prior: no prior-net MACs). "dense equivalent" is the same SymbolicLight network
with every product counted as a MAC (the cost on hardware that cannot skip zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import GPT2Config, ModelConfig, SymbolicLightConfig
from .sparsity import SiteCount


@dataclass(frozen=True)
class EnergyConvention:
    """Energy per operation in picojoules (45 nm, 32-bit float)."""

    pj_per_ac: float = 0.9
    pj_per_mac: float = 4.6
    label: str = "45 nm convention (0.9 pJ/AC, 4.6 pJ/MAC)"


def mean_local_keys(seq_len: int, window: int, n_anchors: int) -> float:
    """Mean number of keys j ≤ i with (i − j ≤ W or j < A) over queries i = 0..S−1."""
    total = 0
    for i in range(seq_len):
        total += min(i + 1, window + 1) + max(0, min(n_anchors, i - window))
    return total / seq_len if seq_len else 0.0


def _per_token_ones(counts: list[SiteCount], layer: int, site: str, width: int) -> float:
    for c in counts:
        if c.layer == layer and c.site == site:
            positions = c.elements / width if width else 0
            return c.ones / positions if positions else 0.0
    raise KeyError(f"no spike count for layer {layer} site {site}")


def symboliclight_ops(cfg: SymbolicLightConfig, counts: list[SiteCount], seq_len: int) -> dict[str, float]:
    """AC and MAC counts per token (rules 1-3 of the module docstring) from measured spike counts."""
    D, F, V = cfg.embed_dim, cfg.intermediate_dim, cfg.vocab_size
    ac = 0.0
    mac = 0.0
    dense = 0.0  # every product as a MAC
    keys = mean_local_keys(seq_len, cfg.window, cfg.n_anchors)
    for layer in range(1, cfg.n_layers + 1):
        if cfg.decay:
            src = ("encoder", 0) if layer == 1 else ("block_out", layer - 1)
            ac += _per_token_ones(counts, src[1], src[0], D) * D
            dense += D * D
        if cfg.attention:
            mac += 3 * D * D + 2 * D * keys
        mac += D * D + D * F  # W_out, W_up
        ac += _per_token_ones(counts, layer, "ffn_hidden", F) * D
        dense += F * D
    mac += D * V + ((D * cfg.prior_dim + cfg.prior_dim * V) if cfg.dynamic_prior else 0)
    return {"ac": ac, "mac": mac, "dense_mac": mac + dense}


def gpt2_ops(cfg: GPT2Config, seq_len: int) -> dict[str, float]:
    D = cfg.n_embd
    keys = (seq_len + 1) / 2
    mac = cfg.n_layer * (12 * D * D + 2 * D * keys) + D * cfg.vocab_size
    return {"ac": 0.0, "mac": float(mac), "dense_mac": float(mac)}


def energy_estimate(cfg: ModelConfig, counts: list[SiteCount] | None, seq_len: int,
                    conv: EnergyConvention | None = None) -> dict[str, float | str]:
    """Operation counts and estimated picojoules per token (see the module docstring)."""
    conv = conv or EnergyConvention()
    if isinstance(cfg, SymbolicLightConfig):
        if not counts:
            raise ValueError("SymbolicLight energy needs measured spike counts")
        ops = symboliclight_ops(cfg, counts, seq_len)
    else:
        ops = gpt2_ops(cfg, seq_len)
    pj = ops["ac"] * conv.pj_per_ac + ops["mac"] * conv.pj_per_mac
    return {
        "kind": "estimate",
        "convention": conv.label,
        "seq_len": seq_len,
        "ac_per_token": ops["ac"],
        "mac_per_token": ops["mac"],
        "pj_per_token": pj,
        "dense_equivalent_pj_per_token": ops["dense_mac"] * conv.pj_per_mac,
    }
