"""Loading the reference's released checkpoints (SymbolicLight-V1 194M and 0.8B) into our modules.

The releases are `torch.save`d dicts holding a state dict under "model" (or "model_state_dict", or
the bare state dict) and the reference's config dict under "config". Keys may carry the "module."
(DDP) or "_orig_mod." (torch.compile) prefixes; training checkpoints may hold the encoder membrane
("v_mem"), which is runtime state and is dropped. Public state-dict names, and ours:

    spike_encoder.frontend.text_embedding.weight      embed.weight
    spike_encoder.norm.{weight,bias}                  encoder.norm.{weight,bias}
    blocks.i.tcam.tcam_proj.weight                    blocks.i.mixer.decay.proj.weight
    blocks.i.tcam.decay_raw                           blocks.i.mixer.decay.logit
    blocks.i.tcam.attn_gate                           blocks.i.mixer.gate_logit
    blocks.i.tcam.out_proj.weight                     blocks.i.mixer.out_proj.weight
    blocks.i.tcam.norm.{weight,bias}                  blocks.i.mixer.norm.{weight,bias}
    blocks.i.tcam.sparse_attn.{q,k,v}_proj.weight     blocks.i.mixer.attn.{q,k,v}.weight
    blocks.i.ffn.{up,down}.weight, ffn.norm.*         blocks.i.ffn.{up,down}.weight, ffn.norm.*
    output_head.output_proj.weight                    head.unembed.weight
    output_head.prior_net.0.weight / .2.weight        head.prior_in.weight / head.prior_out.weight
    output_head.log_prior                             head.log_prior            (static-prior runs)
    output_head.prior_weight                          head.prior_weight         (0.8B: learnable)

Buffers are derived, not loaded: `sparse_attn.rope.inv_freq` (both releases) and
`sparse_attn._cached_mask` (0.8B) are checked against what our config implies (so a wrong window,
anchor count or RoPE base fails loudly), then dropped. The 0.8B code keeps `attn_gate` even with
attention off; such an unused gate is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.typed_config import apply_overrides
from torch import Tensor

from .attention import local_mask, rope_inv_freq
from .config import SymbolicLightConfig, config_from_dict

_RENAMES: list[tuple[str, str]] = [
    (r"spike_encoder\.frontend\.text_embedding\.weight", "embed.weight"),
    (r"spike_encoder\.norm\.(weight|bias)", r"encoder.norm.\1"),
    (r"blocks\.(\d+)\.tcam\.tcam_proj\.weight", r"blocks.\1.mixer.decay.proj.weight"),
    (r"blocks\.(\d+)\.tcam\.decay_raw", r"blocks.\1.mixer.decay.logit"),
    (r"blocks\.(\d+)\.tcam\.attn_gate", r"blocks.\1.mixer.gate_logit"),
    (r"blocks\.(\d+)\.tcam\.out_proj\.weight", r"blocks.\1.mixer.out_proj.weight"),
    (r"blocks\.(\d+)\.tcam\.norm\.(weight|bias)", r"blocks.\1.mixer.norm.\2"),
    (r"blocks\.(\d+)\.tcam\.sparse_attn\.([qkv])_proj\.weight", r"blocks.\1.mixer.attn.\2.weight"),
    (r"blocks\.(\d+)\.ffn\.(up|down)\.weight", r"blocks.\1.ffn.\2.weight"),
    (r"blocks\.(\d+)\.ffn\.norm\.(weight|bias)", r"blocks.\1.ffn.norm.\2"),
    (r"output_head\.output_proj\.weight", "head.unembed.weight"),
    (r"output_head\.prior_net\.0\.weight", "head.prior_in.weight"),
    (r"output_head\.prior_net\.2\.weight", "head.prior_out.weight"),
    (r"output_head\.log_prior", "head.log_prior"),
    (r"output_head\.prior_weight", "head.prior_weight"),
]
_RENAMES_RE = [(re.compile(pattern + r"\Z"), repl) for pattern, repl in _RENAMES]
_INV_FREQ = re.compile(r"blocks\.(\d+)\.tcam\.sparse_attn\.rope\.inv_freq\Z")
_CACHED_MASK = re.compile(r"blocks\.(\d+)\.tcam\.sparse_attn\._cached_mask\Z")

# reference config field → ours (fields not listed are ignored and reported)
_CONFIG_FIELDS = {
    "vocab_size": "vocab_size", "embed_dim": "embed_dim", "n_layers": "n_layers", "n_heads": "n_heads",
    "intermediate_dim": "intermediate_dim", "max_seq_len": "max_seq_len", "dropout": "dropout",
    "spike_threshold": "threshold", "leak_factor": "leak", "rope_theta": "rope_theta",
    "sparse_attn_window": "window", "n_global_anchors": "n_anchors", "enable_sparse_attn": "attention",
    "enable_dynamic_prior": "dynamic_prior", "entropy_exit_threshold": "entropy_exit_threshold",
    "enable_entropy_exit": "entropy_exit",
}
_CONFIG_IGNORED = {"head_dim", "spike_chunk_size", "frontend_mode", "stdp_lr", "enable_stdp", "use_topk_mask"}


@dataclass
class ImportReport:
    config: SymbolicLightConfig
    loaded: list[str] = field(default_factory=list)  # our names filled from the checkpoint
    verified: list[str] = field(default_factory=list)  # reference buffers checked and dropped
    dropped: list[str] = field(default_factory=list)  # runtime state or unused entries
    ignored_config: list[str] = field(default_factory=list)


def _strip(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):
        key = key.replace(prefix, "")
    return key


def _unwrap(checkpoint: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    if not isinstance(checkpoint, dict):
        raise UserError("reference checkpoint: expected a dict (state dict or {'model': ..., 'config': ...})")
    state = checkpoint.get("model", checkpoint.get("model_state_dict", checkpoint))
    ref_cfg = checkpoint.get("config", {}) if state is not checkpoint else {}
    if not isinstance(ref_cfg, dict):
        ref_cfg = dict(vars(ref_cfg)) if hasattr(ref_cfg, "__dict__") else {}
    tensors = {_strip(k): v for k, v in state.items() if isinstance(v, Tensor)}
    return tensors, ref_cfg


def reference_config(ref_cfg: dict[str, Any], state: dict[str, Tensor], overrides: list[str] | None = None
                     ) -> tuple[SymbolicLightConfig, list[str]]:
    """Our config for a reference checkpoint: shapes from the state dict (authoritative), the rest
    from the reference config dict, then `key=value` overrides. Returns (config, ignored fields)."""
    data: dict[str, Any] = {}
    ignored = []
    for key, value in ref_cfg.items():
        if key in _CONFIG_FIELDS:
            data[_CONFIG_FIELDS[key]] = value
        elif key not in _CONFIG_IGNORED:
            ignored.append(key)
    if ref_cfg.get("enable_stdp"):
        raise UserError("reference checkpoint: enable_stdp=True (STDP weight updates) is not supported")
    if ref_cfg.get("use_topk_mask"):
        data["encoder_mask"] = "topk"
    emb = state.get("spike_encoder.frontend.text_embedding.weight")
    if emb is None:
        raise UserError("reference checkpoint: no spike_encoder.frontend.text_embedding.weight; not a SymbolicLight V1 state dict")
    data["vocab_size"], data["embed_dim"] = int(emb.shape[0]), int(emb.shape[1])
    layers = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    data["n_layers"] = max(layers) + 1 if layers else 0
    if "blocks.0.tcam.decay_raw" in state:
        data["n_heads"] = int(state["blocks.0.tcam.decay_raw"].shape[0])
    if "blocks.0.ffn.up.weight" in state:
        data["intermediate_dim"] = int(state["blocks.0.ffn.up.weight"].shape[0])
    data["attention"] = "blocks.0.tcam.sparse_attn.q_proj.weight" in state
    data["dynamic_prior"] = "output_head.prior_net.0.weight" in state
    data["learnable_prior_weight"] = "output_head.prior_weight" in state
    if "prior_weight" in ref_cfg:
        ignored.append("prior_weight")
    cfg = config_from_dict(apply_overrides(data, overrides or []), where="reference checkpoint config")
    return cfg, ignored


def convert_state_dict(state: dict[str, Tensor], cfg: SymbolicLightConfig, report: ImportReport | None = None
                       ) -> dict[str, Tensor]:
    """Rename a reference state dict to ours, verifying and dropping its derived buffers."""
    report = report or ImportReport(config=cfg)
    out: dict[str, Tensor] = {}
    inv_freq = rope_inv_freq(cfg.head_dim, cfg.rope_theta)
    for key, value in state.items():
        if "v_mem" in key:
            report.dropped.append(key)
            continue
        if _INV_FREQ.match(key):
            if value.shape != inv_freq.shape or not torch.allclose(value.float().cpu(), inv_freq, rtol=1e-5, atol=0):
                raise UserError(f"reference checkpoint: {key} does not match head_dim {cfg.head_dim} "
                                f"and rope_theta {cfg.rope_theta}")
            report.verified.append(key)
            continue
        if _CACHED_MASK.match(key):
            n = value.shape[0]
            pos = torch.arange(n)
            if not torch.equal(value.bool().cpu(), local_mask(pos, pos, cfg.window, cfg.n_anchors)):
                raise UserError(f"reference checkpoint: {key} disagrees with window {cfg.window} and "
                                f"{cfg.n_anchors} anchors")
            report.verified.append(key)
            continue
        for pattern, repl in _RENAMES_RE:
            if pattern.match(key):
                ours = pattern.sub(repl, key)
                break
        else:
            raise UserError(f"reference checkpoint: unknown entry {key!r}")
        if ours.endswith("gate_logit") and not cfg.has_gate:
            report.dropped.append(key)
            continue
        if ours == "head.prior_weight" and not cfg.learnable_prior_weight:
            report.dropped.append(key)
            continue
        if ours == "head.prior_weight":
            value = value.reshape(())
        out[ours] = value
        report.loaded.append(ours)
    return out


def load_reference_checkpoint(path: str | Path, overrides: list[str] | None = None,
                              device: str | torch.device = "cpu"):
    """Build our SymbolicLight from a released reference checkpoint → (model in eval mode, report).

    Loads with `weights_only=True` (no pickle code) and memory-maps the file."""
    from .symboliclight import SymbolicLight

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # a truncated or non-torch file
        raise UserError(f"{path}: cannot read checkpoint ({type(e).__name__}: {e})") from None
    return model_from_reference(checkpoint, overrides, device, SymbolicLight)


def model_from_reference(checkpoint: dict, overrides: list[str] | None = None, device: str | torch.device = "cpu",
                         model_cls: type | None = None):
    """`load_reference_checkpoint` on an in-memory checkpoint dict (or bare state dict)."""
    if model_cls is None:
        from .symboliclight import SymbolicLight as model_cls
    state, ref_cfg = _unwrap(checkpoint)
    cfg, ignored = reference_config(ref_cfg, state, overrides)
    report = ImportReport(config=cfg, ignored_config=ignored)
    ours = convert_state_dict(state, cfg, report)
    with torch.device(device):
        model = model_cls(cfg)
    try:
        missing, unexpected = model.load_state_dict(ours, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise UserError(f"reference checkpoint does not fit the model: {str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise UserError(f"reference checkpoint does not fit the model: missing {missing[:5]}, "
                        f"unexpected {unexpected[:5]}")
    return model.eval(), report
