"""Small native CPU kernels for the spiking parts, compiled on first use with the system C compiler
and called through ctypes.

Why C and not a PyTorch extension: the kernels are plain loops over float arrays (the LIF scan is
sequential in time, so it cannot be one tensor op), they need no torch headers, and a 100-line C
file compiles in well under a second where `torch.utils.cpp_extension` takes a minute. Why not
`torch.compile`: it needs a toolchain and warm-up per shape, and its CPU path is not reliable here.

Exactness: built with `-ffp-contract=off` and without fast-math, the elementwise kernels (LIF, spike
and its backward, RoPE in the attention pack, gate mix) round exactly as the PyTorch ops of the
oracle do (multiply, then add; IEEE division), so they equal the oracle bit for bit in fp32 and fp64.
The reductions differ from the oracle only in summation order: the decay scan (accumulated in
double, so closer to exact than the fp32 convolution), the span-gradient fold and the log-sum-exp
merge of the attention parts; tests hold them to 1e-5 relative in fp32.

Kernels: LIF scan; spike (count in the same pass) and its backward; count ≥ θ; attention pack
(RoPE + layout + padding), has-key flags, lse merge and unpack (span fold + inverse RoPE); decay
scan and its adjoint; gate mix and its backward; sparse FFN down projection and its weight gradient;
direct local attention for small windows, forward and backward (`csrc_local_attention.py`); the
fused token cross-entropy (`csrc_loss.py`, driven by `fused_loss.py`); the fused one-token decoding
step (`csrc_decode.py`, driven by `fused_decode.py`).

Threads: the library is built with `-fopenmp` when the compiler has it; it then links the same
`libgomp.so.1` torch has already loaded, so its parallel loops run on torch's own OpenMP pool (no
second pool competing for the cores, and `torch.set_num_threads` applies). Training-size calls of
the spike kernels, LIF, decay adjoint, gate mix, attention and loss split their work; small calls
(decoding) stay serial. Every reduction is split into fixed chunks summed in a fixed order, so
results do not depend on the thread count. Without OpenMP the pragmas are ignored (serial build).

The shared library is built and cached by `pipeline.native_build` (by a hash of the source, flags,
compiler and CPU, under `$SYMBOLICLIGHT_KERNEL_DIR`). When no compiler is found,
the build fails, or `SYMBOLICLIGHT_NO_NATIVE=1` is set, `kernels()` returns None and every caller
uses its PyTorch fallback (same results, slower); a failed build warns once.
"""

from __future__ import annotations

import ctypes
import subprocess

import torch
from torch import Tensor

from ..pipeline.native_build import LazyLibrary, build_library
from .csrc_decode import SOURCE as _DECODE_SOURCE
from .csrc_local_attention import SOURCE as _LOCAL_ATTENTION_SOURCE
from .csrc_loss import SOURCE as _LOSS_SOURCE

