"""Triton kernels of `triton_lif` (imported only when one runs, so Triton stays optional)."""

import triton
import triton.language as tl


@triton.jit
def rounded(v, MODE: tl.constexpr):
    """v (fp32) rounded to the storage dtype's precision, kept in fp32: 0 fp32, 1 fp16, 2 bf16.
    bf16 rounds to nearest-even by bit arithmetic (Triton's interpreter truncates a cast)."""
    if MODE == 1:
        v = v.to(tl.float16).to(tl.float32)
    elif MODE == 2:
        bits = v.to(tl.int32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & -65536
        v = bits.to(tl.float32, bitcast=True)
    return v


@triton.jit
def lif_fwd(x_ptr, v0_ptr, s_ptr, sg_ptr, v_last_ptr, S, D, leak, threshold, clamp, alpha,
            BLOCK: tl.constexpr, STEPS: tl.constexpr, MODE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    keep = cols < D
    dt = x_ptr.dtype.element_ty
    v = tl.load(v0_ptr + row * D + cols, mask=keep, other=0.0).to(tl.float32)
    off = row * S * D + cols  # int64, advanced by D per step: no t·D product to overflow int32
    for t0 in range(0, S, STEPS):
        for i in tl.static_range(STEPS):
            t = t0 + i
            m = keep & ((cols * 0 + t) < S)  # not tl.zeros: a jit helper the interpreter may not patch
            x = tl.load(x_ptr + off, mask=m, other=0.0).to(tl.float32)
            u = rounded(rounded(v * leak, MODE) + x, MODE)
            u = tl.minimum(tl.maximum(u, -clamp), clamp)  # exact in every dtype: no rounding
            fire = u >= threshold
            # σ'(u) = 1 / (1 + (α(u − θ))²), each op rounded where torch rounds it
            d = rounded(alpha * rounded(u - threshold, MODE), MODE)
            d = rounded(rounded(d * d, MODE) + 1.0, MODE)
            sg = rounded(tl.math.div_rn(tl.full([BLOCK], 1.0, tl.float32), d), MODE)
            tl.store(s_ptr + off, tl.where(fire, 1.0, 0.0).to(dt), mask=m)
            tl.store(sg_ptr + off, sg.to(dt), mask=m)
            v = tl.where(m, tl.where(fire, 0.0, u), v)
            off += D
    tl.store(v_last_ptr + row * D + cols, v.to(dt), mask=keep)
