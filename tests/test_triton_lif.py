"""The Triton LIF scan (the CUDA path of `lif_scan_fast`) against the oracle, bit for bit.

On a CUDA machine (`bench/gpu_check.sh`) the compiled kernel runs on the GPU; elsewhere Triton's CPU
interpreter runs the kernel's own source (the same loads, masks, roundings and loop structure)."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import assert_rel
from symboliclight.model import native, spike_kernels, triton_lif
from symboliclight.model.spiking import lif_scan, lif_scan_reference, surrogate_grad

LIF = {"leak": 0.95, "threshold": 1.0, "clamp": 3.0}
ALPHA = 2.0


@pytest.fixture
def device(monkeypatch) -> torch.device:
    """cuda when there is a GPU, else the CPU under Triton's interpreter."""
    assert triton_lif.available(), "triton is a dev dependency: setup.sh installs it"
    if torch.cuda.is_available():
        return torch.device("cuda")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return torch.device("cpu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(3, 37, 70), (1, 16, 300), (2, 5, 1), (1, 1, 129)])
def test_triton_scan_equals_oracle_bitwise(device, dtype, shape):
    """Spikes, σ'(pre-reset membrane) and the final membrane equal the oracle's in every dtype, with
    time not a multiple of the unrolled chunk and channels not a multiple of the block."""
    B, S, D = shape
    g = torch.Generator().manual_seed(S * D)
    x = (torch.randn(B, S, D, generator=g) * 1.3 + 0.2).to(device, dtype)  # fires and clamps both occur
    v0 = (torch.randn(B, D, generator=g) * 2).to(device, dtype)
    spikes, sg, v_last = triton_lif.lif_forward(x, v0, **LIF, alpha=ALPHA)
    ref_spikes, pre_reset, ref_v = lif_scan_reference(x, v0, **LIF)
    assert 0.02 < float(ref_spikes.float().mean()) < 0.6
    assert torch.equal(spikes, ref_spikes)
    assert torch.equal(sg, surrogate_grad(pre_reset, LIF["threshold"], ALPHA))
    assert torch.equal(v_last, ref_v)
    assert spikes.dtype == sg.dtype == v_last.dtype == dtype


def test_triton_scan_empty_sequence_keeps_membrane(device):
    x, v0 = torch.zeros(2, 0, 8, device=device), torch.randn(2, 8, device=device)
    spikes, sg, v_last = triton_lif.lif_forward(x, v0, **LIF, alpha=ALPHA)
    assert spikes.shape == sg.shape == (2, 0, 8)
    assert torch.equal(v_last, v0)


def test_lif_scan_fast_routes_to_triton_without_native_and_matches_gradients(device, monkeypatch):
    """With the native kernels off, `lif_scan_fast` takes the Triton kernel (not the Python loop), and
    its spikes, final membrane and input gradient equal the oracle's `lif_scan`."""
    monkeypatch.setattr(native, "kernels", lambda: None)
    calls = []
    real = triton_lif.lif_forward
    monkeypatch.setattr(triton_lif, "lif_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(2, 40, 24, generator=g) * 1.3).to(device).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    v0 = torch.randn(2, 24, generator=g).to(device)
    grad = torch.randn(2, 40, 24, generator=g).to(device)

    spikes, v = spike_kernels.lif_scan_fast(x, v0, **LIF, alpha=ALPHA)
    (spikes * grad).sum().backward()
    ref_spikes, ref_v = lif_scan(x_ref, v0, **LIF, alpha=ALPHA)
    (ref_spikes * grad).sum().backward()

    assert calls == [1]
    assert torch.equal(spikes, ref_spikes) and torch.equal(v, ref_v)
    assert_rel(x.grad, x_ref.grad)


def test_triton_is_not_used_for_cpu_tensors_outside_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = torch.zeros(1, 4, 4)
    assert not triton_lif.usable(x, x[:, 0])
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert triton_lif.usable(x, x[:, 0])
    assert not triton_lif.usable(x.double(), x[:, 0].double())  # fp64 stays on the oracle path


def test_fallback_on_cuda_is_announced_once(monkeypatch):
    """A CUDA tensor the kernel cannot take falls back to the Python loop with one warning naming why."""
    triton_lif.warn_fallback_once.cache_clear()
    x = torch.zeros(1, 2, 3, dtype=torch.float64)
    with pytest.warns(UserWarning, match="float64 has no kernel"):
        triton_lif.warn_fallback(x)
    monkeypatch.setattr(triton_lif, "available", lambda: False)
    with pytest.warns(UserWarning, match="Triton is not installed"):
        triton_lif.warn_fallback(x.float())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        triton_lif.warn_fallback(x.float())  # the same reason again: silent
    triton_lif.warn_fallback_once.cache_clear()
