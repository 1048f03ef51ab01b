"""Unit tests of the training pieces on real networks: param groups, schedule, sparsity meter, logs."""

from __future__ import annotations

import dataclasses
import io
import math

import pytest
import torch
from symboliclight.model.build import build_model
from symboliclight.model.callbacks import (
    NeuronSparsityMeter,
    analytic_flops_per_token,
    device_peak_flops,
    measure_flops_per_token,
    sparsity_metrics,
)
from symboliclight.model.config import load_model_config
from symboliclight.model.gpt2 import matched_gpt2_config
from symboliclight.model.optim import OptimConfig, WarmupCosine, build_optimizer, lr_at, split_decay
from symboliclight.model.run_logging import RunCSVLogger, read_metrics
from symboliclight.model.train_config import load_train_config, shipped_train_names
from symboliclight.pipeline.errors import UserError


def _tiny(**kw):
    return dataclasses.replace(load_model_config("tiny"), **kw)


def test_weight_decay_groups_follow_the_reference():
    net = build_model(_tiny(learnable_prior_weight=True))
    decay, no_decay = split_decay(net, OptimConfig())
    assert all(".norm." in n or n.endswith("prior_weight") for n in no_decay)
    assert "head.prior_weight" in no_decay and "encoder.norm.weight" in no_decay and "blocks.0.ffn.norm.bias" in no_decay
    # decayed as in the reference: embeddings, unembedding, prior net, decay logits, gate logits
    for name in ("embed.weight", "head.unembed.weight", "head.prior_in.weight", "blocks.0.mixer.gate_logit"):
        assert name in decay
    assert any(n.endswith("logit") and "decay" in n for n in decay)
    assert len(decay) + len(no_decay) == len(list(net.parameters()))
    gpt = build_model(matched_gpt2_config(_tiny()))
    _, gpt_no = split_decay(gpt, OptimConfig())
    assert {n for n in gpt_no} == {n for n, _ in gpt.named_parameters() if ".ln_" in n or n.startswith("ln_f") or n.endswith("bias")}
    opt = build_optimizer(net, OptimConfig())
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0] and opt.defaults["betas"] == (0.9, 0.95)


def test_schedule_warmup_cosine_floor_and_scale():
    peak, warm, total, floor = 3e-4, 10, 110, 1e-5
    assert lr_at(0, peak, warm, total, floor) == pytest.approx(peak / warm)
    assert lr_at(9, peak, warm, total, floor) == pytest.approx(peak)
    assert lr_at(60, peak, warm, total, floor) == pytest.approx((peak + floor) / 2)
    assert lr_at(110, peak, warm, total, floor) == lr_at(500, peak, warm, total, floor) == floor
    values = [lr_at(s, peak, warm, total, floor) for s in range(warm, total + 1)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    net = torch.nn.Linear(4, 4)
    opt = torch.optim.AdamW(net.parameters(), lr=peak)
    sched = WarmupCosine(opt, peak, warm, total, floor)
    for _ in range(30):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_at(30, peak, warm, total, floor))
    sched.set_peak_scale(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_at(30, peak / 2, warm, total, floor))
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other = WarmupCosine(torch.optim.AdamW(net.parameters(), lr=peak), peak, warm, 2 * total, floor)
    other.load_state_dict(state)
    assert other.last_epoch == 30 and other.peak_scale == 0.5 and other.decay_steps == 2 * total


