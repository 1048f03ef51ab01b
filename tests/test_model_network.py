"""The whole network: gradient flow in every variant, no cross-sample leakage, sparsity counters,
early exit, z-loss / auxiliary loss, activation checkpointing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from model_fixtures import VARIANTS, tiny_model, tokens


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gradients_reach_every_parameter(variant):
    model = tiny_model(VARIANTS[variant] + ["z_loss_weight=0.0001", "aux_loss_layers=[1]", "aux_loss_weight=0.1"],
                       eval_mode=False)
    idx = tokens(2, 48)
    out = model(idx, idx.roll(-1, 1))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert torch.count_nonzero(p.grad) > 0, name


@pytest.mark.parametrize("variant", ["full", "topk", "no_decay"])
def test_no_cross_sample_leakage(variant):
    model = tiny_model(VARIANTS[variant])
    a = tokens(1, 40, seed=3)
    others = tokens(3, 40, seed=4)
    with torch.no_grad():
        alone = model(a).logits
        batched = model(torch.cat([others[:1], a, others[1:]])).logits[1:2]
        changed = tokens(3, 40, seed=5)
        batched2 = model(torch.cat([changed[:1], a, changed[1:]])).logits[1:2]
    torch.testing.assert_close(batched, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(batched2, batched, rtol=0, atol=1e-5)


def _direct_counts(model, idx):
    """Recount every spike site by running the modules by hand."""
    theta = model.cfg.threshold
    counts = {}
    with torch.no_grad():
        spikes, cont, _ = model.encoder(model.embed(idx))
        counts[(0, "encoder")] = (int((spikes != 0).sum()), spikes.numel())
        for i, block in enumerate(model.blocks, start=1):
            mixed = block.mixer(spikes, cont)
            counts[(i, "mixer")] = (int((mixed >= theta).sum()), mixed.numel())
            cont, hidden = block.ffn(mixed)
            counts[(i, "ffn_hidden")] = (int((hidden != 0).sum()), hidden.numel())
            spikes = (cont >= theta).float()
            counts[(i, "block_out")] = (int(spikes.sum()), spikes.numel())
    return counts


def test_sparsity_counters_equal_direct_count():
    model = tiny_model()
    idx = tokens(3, 50)
    model.sparsity.reset()
    with torch.no_grad():
        model(idx)
    direct = _direct_counts(model, idx)
    got = {(c.layer, c.site): (c.ones, c.elements) for c in model.sparsity.counts()}
    assert got == direct
    assert direct[(1, "ffn_hidden")][1] == 3 * 50 * model.cfg.intermediate_dim
    summary = model.sparsity.summary()
    head_ones = sum(o for (layer, site), (o, _) in direct.items() if site in ("encoder", "block_out"))
    head_elems = sum(e for (layer, site), (_, e) in direct.items() if site in ("encoder", "block_out"))
    assert summary["headline"] == pytest.approx(1 - head_ones / head_elems)
    assert 0.5 < summary["headline"] < 1.0
    # counts accumulate, reset clears, disabled meters do not count
    with torch.no_grad():
        model(idx)
    assert [c.ones for c in model.sparsity.counts()] == [2 * direct[(c.layer, c.site)][0]
                                                       for c in model.sparsity.counts()]
    model.sparsity.reset()
    model.sparsity.enabled = False
    with torch.no_grad():
        model(idx)
    assert all(c.ones == 0 and c.elements == 0 for c in model.sparsity.counts())


def test_grad_checkpoint_same_gradients_and_counts():
    idx = tokens(2, 40)
    grads, counts = [], []
    for ckpt in (False, True):
        model = tiny_model([f"grad_checkpoint={str(ckpt).lower()}", "dropout=0.0"], eval_mode=False)
        model(idx, idx).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        counts.append([(c.ones, c.elements) for c in model.sparsity.counts()])
    assert counts[0] == counts[1]  # recomputation in backward is not counted twice
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7)


def test_entropy_early_exit():
    model = tiny_model()
    idx = tokens(2, 20)
    with torch.no_grad():
        full = model(idx)
        assert full.exit_layer is None
        exited = model(idx, early_exit=True)  # threshold 0.3 nats: an untrained model never exits
        assert exited.exit_layer is None and torch.equal(exited.logits, full.logits)
        model.cfg.entropy_exit_threshold = 100.0  # everything is "confident": exit after block 1
        early = model(idx, early_exit=True)
        spikes, cont, _ = model.encoder(model.embed(idx))
        _, c1, _, _ = model.blocks[0](spikes, cont)
        assert early.exit_layer == 1
        torch.testing.assert_close(early.logits, model.head(c1))
    model.train()
    assert model(idx, early_exit=True).exit_layer is None  # inference only


def test_z_loss_and_aux_loss_values():
    model = tiny_model(["z_loss_weight=0.001", "z_loss_samples=0", "aux_loss_layers=[1]", "aux_loss_weight=0.2"])
    idx, tgt = tokens(2, 30), tokens(2, 30, seed=9)
    with torch.no_grad():
        out = model(idx, tgt)
        ce = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), tgt.reshape(-1))
        z = torch.logsumexp(out.logits, -1).pow(2).mean()
        spikes, cont, _ = model.encoder(model.embed(idx))
        _, c1, _, _ = model.blocks[0](spikes, cont)
        aux = F.cross_entropy(model.head(c1).reshape(-1, out.logits.shape[-1]), tgt.reshape(-1))
    torch.testing.assert_close(out.ce, ce)
    torch.testing.assert_close(out.z_loss, z)
    torch.testing.assert_close(out.aux_loss, aux)
    torch.testing.assert_close(out.loss, ce + 1e-3 * z + 0.2 * aux)
    sampled = tiny_model(["z_loss_weight=0.0001"])
    torch.manual_seed(0)
    a = sampled(idx, tgt).z_loss
    torch.manual_seed(0)
    assert torch.equal(a, sampled(idx, tgt).z_loss)  # seeded sampling is deterministic


def test_same_seed_same_weights_and_outputs():
    a, b = tiny_model(seed=7), tiny_model(seed=7)
    idx = tokens(2, 16)
    with torch.no_grad():
        assert torch.equal(a(idx).logits, b(idx).logits)
    assert not torch.equal(tiny_model(seed=8).embed.weight, a.embed.weight)


def test_init_values():
    model = tiny_model(["learnable_prior_weight=true"])
    assert torch.all(model.blocks[0].mixer.decay.logit == 3.0)
    assert float(model.head.prior_weight.detach()) == pytest.approx(0.1)
    std = model.blocks[0].ffn.up.weight.std().item()
    assert abs(std - model.cfg.init_std) < 0.1 * model.cfg.init_std
    static = tiny_model(["dynamic_prior=false"])
    assert torch.count_nonzero(static.head.log_prior) == 0


def test_gpt2_baseline_trains_every_parameter():
    from symboliclight.model.build import build_model
    from symboliclight.model.config import GPT2Config

    torch.manual_seed(0)
    model = build_model(GPT2Config(vocab_size=512, n_layer=2, n_head=2, n_embd=32, block_size=64, dropout=0.1,
                                   z_loss_weight=0.0001))
    idx = tokens(2, 40)
    out = model(idx, idx.roll(-1, 1))
    out.loss.backward()
    assert out.z_loss is not None and torch.isfinite(out.loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_sparsity_all_reduce_in_a_one_rank_group(tmp_path):
    import torch.distributed as dist

    model = tiny_model()
    with torch.no_grad():
        model(tokens(2, 20))
    before = [(c.ones, c.elements) for c in model.sparsity.counts()]
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        model.sparsity.all_reduce()
    finally:
        dist.destroy_process_group()
    assert [(c.ones, c.elements) for c in model.sparsity.counts()] == before