_CORE_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* LIF over time, vectorised over channels: x [B,S,D], v0 [B,D] -> spikes, surrogate factor, final v. */
#define LIF(T, NAME)                                                                          \
void NAME(const T* x, const T* v0, T* spikes, T* sg, T* v_out, int64_t B, int64_t S,        \
          int64_t D, T leak, T theta, T clampv, T alpha) {                                   \
  _Pragma("omp parallel for schedule(static) if (B * S * D > 32768)")                        \
  for (int64_t c0 = 0; c0 < D; c0 += 16) {                                                   \
    const int64_t c1 = c0 + 16 < D ? c0 + 16 : D;                                            \
    for (int64_t b = 0; b < B; ++b) {                                                        \
      T* v = v_out + b * D;                                                                  \
      for (int64_t d = c0; d < c1; ++d) v[d] = v0[b * D + d];                                \
      for (int64_t t = 0; t < S; ++t) {                                                      \
        const int64_t o = (b * S + t) * D;                                                   \
        for (int64_t d = c0; d < c1; ++d) {                                                  \
          T u = v[d] * leak;                                                                 \
          u = u + x[o + d];                                                                  \
          u = u < -clampv ? -clampv : u;                                                     \
          u = u > clampv ? clampv : u;                                                       \
          const T s = u >= theta ? (T)1 : (T)0;                                              \
          const T e = alpha * (u - theta);                                                   \
          spikes[o + d] = s;                                                                 \
          sg[o + d] = (T)1 / ((T)1 + e * e);                                                 \
          v[d] = u * ((T)1 - s);                                                             \
        }                                                                                    \
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
  _Pragma("omp parallel for reduction(+:ones) schedule(static) if (n > 32768)")              \
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

/* Spike forward without the surrogate: z = H(a - theta); returns the number of ones. */
#define SPIKE_Z(T, NAME)                                                                      \
int64_t NAME(const T* a, T* z, int64_t n, T theta) {                                         \
  int64_t ones = 0;                                                                          \
  _Pragma("omp parallel for reduction(+:ones) schedule(static) if (n > 32768)")              \
  for (int64_t i = 0; i < n; ++i) {                                                          \
    const T s = a[i] >= theta ? (T)1 : (T)0;                                                 \
    z[i] = s;                                                                                \
    ones += (int64_t)s;                                                                      \
  }                                                                                          \
  return ones;                                                                               \
}
SPIKE_Z(float, spikez_f32)
SPIKE_Z(double, spikez_f64)

/* Spike backward from the saved input: ga = g * 1/(1+(alpha(a-theta))^2), the oracle's roundings. */
#define SPIKE_BWD(T, NAME)                                                                    \
void NAME(const T* g, const T* a, T* ga, int64_t n, T theta, T alpha) {                      \
  _Pragma("omp parallel for schedule(static) if (n > 32768)")                                \
  for (int64_t i = 0; i < n; ++i) {                                                          \
    T e = a[i] - theta;                                                                      \
    e = alpha * e;                                                                           \
    e = e * e;                                                                               \
    e = (T)1 + e;                                                                            \
    ga[i] = g[i] * ((T)1 / e);                                                               \
  }                                                                                          \
}
SPIKE_BWD(float, spikebwd_f32)
SPIKE_BWD(double, spikebwd_f64)

/* Number of entries >= theta (a spike count without materialising the spikes). */
#define COUNT_GE(T, NAME)                                                                     \
int64_t NAME(const T* a, int64_t n, T theta) {                                               \
  int64_t ones = 0;                                                                          \
  _Pragma("omp parallel for reduction(+:ones) schedule(static) if (n > 32768)")              \
  for (int64_t i = 0; i < n; ++i) ones += a[i] >= theta;                                     \
  return ones;                                                                               \
}
COUNT_GE(float, countge_f32)
COUNT_GE(double, countge_f64)

/* Attention pack: src rows (b, t) at src + b*sb + t*sr, H*d wide, into rows dst + b*db + t*H*d
   (t < rows; rows >= S zeroed), with rotate-half RoPE from cos/sin [S, d/2] when cos is not NULL. */
#define PACK(T, NAME)                                                                         \
void NAME(const T* src, int64_t sb, int64_t sr, T* dst, int64_t db, int64_t B, int64_t S,   \
          int64_t rows, int64_t H, int64_t d, const T* cs, const T* sn) {                    \
  const int64_t h2 = d / 2, w = H * d;                                                       \
  for (int64_t b = 0; b < B; ++b)                                                            \
    for (int64_t t = 0; t < rows; ++t) {                                                     \
      T* o = dst + b * db + t * w;                                                           \
      if (t >= S) { for (int64_t i = 0; i < w; ++i) o[i] = (T)0; continue; }                 \
      const T* x = src + b * sb + t * sr;                                                    \
      if (!cs) { for (int64_t i = 0; i < w; ++i) o[i] = x[i]; continue; }                    \
      const T* c = cs + t * h2; const T* s = sn + t * h2;                                    \
      for (int64_t h = 0; h < H; ++h) {                                                      \
        const T* xh = x + h * d; T* oh = o + h * d;                                          \
        for (int64_t i = 0; i < h2; ++i) {                                                   \
          const T x1 = xh[i], x2 = xh[i + h2];                                               \
          oh[i] = x1 * c[i] - x2 * s[i];                                                     \
          oh[i + h2] = x2 * c[i] + x1 * s[i];                                                \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
}
PACK(float, pack_f32)
PACK(double, pack_f64)

/* Attention unpack (backward of pack over overlapping key spans): for b < B, t < S, row
   r = P + b*rows + t of the padded sequence; sum the span gradients gs [G, span, H*d] of every
   block g (g*Q <= r < g*Q + span), add ga[b, t] ([B, arows, H*d]) when t < arows, apply the
   inverse rotation when cos is not NULL, write dst + b*db + t*dr. */
#define UNPACK(T, NAME)                                                                       \
void NAME(const T* gs, int64_t G, int64_t span, int64_t Q, int64_t P, const T* ga,           \
          int64_t arows, T* dst, int64_t db, int64_t dr, int64_t B, int64_t S, int64_t rows, \
          int64_t H, int64_t d, const T* cs, const T* sn, T* tmp) {                          \
  const int64_t h2 = d / 2, w = H * d;                                                       \
  for (int64_t b = 0; b < B; ++b)                                                            \
    for (int64_t t = 0; t < S; ++t) {                                                        \
      const int64_t r = P + b * rows + t;                                                    \
      int64_t g0 = r - span + 1; g0 = g0 <= 0 ? 0 : (g0 + Q - 1) / Q;                        \
      int64_t g1 = r / Q; if (g1 > G - 1) g1 = G - 1;                                        \
      T* acc = cs ? tmp : dst + b * db + t * dr;                                             \
      for (int64_t i = 0; i < w; ++i) acc[i] = (T)0;                                         \
      for (int64_t g = g0; g <= g1; ++g) {                                                   \
        const T* x = gs + (g * span + (r - g * Q)) * w;                                      \
        for (int64_t i = 0; i < w; ++i) acc[i] += x[i];                                      \
      }                                                                                      \
      if (ga && t < arows) {                                                                 \
        const T* x = ga + (b * arows + t) * w;                                               \
        for (int64_t i = 0; i < w; ++i) acc[i] += x[i];                                      \
      }                                                                                      \
      if (!cs) continue;                                                                     \
      T* o = dst + b * db + t * dr;                                                          \
      const T* c = cs + t * h2; const T* s = sn + t * h2;                                    \
      for (int64_t h = 0; h < H; ++h) {                                                      \
        const T* gh = acc + h * d; T* oh = o + h * d;                                        \
        for (int64_t i = 0; i < h2; ++i) {                                                   \
          const T g1v = gh[i], g2v = gh[i + h2];                                             \
          oh[i] = g1v * c[i] + g2v * s[i];                                                   \
          oh[i + h2] = g2v * c[i] - g1v * s[i];                                              \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
}
UNPACK(float, unpack_f32)
UNPACK(double, unpack_f64)


/* Has-key flags of the attention parts for rows (b, i), i < rows: m1 = some active key in
   [i - W, i], m2 = some active anchor a < min(A, i - W); both 0 when the query is silent (q_active)
   or i >= S. active [B, S] bytes. */
void attn_flags(const uint8_t* active, int64_t B, int64_t S, int64_t rows, int64_t W, int64_t A,
                int64_t q_active, uint8_t* m1, uint8_t* m2) {
  for (int64_t b = 0; b < B; ++b) {
    const uint8_t* a = active + b * S;
    int64_t win = 0, first = -1;
    for (int64_t i = 0; i < S; ++i) if (a[i]) { first = i; break; }
    for (int64_t i = 0; i < rows; ++i) {
      uint8_t f1 = 0, f2 = 0;
      if (i < S) {
        win += a[i];
        if (i - W - 1 >= 0) win -= a[i - W - 1];
        const int64_t hi = i - W < A ? i - W : A;
        f1 = win > 0;
        f2 = first >= 0 && first < hi;
        if (q_active && !a[i]) { f1 = 0; f2 = 0; }
      }
      m1[b * rows + i] = f1; m2[b * rows + i] = f2;
    }
  }
}

/* Merge two attention parts by their log-sum-exps: rows r, heads h; o1, o2 [R, H, d], l1, l2 [R, H],
   flags m1, m2 [R] (a part without a key has weight 0); writes o [R, H, d] and the merged lse
   [R, H] (0 where neither part has a key). o2 NULL: one part. */
#define MERGE(T, NAME, EXP, LOG)                                                              \
void NAME(const T* o1, const T* l1, const uint8_t* m1, const T* o2, const T* l2,             \
          const uint8_t* m2, T* o, T* L, int64_t R, int64_t H, int64_t d) {                  \
  for (int64_t r = 0; r < R; ++r)                                                            \
    for (int64_t h = 0; h < H; ++h) {                                                        \
      const int64_t k = r * H + h, base = k * d;                                             \
      const int a = m1[r], c = o2 ? m2[r] : 0;                                               \
      if (a && c) {                                                                          \
        const T x = l1[k], y = l2[k], mx = x > y ? x : y;                                    \
        const T lse = mx + LOG(EXP(x - mx) + EXP(y - mx));                                   \
        const T w1 = EXP(x - lse), w2 = EXP(y - lse);                                        \
        for (int64_t i = 0; i < d; ++i) o[base + i] = o1[base + i] * w1 + o2[base + i] * w2; \
        L[k] = lse;                                                                          \
      } else if (a) {                                                                        \
        for (int64_t i = 0; i < d; ++i) o[base + i] = o1[base + i];                          \
        L[k] = l1[k];                                                                        \
      } else if (c) {                                                                        \
        for (int64_t i = 0; i < d; ++i) o[base + i] = o2[base + i];                          \
        L[k] = l2[k];                                                                        \
      } else {                                                                               \
        for (int64_t i = 0; i < d; ++i) o[base + i] = (T)0;                                  \
        L[k] = (T)0;                                                                         \
      }                                                                                      \
    }                                                                                        \
}
MERGE(float, merge_f32, expf, logf)
MERGE(double, merge_f64, exp, log)

/* Decay recurrence h_t = lam*h_{t-1} + (1-lam)*u_t over t, per channel (head = channel / d),
   accumulated in double. u, ctx [B, S, D]; lam, oml [H] (double); h0 [B, D] or NULL. */
#define DSCAN(T, NAME)                                                                        \
void NAME(const T* u, const T* h0, T* ctx, int64_t B, int64_t S, int64_t D, int64_t d,       \
          const double* lam, const double* oml, double* h) {                                 \
  (void)h;                                                                                   \
  _Pragma("omp parallel for schedule(static) if (B * S * D > 1048576)")                      \
  for (int64_t hh = 0; hh < D / d; ++hh) {                                                   \
    const double l = lam[hh], m = oml[hh];                                                   \
    double hs[d];                                                                            \
    for (int64_t b = 0; b < B; ++b) {                                                        \
      for (int64_t c = 0; c < d; ++c) hs[c] = h0 ? (double)h0[b * D + hh * d + c] : 0.0;     \
      for (int64_t t = 0; t < S; ++t) {                                                      \
        const T* ut = u + (b * S + t) * D + hh * d; T* ot = ctx + (b * S + t) * D + hh * d;  \
        for (int64_t c = 0; c < d; ++c) {                                                    \
          const double v = l * hs[c] + m * (double)ut[c];                                    \
          hs[c] = v; ot[c] = (T)v;                                                           \
        }                                                                                    \
      }                                                                                      \
    }                                                                                        \
  }                                                                                          \
}
DSCAN(float, dscan_f32)
DSCAN(double, dscan_f64)

/* Backward of the decay recurrence: G_t = g_t + lam G_{t+1}; gu_t = (1-lam) G_t;
   gh0 = lam G_0; glam[h] += sum G_t (h_{t-1} - u_t) (h from ctx, h_{-1} = h0). Heads run in
   parallel; each head's sum is accumulated per channel (over b, then t descending) and the
   channels are then added in order: the same bits whatever the thread count. */
#define DSCAN_BWD(T, NAME)                                                                    \
void NAME(const T* g, const T* u, const T* ctx, const T* h0, T* gu, T* gh0, double* glam,    \
          int64_t B, int64_t S, int64_t D, int64_t d, const double* lam, const double* oml,  \
          double* G) {                                                                       \
  (void)G;                                                                                   \
  _Pragma("omp parallel for schedule(static) if (B * S * D > 32768)")                        \
  for (int64_t hh = 0; hh < D / d; ++hh) {                                                   \
    const double l = lam[hh], m = oml[hh];                                                   \
    double Gs[d], acc[d];                                                                    \
    for (int64_t c = 0; c < d; ++c) acc[c] = 0.0;                                            \
    for (int64_t b = 0; b < B; ++b) {                                                        \
      for (int64_t c = 0; c < d; ++c) Gs[c] = 0.0;                                           \
      for (int64_t t = S - 1; t >= 0; --t) {                                                 \
        const int64_t o = (b * S + t) * D + hh * d;                                          \
        const T* pv = t > 0 ? ctx + o - D : (h0 ? h0 + b * D + hh * d : 0);                  \
        for (int64_t c = 0; c < d; ++c) {                                                    \
          const double Gt = (double)g[o + c] + l * Gs[c];                                   \
          Gs[c] = Gt;                                                                        \
          gu[o + c] = (T)(m * Gt);                                                           \
          acc[c] += Gt * ((pv ? (double)pv[c] : 0.0) - (double)u[o + c]);                    \
        }                                                                                    \
      }                                                                                      \
      if (gh0) for (int64_t c = 0; c < d; ++c) gh0[b * D + hh * d + c] = (T)(l * Gs[c]);    \
    }                                                                                        \
    double sum = 0.0;                                                                        \
    for (int64_t c = 0; c < d; ++c) sum += acc[c];                                           \
    glam[hh] += sum;                                                                         \
  }                                                                                          \
}
DSCAN_BWD(float, dscanbwd_f32)
DSCAN_BWD(double, dscanbwd_f64)

/* Gate mix o = g*a + (1-g)*x, and its backward: ga = gr*g, gx = gr*(1-g), dot = sum gr*(a-x)
   (per 16384-element chunk eight partial sums in double, chunks summed in order: the same bits
   whatever the thread count). */
#define MIX(T, NAME, BNAME)                                                                   \
void NAME(const T* a, const T* x, T* o, int64_t n, T g) {                                    \
  const T omg = (T)1 - g;                                                                    \
  _Pragma("omp parallel for schedule(static) if (n > 32768)")                                \
  for (int64_t i = 0; i < n; ++i) o[i] = g * a[i] + omg * x[i];                              \
}                                                                                            \
double BNAME(const T* gr, const T* a, const T* x, T* ga, T* gx, int64_t n, T g) {            \
  const T omg = (T)1 - g; const int64_t C = 16384, nc = (n + C - 1) / C;                     \
  double* part = (double*)malloc(sizeof(double) * (nc > 0 ? nc : 1));                        \
  _Pragma("omp parallel for schedule(static) if (n > 32768)")                                \
  for (int64_t k = 0; k < nc; ++k) {                                                         \
    const int64_t e = (k + 1) * C < n ? (k + 1) * C : n;                                     \
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                \
    int64_t i = k * C;                                                                       \
    for (; i + 8 <= e; i += 8)                                                               \
      for (int j = 0; j < 8; ++j) {                                                          \
        const T v = gr[i + j]; ga[i + j] = v * g; gx[i + j] = v * omg;                       \
        acc[j] += (double)v * ((double)a[i + j] - (double)x[i + j]);                         \
      }                                                                                      \
    for (; i < e; ++i) {                                                                     \
      const T v = gr[i]; ga[i] = v * g; gx[i] = v * omg;                                     \
      acc[0] += (double)v * ((double)a[i] - (double)x[i]);                                   \
    }                                                                                        \
    part[k] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));\
  }                                                                                          \
  double total = 0;                                                                          \
  for (int64_t k = 0; k < nc; ++k) total += part[k];                                         \
  free(part);                                                                                \
  return total;                                                                              \
}
MIX(float, mix_f32, mixbwd_f32)
MIX(double, mix_f64, mixbwd_f64)

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

_SOURCE = _CORE_SOURCE + _LOCAL_ATTENTION_SOURCE + _LOSS_SOURCE + _DECODE_SOURCE

_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c99")
_I64, _PTR = ctypes.c_int64, ctypes.c_void_p


def _compile() -> ctypes.CDLL:
    """With OpenMP where the compiler has it (the direct attention kernel runs its (sequence, head)
    items on torch's own OpenMP pool: the library links the same `libgomp.so.1` torch has loaded),
    else serial (the pragmas are ignored)."""
    try:
        return build_library("spiking", _SOURCE, _FLAGS + ("-fopenmp", "-mprefer-vector-width=512"), libs=("-lm",))
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return build_library("spiking", _SOURCE, _FLAGS, libs=("-lm",))


def _build() -> ctypes.CDLL:
    lib = _compile()
    for t, ct in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
        getattr(lib, f"lif_{t}").argtypes = [_PTR] * 5 + [_I64] * 3 + [ct] * 4
        getattr(lib, f"lif_{t}").restype = None
        getattr(lib, f"spike_{t}").argtypes = [_PTR] * 3 + [_I64, ct, ct]
        getattr(lib, f"spike_{t}").restype = _I64

        getattr(lib, f"spikez_{t}").argtypes = [_PTR, _PTR, _I64, ct]
        getattr(lib, f"spikez_{t}").restype = _I64
        getattr(lib, f"spikebwd_{t}").argtypes = [_PTR] * 3 + [_I64, ct, ct]
        getattr(lib, f"spikebwd_{t}").restype = None
        getattr(lib, f"countge_{t}").argtypes = [_PTR, _I64, ct]
        getattr(lib, f"countge_{t}").restype = _I64
        getattr(lib, f"pack_{t}").argtypes = [_PTR, _I64, _I64, _PTR] + [_I64] * 6 + [_PTR] * 2
        getattr(lib, f"pack_{t}").restype = None
        getattr(lib, f"unpack_{t}").argtypes = ([_PTR] + [_I64] * 4 + [_PTR, _I64, _PTR] + [_I64] * 7
                                                + [_PTR] * 3)
        getattr(lib, f"unpack_{t}").restype = None
        getattr(lib, f"merge_{t}").argtypes = [_PTR] * 8 + [_I64] * 3
        getattr(lib, f"merge_{t}").restype = None
        getattr(lib, f"dscan_{t}").argtypes = [_PTR] * 3 + [_I64] * 4 + [_PTR] * 3
        getattr(lib, f"dscan_{t}").restype = None
        getattr(lib, f"dscanbwd_{t}").argtypes = [_PTR] * 7 + [_I64] * 4 + [_PTR] * 3
        getattr(lib, f"dscanbwd_{t}").restype = None
        getattr(lib, f"mix_{t}").argtypes = [_PTR] * 3 + [_I64, ct]
        getattr(lib, f"mix_{t}").restype = None
        getattr(lib, f"mixbwd_{t}").argtypes = [_PTR] * 5 + [_I64, ct]
        getattr(lib, f"mixbwd_{t}").restype = ctypes.c_double
        getattr(lib, f"lattn_{t}").argtypes = [_PTR] + [_I64] * 4 + [_PTR] * 3 + [_I64] * 3 + [ct] + [_PTR] * 5
        getattr(lib, f"lattn_{t}").restype = None
        getattr(lib, f"lattnbwd_{t}").argtypes = [_PTR] * 5 + [_I64] * 4 + [_PTR] * 2 + [_I64] * 2 + [ct, _PTR, _PTR]
        getattr(lib, f"lattnbwd_{t}").restype = None
    f32, i64p = ctypes.c_float, ctypes.POINTER(ctypes.c_int64)
    lib.sl_decode_f32.argtypes = ([_PTR] + [_I64] * 10 + [_PTR] * 5 + [f32] * 5 + [i64p, _PTR] + [_PTR] * 3
                                  + [f32, _PTR, i64p, _PTR])
    lib.sl_decode_f32.restype = None
    lib.ce_f32.argtypes = [_PTR] * 4 + [_I64] * 2 + [ctypes.c_float]
    lib.ce_f32.restype = ctypes.c_double
    lib.attn_flags.argtypes = [_PTR] + [_I64] * 6 + [_PTR] * 2
    lib.attn_flags.restype = None
    for name in ("sparse_rows_f32", "sparse_wgrad_f32"):
        getattr(lib, name).argtypes = [_PTR] * 3 + [_I64] * 3
        getattr(lib, name).restype = None
    return lib


_LIBRARY = LazyLibrary(_build, "the PyTorch fallback for the spiking kernels")


def kernels() -> ctypes.CDLL | None:
    """The compiled library, or None when native kernels are unavailable or disabled."""
    return _LIBRARY.get()


def usable(*tensors: Tensor, dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)) -> bool:
    """True when the native kernels exist and can take these tensors (CPU, same supported dtype)."""
    first = tensors[0]
    return (first.device.type == "cpu" and first.dtype in dtypes
            and all(t.device.type == "cpu" and t.dtype == first.dtype for t in tensors)
            and kernels() is not None)


def ptr(t: Tensor | None) -> int | None:
    """Address of a tensor's first element (None passes a NULL pointer)."""
    return None if t is None else t.data_ptr()


def suffix(t: Tensor) -> str:
    return "f32" if t.dtype == torch.float32 else "f64"