def test_neuron_meter_matches_direct_counts_on_a_real_forward():
    torch.manual_seed(0)
    net = build_model(_tiny(vocab_size=300)).eval()
    meter = NeuronSparsityMeter(net.cfg.n_layers)
    net.sparsity = meter
    captured = {}
    hooks = [net.encoder.register_forward_hook(lambda m, i, o: captured.__setitem__(0, o[0]))]
    for li, block in enumerate(net.blocks, start=1):
        hooks.append(block.register_forward_hook(lambda m, i, o, li=li: captured.__setitem__(li, o)))
    idx = torch.randint(0, 300, (3, 40))
    with torch.no_grad():
        net(idx)
    m = sparsity_metrics(meter, "s")
    assert m["s/L0/encoder"] == pytest.approx(1 - captured[0].mean().item())
    ones = captured[0].sum().item()
    elements = captured[0].numel()
    for li in range(1, net.cfg.n_layers + 1):
        spikes, _, mixed, hidden = captured[li]
        assert m[f"s/L{li}/block_out"] == pytest.approx(1 - spikes.mean().item())
        assert m[f"s/L{li}/ffn_hidden"] == pytest.approx(1 - hidden.mean().item())
        assert m[f"s/L{li}/mixer"] == pytest.approx(1 - (mixed >= net.cfg.threshold).float().mean().item())
        ones += spikes.sum().item()
        elements += spikes.numel()
    assert m["s/global"] == pytest.approx(1 - ones / elements)  # element-weighted encoder + block outputs
    per_channel = captured[0].reshape(-1, captured[0].shape[-1]).sum(0)
    dead_enc = (per_channel == 0).float().mean().item()
    assert m["s/dead_frac/encoder"] == pytest.approx(dead_enc)
    for h in hooks:
        h.remove()


def test_dead_and_always_on_fractions():
    meter = NeuronSparsityMeter(1)
    spikes = torch.zeros(2, 5, 4)
    spikes[..., 1] = 1.0  # always on
    spikes[0, :, 2] = 1.0  # sometimes on
    meter.record(0, "encoder", spikes)
    s = meter.neuron_summary()
    assert s["dead_frac/encoder"] == 0.5 and s["always_on_frac/encoder"] == 0.25
    meter.enabled = False
    meter.record(0, "encoder", torch.ones(2, 5, 4))
    assert meter.neuron_summary() == s


def test_flops_per_token_and_peak_table():
    # GPT-2 runs on the meta device: the counted FLOPs agree with the analytic 6N + 12·L·D·S estimate.
    gcfg = matched_gpt2_config(_tiny(vocab_size=300))
    measured = measure_flops_per_token(lambda: build_model(gcfg), 32)
    analytic = analytic_flops_per_token(build_model(gcfg), gcfg.n_layer, gcfg.n_embd, 32)
    assert measured is not None and measured == pytest.approx(analytic, rel=0.15)
    assert device_peak_flops(torch.device("cpu"), "32-true", None) is None
    assert device_peak_flops(torch.device("cpu"), "32-true", 1.5) == (1.5e12, "configured")


def test_csv_logger_appends_across_resumes(tmp_path):
    a = RunCSVLogger(tmp_path)
    a.log_metrics({"train/loss": 2.0}, step=1)
    a.log_metrics({"train/loss": 1.5}, step=2)
    b = RunCSVLogger(tmp_path)  # a resumed run: steps after the checkpoint are logged again
    b.log_metrics({"train/loss": 1.4, "val/loss": 1.9}, step=2)
    b.log_metrics({"train/loss": 1.2}, step=3)
    m = read_metrics(tmp_path)
    assert m["train/loss"] == {1: 2.0, 2: 1.4, 3: 1.2} and m["val/loss"] == {2: 1.9}


def test_shipped_configs_load_and_bad_keys_fail():
    assert {"tiny-cpu", "194m", "0.8b"} <= set(shipped_train_names())
    for name in ("tiny-cpu", "194m", "0.8b"):
        cfg = load_train_config(name)
        assert cfg.optim.betas == (0.9, 0.95) and cfg.trainer.gradient_clip == 1.0
    big = load_train_config("0.8b")
    assert big.trainer.strategy == "fsdp" and big.tokens_per_step(8) == 512 * 512
    with pytest.raises(UserError, match="unknown key 'lrr'"):
        load_train_config("tiny-cpu", ["optim.lrr=1"])
    with pytest.raises(UserError, match="expected an integer"):
        load_train_config("tiny-cpu", ["trainer.max_steps=1.5"])
    with pytest.raises(UserError, match="must be >= 1"):
        load_train_config("tiny-cpu", ["trainer.max_steps=0"])
    assert math.isclose(load_train_config("194m").tokens_per_step(1), 262144)
