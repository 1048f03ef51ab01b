"""Surrogate spike, LIF scan (forward trace and local backward) and the top-k encoder mask."""

from __future__ import annotations

import math

import pytest
import torch
from symboliclight.model.spiking import lif_scan, lif_scan_reference, spike, surrogate_grad, topk_spike

ALPHA, THETA = 2.0, 1.0


def _primitive(u: torch.Tensor) -> torch.Tensor:
    """arctan(α(u − θ))/α, whose derivative is the surrogate 1 / (1 + (α(u − θ))²)."""
    return torch.atan(ALPHA * (u - THETA)) / ALPHA


def test_surrogate_backward_equals_analytic_formula():
    u = torch.linspace(-3, 5, 401, dtype=torch.float64, requires_grad=True)
    g = torch.randn(401, dtype=torch.float64)
    (spike(u, THETA, ALPHA) * g).sum().backward()
    expected = g / (1 + (ALPHA * (u.detach() - THETA)) ** 2)
    torch.testing.assert_close(u.grad, expected, rtol=0, atol=1e-15)
    # peak 1 at θ, half maximum at |u − θ| = 1/α
    assert surrogate_grad(torch.tensor(1.0), THETA, ALPHA) == 1.0
    assert math.isclose(float(surrogate_grad(torch.tensor(1.5), THETA, ALPHA)), 0.5)


def test_surrogate_is_the_derivative_of_arctan_primitive_numerically():
    """Central finite differences of arctan(α(u−θ))/α reproduce our backward (a gradcheck of the
    formula); gradcheck on the spike itself does not apply, its true derivative is 0 almost everywhere."""
    u = torch.linspace(-2, 4, 97, dtype=torch.float64, requires_grad=True)
    spike(u, THETA, ALPHA).sum().backward()
    h = 1e-6
    numeric = (_primitive(u.detach() + h) - _primitive(u.detach() - h)) / (2 * h)
    torch.testing.assert_close(u.grad, numeric, rtol=1e-7, atol=1e-9)
    assert torch.autograd.gradcheck(lambda x: surrogate_grad(x, THETA, ALPHA), (u.detach().clone().requires_grad_(),))


def test_spike_forward_is_heaviside_with_h0_equal_1():
    u = torch.tensor([0.999, 1.0, 1.001, -5.0, 7.0])
    assert spike(u).tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_lif_trace_by_hand():
    # one channel: leak 0.95, threshold 1, clamp ±3, hard reset
    x = torch.tensor([[0.6, 0.6, 0.6, 5.0, -5.0, -5.0, 0.0, 2.0]]).unsqueeze(-1)
    spikes, v = lif_scan(x)
    v_expected, out = 0.0, []
    for xt in x[0, :, 0].tolist():
        v_expected = min(3.0, max(-3.0, 0.95 * v_expected + xt))
        s = 1.0 if v_expected >= 1.0 else 0.0
        out.append(s)
        v_expected *= 1.0 - s
    assert spikes[0, :, 0].tolist() == out == [0, 1, 0, 1, 0, 0, 0, 0]
    assert math.isclose(float(v[0, 0]), v_expected, rel_tol=1e-6)


def test_lif_membrane_carries_across_calls():
    x = torch.randn(3, 50, 16)
    full, v_full = lif_scan(x)
    a, v_a = lif_scan(x[:, :23])
    b, v_b = lif_scan(x[:, 23:], v_a)
    assert torch.equal(torch.cat([a, b], 1), full) and torch.equal(v_b, v_full)


def test_lif_local_backward():
    """∂L/∂x_t = ∂L/∂s_t · σ'(v_t), v_t the clamped membrane before reset; nothing through time."""
    torch.manual_seed(0)
    x = (torch.randn(2, 40, 8, dtype=torch.float64) * 1.5).requires_grad_()
    g = torch.randn(2, 40, 8, dtype=torch.float64)
    spikes, _ = lif_scan(x)
    (spikes * g).sum().backward()
    _, pre_reset, _ = lif_scan_reference(x.detach(), torch.zeros(2, 8, dtype=torch.float64), 0.95, 1.0, 3.0)
    torch.testing.assert_close(x.grad, g * surrogate_grad(pre_reset, 1.0, 2.0), rtol=0, atol=1e-15)
    # the same gradient from autograd on a smooth twin whose history is detached
    x2 = x.detach().clone().requires_grad_()
    twin = _primitive(pre_reset + (x2 - x2.detach()))
    (twin * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    # a gradient at step t touches only x_t: perturbing the loss at t=30 leaves x[:, :30] ungraded
    x3 = x.detach().clone().requires_grad_()
    lif_scan(x3)[0][:, 30].sum().backward()
    assert torch.count_nonzero(x3.grad[:, :30]) == 0 and torch.count_nonzero(x3.grad[:, 31:]) == 0


def test_lif_fires_about_nine_percent_on_unit_gaussians():
    torch.manual_seed(0)
    spikes, _ = lif_scan(torch.randn(4, 512, 256))
    assert 0.07 < float(spikes.mean()) < 0.10  # spec §2.2: about 8-9%, i.e. about 91% sparsity


@pytest.mark.parametrize("k", [1, 5, 84])
def test_topk_mask_and_straight_through_gradient(k):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 96, dtype=torch.float64, requires_grad=True)
    mask = topk_spike(x, k)
    assert torch.all(mask.sum(-1) == k)
    kth = x.detach().abs().topk(k, -1).values[..., -1:]
    assert torch.equal(mask.bool(), x.detach().abs() >= kth)
    g = torch.randn_like(x)
    (mask * g).sum().backward()
    torch.testing.assert_close(x.grad, g * surrogate_grad(x.detach(), 1.0, 2.0), rtol=0, atol=1e-15)
