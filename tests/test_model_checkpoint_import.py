"""Loading state dicts named and shaped like the reference's 194M and 0.8B releases (tiny sizes)."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import tiny_model, tokens
from symboliclight.model.checkpoint_import import load_reference_checkpoint, model_from_reference
from symboliclight.pipeline.errors import UserError


def _reference_state(model, release: str) -> dict[str, torch.Tensor]:
    """Our weights written under the public reference names, with the release's extra entries."""
    cfg = model.cfg
    sd: dict[str, torch.Tensor] = {
        "spike_encoder.frontend.text_embedding.weight": model.embed.weight,
        "spike_encoder.norm.weight": model.encoder.norm.weight,
        "spike_encoder.norm.bias": model.encoder.norm.bias,
        "output_head.output_proj.weight": model.head.unembed.weight,
    }
    if cfg.dynamic_prior:
        sd["output_head.prior_net.0.weight"] = model.head.prior_in.weight
        sd["output_head.prior_net.2.weight"] = model.head.prior_out.weight
    else:
        sd["output_head.log_prior"] = model.head.log_prior
    if release == "0.8b":
        sd["output_head.prior_weight"] = model.head.prior_weight.reshape(())
    for i, b in enumerate(model.blocks):
        t, m = f"blocks.{i}.tcam.", b.mixer
        sd[t + "tcam_proj.weight"] = m.decay.proj.weight
        sd[t + "decay_raw"] = m.decay.logit
        sd[t + "out_proj.weight"] = m.out_proj.weight
        sd[t + "norm.weight"], sd[t + "norm.bias"] = m.norm.weight, m.norm.bias
        if cfg.attention:
            sd[t + "attn_gate"] = m.gate_logit
            for p in "qkv":
                sd[t + f"sparse_attn.{p}_proj.weight"] = getattr(m.attn, p).weight
            sd[t + "sparse_attn.rope.inv_freq"] = 1.0 / (10000.0 ** (torch.arange(0, cfg.head_dim, 2).float()
                                                                     / cfg.head_dim))
            if release == "0.8b":
                q = torch.arange(cfg.max_seq_len)[:, None]
                k = torch.arange(cfg.max_seq_len)[None, :]
                sd[t + "sparse_attn._cached_mask"] = (q >= k) & ((q - k <= cfg.window) | (k < cfg.n_anchors))
        elif release == "0.8b":
            sd[t + "attn_gate"] = torch.zeros(1)  # the 0.8B code keeps an unused gate
        f = f"blocks.{i}.ffn."
        sd[f + "up.weight"], sd[f + "down.weight"] = b.ffn.up.weight, b.ffn.down.weight
        sd[f + "norm.weight"], sd[f + "norm.bias"] = b.ffn.norm.weight, b.ffn.norm.bias
    return {k: v.detach().clone() for k, v in sd.items()}


def _reference_config(cfg) -> dict:
    return {"vocab_size": cfg.vocab_size, "embed_dim": cfg.embed_dim, "n_layers": cfg.n_layers,
            "n_heads": cfg.n_heads, "head_dim": cfg.head_dim, "intermediate_dim": cfg.intermediate_dim,
            "max_seq_len": cfg.max_seq_len, "spike_chunk_size": 64, "dropout": 0.1, "spike_threshold": 1.0,
            "leak_factor": 0.95, "entropy_exit_threshold": 0.3, "enable_entropy_exit": False,
            "rope_theta": 10000.0, "frontend_mode": "text", "sparse_attn_window": cfg.window,
            "n_global_anchors": cfg.n_anchors, "enable_sparse_attn": cfg.attention,
            "enable_dynamic_prior": cfg.dynamic_prior}


def _perturb(model):
    """Move every parameter off its init so that a wrong mapping cannot pass by coincidence."""
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("release,overrides", [
    ("194m", []), ("0.8b", ["learnable_prior_weight=true"]),
    ("194m", ["dynamic_prior=false"]), ("0.8b", ["attention=false", "learnable_prior_weight=true"]),
])
def test_reference_checkpoint_round_trip(tmp_path, release, overrides):
    source = tiny_model(overrides)
    _perturb(source)
    state = _reference_state(source, release)
    state = {("module._orig_mod." + k if release == "0.8b" else k): v for k, v in state.items()}
    state["spike_encoder.v_mem"] = torch.zeros(2, source.cfg.embed_dim)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": state, "config": _reference_config(source.cfg), "step": 5}, path)
    loaded, report = load_reference_checkpoint(path)
    assert loaded.cfg.learnable_prior_weight == (release == "0.8b")
    assert loaded.cfg.attention == source.cfg.attention and loaded.cfg.window == source.cfg.window
    idx = tokens(2, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(idx).logits, source(idx).logits, rtol=0, atol=1e-5)
    assert torch.equal(loaded.head.unembed.weight, source.head.unembed.weight)
    n_tensors = len([k for k in state if "v_mem" not in k])
    assert len(report.loaded) + len(report.verified) + len(report.dropped) == n_tensors + 1


def test_bare_state_dict_infers_the_shape():
    source = tiny_model()
    loaded, report = model_from_reference(_reference_state(source, "194m"),
                                          overrides=["window=16", "max_seq_len=128"])
    assert (loaded.cfg.embed_dim, loaded.cfg.n_layers, loaded.cfg.n_heads) == (64, 2, 4)
    assert loaded.cfg.intermediate_dim == 192 and not loaded.cfg.learnable_prior_weight
    idx = tokens(1, 30)
    with torch.no_grad():
        torch.testing.assert_close(loaded(idx).logits, source(idx).logits, rtol=0, atol=1e-5)


def test_mismatches_are_user_errors(tmp_path):
    source = tiny_model()
    state = _reference_state(source, "0.8b")
    cfg = _reference_config(source.cfg)
    with pytest.raises(UserError, match="_cached_mask"):
        model_from_reference({"model": state, "config": {**cfg, "sparse_attn_window": 8}})
    with pytest.raises(UserError, match="inv_freq"):
        model_from_reference({"model": state, "config": {**cfg, "rope_theta": 500.0}})
    with pytest.raises(UserError, match="unknown entry"):
        model_from_reference({"model": {**state, "blocks.0.tcam.stdp_trace": torch.zeros(3)}, "config": cfg})
    with pytest.raises(UserError, match="not a SymbolicLight"):
        model_from_reference({"model": {"foo.weight": torch.zeros(2)}})
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        load_reference_checkpoint(bad)
    with pytest.raises(UserError, match="not found"):
        load_reference_checkpoint(tmp_path / "missing.pt")
