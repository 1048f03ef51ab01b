"""Small native CPU kernels for the spiking parts, compiled on first use with the system C compiler
and called through ctypes.

Why C and not a PyTorch extension: the kernels are plain loops over float arrays (the LIF scan is
sequential in time, so it cannot be one tensor op), they need no torch headers, and a 100-line C
file compiles in well under a second where `torch.utils.cpp_extension` takes a minute. Why not
`torch.compile`: it needs a toolchain and warm-up per shape, and its CPU path is not reliable here.

Exactness: built with `-ffp-contract=off` and without fast-math, every kernel rounds exactly as the
PyTorch ops of the oracle do (multiply, then add; IEEE division), so the fast forward equals the
oracle bit for bit in fp32 and fp64.

The shared library is cached by a hash of the source, flags, compiler and CPU under
`$SYMBOLICLIGHT_KERNEL_DIR` (default `~/.cache/symboliclight/kernels`). When no compiler is found,
the build fails, or `SYMBOLICLIGHT_NO_NATIVE=1` is set, `kernels()` returns None and every caller
uses its PyTorch fallback (same results, slower); a failed build warns once.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor

_SOURCE = r"""
#include <stdint.h>

/* LIF over time, vectorised over channels: x [B,S,D], v0 [B,D] -> spikes, surrogate factor, final v. */
#define LIF(T, NAME)                                                                          \
void NAME(const T* x, const T* v0, T* spikes, T* sg, T* v_out, int64_t B, int64_t S,        \
          int64_t D, T leak, T theta, T clampv, T alpha) {                                   \
  for (int64_t b = 0; b < B; ++b) {                                                          \
    T* v = v_out + b * D;                                                                    \
    for (int64_t d = 0; d < D; ++d) v[d] = v0[b * D + d];                                    \
    for (int64_t t = 0; t < S; ++t) {                                                        \
      const int64_t o = (b * S + t) * D;                                                     \
      for (int64_t d = 0; d < D; ++d) {                                                      \
        T u = v[d] * leak;                                                                   \
        u = u + x[o + d];                                                                    \
        u = u < -clampv ? -clampv : u;                                                       \
        u = u > clampv ? clampv : u;                                                         \
        const T s = u >= theta ? (T)1 : (T)0;                                                \
        const T e = alpha * (u - theta);                                                     \
        spikes[o + d] = s;                                                                   \
        sg[o + d] = (T)1 / ((T)1 + e * e);                                                   \
        v[d] = u * ((T)1 - s);                                                               \
      }                                                                                      \
    }                                                                                        \
  }                                                                                          \
}
LIF(float, lif_f32)
LIF(double, lif_f64)

/* Stateless threshold: z = H(a - theta), sg = 1/(1+(alpha(a-theta))^2); returns the number of ones. */
#define SPIKE(T, NAME)                                                                        \
int64_t NAME(const T* a, T* z, T* sg, int64_t n, T theta, T alpha) {                         \
  int64_t ones = 0;                                                                          \
  for (int64_t i = 0; i < n; ++i) {                                                          \
    const T u = a[i];                                                                        \
    const T s = u >= theta ? (T)1 : (T)0;                                                    \
    const T e = alpha * (u - theta);                                                         \
    z[i] = s;                                                                                \
    sg[i] = (T)1 / ((T)1 + e * e);                                                           \
    ones += (int64_t)s;                                                                      \
  }                                                                                          \
  return ones;                                                                               \
}
SPIKE(float, spike_f32)
SPIKE(double, spike_f64)

/* y[r] = sum over nonzero z[r,c] of z[r,c] * wt[c]   (z [N,F] sparse, wt [F,D], y [N,D]). */
void sparse_rows_f32(const float* z, const float* wt, float* y, int64_t N, int64_t F, int64_t D) {
  for (int64_t r = 0; r < N; ++r) {
    float* yr = y + r * D;
    for (int64_t d = 0; d < D; ++d) yr[d] = 0.0f;
    const float* zr = z + r * F;
    for (int64_t c = 0; c < F; ++c) {
      const float zv = zr[c];
      if (zv != 0.0f) {
        const float* w = wt + c * D;
        for (int64_t d = 0; d < D; ++d) yr[d] += zv * w[d];
      }
    }
  }
}

/* gwt[c] = sum over rows r with nonzero z[r,c] of z[r,c] * g[r]   (gwt [F,D] = (g^T z)^T). */
void sparse_wgrad_f32(const float* z, const float* g, float* gwt, int64_t N, int64_t F, int64_t D) {
  for (int64_t i = 0; i < F * D; ++i) gwt[i] = 0.0f;
  for (int64_t r = 0; r < N; ++r) {
    const float* zr = z + r * F;
    const float* gr = g + r * D;
    for (int64_t c = 0; c < F; ++c) {
      const float zv = zr[c];
      if (zv != 0.0f) {
        float* w = gwt + c * D;
        for (int64_t d = 0; d < D; ++d) w[d] += zv * gr[d];
      }
    }
  }
}
"""

_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c99"]
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p

_lib: ctypes.CDLL | None = None
_tried = False


def _cache_dir() -> Path:
    env = os.environ.get("SYMBOLICLIGHT_KERNEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "symboliclight" / "kernels"


def _cpu_tag() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build() -> ctypes.CDLL:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc/cc) on PATH")
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256("\0".join([_SOURCE, " ".join(_FLAGS), version, _cpu_tag()]).encode()).hexdigest()[:16]
    folder = _cache_dir()
    target = folder / f"spiking_{key}.so"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src, out = Path(tmp) / "spiking.c", Path(tmp) / "spiking.so"
            src.write_text(_SOURCE)
            proc = subprocess.run([cc, *_FLAGS, str(src), "-o", str(out)], capture_output=True, text=True,
                                  timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:500]}")
            os.replace(out, target)  # atomic: concurrent builders leave one complete file
    lib = ctypes.CDLL(str(target))
    for t, ct in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        getattr(lib, f"lif_{t}").argtypes = [_PTR] * 5 + [_I64] * 3 + [ct] * 4
        getattr(lib, f"lif_{t}").restype = None
        getattr(lib, f"spike_{t}").argtypes = [_PTR] * 3 + [_I64, ct, ct]
        getattr(lib, f"spike_{t}").restype = _I64
    for name in ("sparse_rows_f32", "sparse_wgrad_f32"):
        getattr(lib, name).argtypes = [_PTR] * 3 + [_I64] * 3
        getattr(lib, name).restype = None
    return lib


def kernels() -> ctypes.CDLL | None:
    """The compiled library, or None when native kernels are unavailable or disabled."""
    global _lib, _tried
    if os.environ.get("SYMBOLICLIGHT_NO_NATIVE", "") not in ("", "0"):
        return None
    if not _tried:
        _tried = True
        try:
            _lib = _build()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            warnings.warn(f"native spiking kernels unavailable, using the PyTorch fallback: {exc}", stacklevel=2)
            _lib = None
    return _lib


def usable(*tensors: Tensor, dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)) -> bool:
    """True when the native kernels exist and can take these tensors (CPU, same supported dtype)."""
    first = tensors[0]
    return (first.device.type == "cpu" and first.dtype in dtypes
            and all(t.device.type == "cpu" and t.dtype == first.dtype for t in tensors)
            and kernels() is not None)


def ptr(t: Tensor) -> int:
    return t.data_ptr()


def suffix(t: Tensor) -> str:
    return "f32" if t.dtype == torch.float32 else "f64"
