"""The encoder's LIF scan as one Triton kernel, for CUDA tensors.

On a GPU the oracle's time loop costs S steps of ~8 tiny kernels each (about 16k launches at
S = 2048), far more than the rest of a 125M model's step; the native C scan is CPU-only. This
kernel keeps each channel's membrane in a register and walks time inside one launch: programs
cover (batch row, block of channels); within a program, time advances in unrolled chunks whose
loads do not depend on the membrane, so they are issued ahead of the dependent arithmetic.

Values equal the oracle's: every operation is rounded to the tensor's dtype exactly where PyTorch
rounds it (fp32 arithmetic for bf16/fp16 with a rounding after each op, no fused multiply-add, an
IEEE division), so spikes, σ'(v) and the final membrane match bit for bit.

Kernels are compiled on first use, not at import, so `TRITON_INTERPRET=1` set by a test (Triton's
CPU interpreter over CPU tensors) takes effect; the CPU test suite checks this file that way.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
CHUNK = 16  # timesteps per unrolled step of the loop
_MODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}


@functools.cache
def available() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def usable(x: Tensor, v0: Tensor) -> bool:
    """True when the kernel can run on these tensors: CUDA (or Triton's interpreter on CPU), one of
    `DTYPES`, and Triton installed."""
    on_device = x.is_cuda or (interpreting() and x.device.type == "cpu")
    return on_device and x.dtype in DTYPES and v0.device == x.device and available()


@functools.cache
def warn_fallback_once(reason: str) -> None:
    warnings.warn(f"LIF scan on CUDA runs the Python time loop (S steps of small kernels): {reason}",
                  stacklevel=4)


def warn_fallback(x: Tensor) -> None:
    """Say once why a CUDA tensor did not get the kernel (Triton missing, or an fp64 tensor)."""
    warn_fallback_once("Triton is not installed" if not available() else f"{x.dtype} has no kernel")


def _kernels():
    """The kernel module, imported at first use (Triton reads TRITON_INTERPRET when it compiles)."""
    from . import triton_lif_kernels

    return triton_lif_kernels


def lif_forward(x: Tensor, v0: Tensor, leak: float, threshold: float, clamp: float, alpha: float
                ) -> tuple[Tensor, Tensor, Tensor]:
    """x [B, S, D], v0 [B, D] → (spikes, σ'(pre-reset membrane), final membrane), all in x's dtype."""
    import triton

    x, v0 = x.contiguous(), v0.to(x.dtype).contiguous()
    B, S, D = x.shape
    spikes, sg, v_last = torch.empty_like(x), torch.empty_like(x), torch.empty_like(v0)
    if x.numel() == 0:
        v_last.copy_(v0)
        return spikes, sg, v_last
    block = min(128, triton.next_power_of_2(D))
    grid = (B, triton.cdiv(D, block))
    _kernels().lif_fwd[grid](x, v0, spikes, sg, v_last, S, D, leak, threshold, clamp, alpha,
                                  BLOCK=block, STEPS=CHUNK, MODE=_MODES[x.dtype], num_warps=max(1, block // 32),
                                  enable_fp_fusion=False)
    return spikes, sg, v_last
