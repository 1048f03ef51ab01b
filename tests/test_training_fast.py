"""Fast training-step kernels (issue 10, the tiny model at context 2048): the fused cross-entropy
against `objective.cross_entropy`, the merged prior-head GEMM against the module head, the direct
local attention over many query tiles and work items against the dense-mask oracle, and every
OpenMP-parallel kernel giving the same bits whatever the thread count."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import (
    VARIANTS,
    assert_rel,
    assert_same_values_and_grads,
    dense_local_attention,
    tiny_model,
    tokens,
)
from symboliclight.model import native
from symboliclight.model.attention import rope_inv_freq, rope_tables
from symboliclight.model.decay import decay_scan
from symboliclight.model.fused_loss import fused_cross_entropy
from symboliclight.model.local_attention import fused_local_attention
from symboliclight.model.objective import cross_entropy
from symboliclight.model.spike_kernels import count_at_least, gate_mix, lif_scan_fast, spike_fast_counted

pytestmark = pytest.mark.skipif(native.kernels() is None, reason="no C compiler: native kernels unavailable")


# --- fused cross-entropy ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 37, 11), (3, 50, 512), (1, 300, 100)])
@pytest.mark.parametrize("upstream", [1.0, 0.37])
def test_fused_cross_entropy_equals_oracle(shape, upstream):
    """Loss and logit gradient (also under a non-unit incoming gradient) over vocabularies that are
    and are not multiples of the kernel's 16 lanes, with very spread logits (large exponents)."""
    torch.manual_seed(sum(shape))
    x = (torch.randn(*shape) * 6).requires_grad_()
    t = torch.randint(0, shape[-1], shape[:-1])
    fast, ref = fused_cross_entropy(x, t), cross_entropy(x, t)
    assert fast.shape == ref.shape == ()
    assert_rel(fast, ref)
    (g_fast,) = torch.autograd.grad(fast * upstream, x)
    (g_ref,) = torch.autograd.grad(ref * upstream, x)
    assert_rel(g_fast, g_ref)
    # the gradient of the mean loss sums to zero on every row (softmax minus one-hot)
    assert float(g_fast.sum(-1).abs().max()) < 1e-6


def test_fused_cross_entropy_falls_back_where_the_kernel_cannot_run():
    x = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 7, (2, 5))
    assert torch.equal(fused_cross_entropy(x, t), cross_entropy(x, t))  # fp64: the oracle's own path
    bad = t.clone()
    bad[1, 3] = 7  # out of range: PyTorch's own error, not a read past the row
    with pytest.raises((IndexError, RuntimeError)):
        fused_cross_entropy(x.float(), bad)


def test_merged_prior_head_equals_module_head():
    """The fast path's one GEMM over [c, w_p·GELU(W_1·c)] and [W_o, W_2] is the head's function."""
    model = tiny_model(["dropout=0.0"] + VARIANTS["learnable_prior"], eval_mode=False)
    c = torch.randn(2, 9, model.cfg.embed_dim, requires_grad=True)
    fast, ref = model._head(c), model.head(c)
    assert_rel(fast, ref)
    params = [c, *model.head.parameters()]
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad((fast * g).sum(), params), torch.autograd.grad((ref * g).sum(), params),
                    strict=True):
        assert_rel(a, b)


# --- direct local attention over many tiles --------------------------------------------------------

def test_direct_attention_many_tiles_and_work_items():
    """S spans several 32-query tiles with a ragged end, 3 sequences x 4 heads run as parallel work
    items, anchors and silent stretches included; values and gradients against the dense mask."""
    torch.manual_seed(5)
    B, S, H, d, W, A = 3, 157, 4, 16, 16, 4
    qkv = torch.randn(B, S, 3 * H * d, requires_grad=True)
    active = torch.rand(B, S) < 0.7
    active[1, 40:90] = False
    tables = rope_tables(torch.arange(S), rope_inv_freq(d, 10000.0), torch.float32)
    fast = fused_local_attention(qkv, active, (H, d), window=W, n_anchors=A, block=64, rope=tables)
    assert_same_values_and_grads(fast, dense_local_attention(qkv, active, H, d, W, A), qkv)


# --- thread-count invariance -----------------------------------------------------------------------

def _kernel_outputs() -> list[torch.Tensor]:
    torch.manual_seed(11)
    outs: list[torch.Tensor] = []
    B, S, H, d = 2, 300, 4, 16
    qkv = torch.randn(B, S, 3 * H * d, requires_grad=True)
    active = torch.rand(B, S) < 0.8
    tables = rope_tables(torch.arange(S), rope_inv_freq(d, 10000.0), torch.float32)
    att = fused_local_attention(qkv, active, (H, d), window=16, n_anchors=4, block=64, rope=tables)
    outs += [att, *torch.autograd.grad((att * torch.randn_like(att)).sum(), qkv)]
    u = torch.randn(B, S, H, d, requires_grad=True)
    logit = torch.full((H,), 3.0, requires_grad=True)
    ctx, _ = decay_scan(u, logit)
    outs += [ctx, *torch.autograd.grad((ctx * torch.randn_like(ctx)).sum(), (u, logit))]
    a, x = torch.randn(B, S, H * d * 3, requires_grad=True), torch.randn(B, S, H * d * 3, requires_grad=True)
    gate = torch.zeros(1, requires_grad=True)
    mixed = gate_mix(a, x, gate)
    outs += [mixed, *torch.autograd.grad((mixed * torch.randn_like(mixed)).sum(), (a, x, gate))]
    h = torch.randn(B, S, 192, requires_grad=True) * 1.5
    z, ones = spike_fast_counted(h, 1.0, 2.0)
    outs += [z, ones, count_at_least(h, 1.0), *torch.autograd.grad((z * torch.randn_like(z)).sum(), h)]
    spikes, v = lif_scan_fast(torch.randn(B, S, 64), torch.zeros(B, 64), 0.95, 1.0, 3.0, 2.0)
    outs += [spikes, v]
    logits = torch.randn(B, S, 512, requires_grad=True)
    loss = fused_cross_entropy(logits, torch.randint(0, 512, (B, S)))
    outs += [loss, *torch.autograd.grad(loss, logits)]
    return [o.detach() for o in outs]


def test_parallel_kernels_give_the_same_bits_with_one_or_two_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _kernel_outputs()
        torch.set_num_threads(2)
        two = _kernel_outputs()
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


def test_training_step_is_deterministic():
    """Two identical steps of the whole fast network: the same loss and gradient bits."""
    def step():
        model = tiny_model(["dropout=0.0"], eval_mode=False)
        idx = tokens(2, 150)
        out = model(idx, idx.roll(-1, 1))
        out.loss.backward()
        return out.loss.detach(), [p.grad.clone() for p in model.parameters()]

    (l1, g1), (l2, g2) = step(), step()
    assert torch.equal(l1, l2)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True))



def test_fused_cross_entropy_two_losses_before_backward():
    """Gradient accumulation order: both forwards first, then both backwards (each loss keeps its
    own gradient buffer)."""
    x = torch.randn(6, 9, requires_grad=True)
    t = torch.randint(0, 9, (6,))
    l1, l2 = fused_cross_entropy(x, t), fused_cross_entropy(x * 3, t)
    (g1,) = torch.autograd.grad(l1, x)
    (g2,) = torch.autograd.grad(l2, x)
    (r1,) = torch.autograd.grad(cross_entropy(x, t), x)
    (r2,) = torch.autograd.grad(cross_entropy(x * 3, t), x)
    assert_rel(g1, r1)
    assert_rel(g2, r2)
