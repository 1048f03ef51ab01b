"""C source of the direct local attention kernels (compiled into the shared library by `native.py`).

Why a direct kernel next to the flash-based one: with a small window (the `tiny` model's W = 16)
each query sees at most A + W + 1 keys, but the blockwise flash path scores every query of a block
against a whole P + Q span (128 keys at Q = 64) and pays per-call packing, masks and layout copies.

Layout: the band is computed diagonal by diagonal. Per (sequence, head) the rotated q, k and v are
stored transposed, [d, W + S' + W] with zero padding (S' = S rounded up to the tile), so for a tile
of `LB_TILE` consecutive queries i and a key offset δ = i − j the keys k_{i−δ} are one contiguous,
unaligned run of the same row: every inner loop is an elementwise product over positions, and the
sums run across loop iterations, never across lanes (`lbdot`: a tile of partial sums held in 64-byte
GCC vector registers). Each score is summed over channels in order, each output over δ then the
anchors, in order: deterministic, equal to the dense-mask SDPA up to summation-order rounding. The A
anchors are scalar broadcasts. Softmax uses a polynomial exp that vectorises (Cody-Waite reduction,
degree-7 series: within 2 ulp of exp in fp32 over [-87, 0], far inside the 1e-5 tolerance).

Forward keeps the normalised probabilities P [B, H, W + 1 + A, S' + W] (δ = 0..W, then the anchors;
0 where a key is not admissible) so backward needs no exponentials: one pass over query tiles gives
dP = go·v, ds = P(dP − Σ P·dP)·scale and the q gradient; a second pass over key tiles gathers the
k and v gradients from the queries i = j + δ (no scattered writes), the anchors' share is a fixed-order
reduction. Work items (sequence, head) run in parallel with OpenMP when the library is built with it
(torch's own OpenMP runtime, so its pool threads are the workers).
"""

TILE = 32  # LB_TILE in the source: queries per vectorised tile (the padding of the saved buffers follows it)

SOURCE = r"""
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>
#define LB_TILE @TILE@

/* exp(x) for softmax weights: x is clamped to [-87, 0] (arguments are score - max <= 0; below -87 the
   true weight, < 2e-38, is replaced by ~1.6e-38 which no sum can see). Branch-free, vectorises. */
static inline float lexp_f32(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 0.0f ? 0.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.98412698412698413e-4f;
  p = p * r + 1.38888888888888889e-3f;
  p = p * r + 8.33333333333333333e-3f;
  p = p * r + 4.16666666666666667e-2f;
  p = p * r + 1.66666666666666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { float f; int32_t i; } u;
  u.i = ((int32_t)n + 127) << 23;
  return p * u.f;
}
static inline double lexp_f64(double x) { return exp(x > 0.0 ? 0.0 : x); }

/* 64-byte vectors (GCC vector extensions: one AVX-512 register, or two AVX2 ones) for the
   accumulations over channels and key offsets, so the partial sums of a tile live in registers. */
typedef float lv_f32 __attribute__((vector_size(64)));
typedef double lv_f64 __attribute__((vector_size(64)));
#define LB_NV(T) ((int)(LB_TILE * sizeof(T) / 64))
#define LB_NB(T) ((int)(64 / sizeof(T)))
static inline lv_f32 lld_f32(const float* p) { lv_f32 v; memcpy(&v, p, 64); return v; }
static inline lv_f64 lld_f64(const double* p) { lv_f64 v; memcpy(&v, p, 64); return v; }
static inline void lst_f32(float* p, lv_f32 v) { memcpy(p, &v, 64); }
static inline void lst_f64(double* p, lv_f64 v) { memcpy(p, &v, 64); }

/* out[t] (+)= sum over c < n, in order, of x[c*sx + t] * y[c*sy + t] (or * y[c*sy] when bcast),
   t < LB_TILE: the band's products, one tile of partial sums held in registers. */
#define LB_DOT(T, SFX)                                                                        \
static inline void lbdot_##SFX(const T* x, int64_t sx, const T* y, int64_t sy, int64_t n,    \
                               int bcast, int accumulate, T* out) {                          \
  lv_##SFX acc[LB_NV(T)];                                                                    \
  for (int u = 0; u < LB_NV(T); ++u)                                                         \
    acc[u] = accumulate ? lld_##SFX(out + u * LB_NB(T)) : (lv_##SFX){0};                     \
  if (bcast)                                                                                 \
    for (int64_t c = 0; c < n; ++c) {                                                        \
      const T yc = y[c * sy];                                                                \
      for (int u = 0; u < LB_NV(T); ++u) acc[u] += lld_##SFX(x + c * sx + u * LB_NB(T)) * yc;\
    }                                                                                        \
  else                                                                                       \
    for (int64_t c = 0; c < n; ++c)                                                          \
      for (int u = 0; u < LB_NV(T); ++u)                                                     \
        acc[u] += lld_##SFX(x + c * sx + u * LB_NB(T)) * lld_##SFX(y + c * sy + u * LB_NB(T));\
  for (int u = 0; u < LB_NV(T); ++u) lst_##SFX(out + u * LB_NB(T), acc[u]);                  \
}
LB_DOT(float, f32)
LB_DOT(double, f64)

/* Transposed copy of rows i0..i0+nt of every head's q, k (rotated when cs) and v into [B*H, d, L]
   (position i at column W + i). */
#define LB_FILL(T, SFX)                                                                       \
static void lbfill_##SFX(const T* qkv, int64_t b, int64_t i0, int64_t nt, int64_t S,         \
                         int64_t H, int64_t d, const T* cs, const T* sn, int64_t W, int64_t L,\
                         T* qT, T* kT, T* vT, T* tile) {                                     \
  const int64_t D = H * d, row = 3 * D, h2 = d / 2;                                          \
  T* tq = tile; T* tk = tq + d * LB_TILE; T* tv = tk + d * LB_TILE;                          \
  for (int64_t h = 0; h < H; ++h) {                                                          \
    for (int64_t t = 0; t < nt; ++t) {                                                       \
      const int64_t i = i0 + t;                                                              \
      const T* x = qkv + (b * S + i) * row + h * d;                                          \
      for (int64_t c = 0; c < d; ++c) tv[c * LB_TILE + t] = x[2 * D + c];                    \
      if (!cs) {                                                                             \
        for (int64_t c = 0; c < d; ++c) { tq[c * LB_TILE + t] = x[c]; tk[c * LB_TILE + t] = x[D + c]; }\
        continue;                                                                            \
      }                                                                                      \
      const T* cc = cs + i * h2; const T* ss = sn + i * h2;                                  \
      for (int64_t c = 0; c < h2; ++c) {                                                     \
        const T q1 = x[c], q2 = x[c + h2], k1 = x[D + c], k2 = x[D + c + h2];                \
        tq[c * LB_TILE + t] = q1 * cc[c] - q2 * ss[c];                                       \
        tq[(c + h2) * LB_TILE + t] = q2 * cc[c] + q1 * ss[c];                                \
        tk[c * LB_TILE + t] = k1 * cc[c] - k2 * ss[c];                                       \
        tk[(c + h2) * LB_TILE + t] = k2 * cc[c] + k1 * ss[c];                                \
      }                                                                                      \
    }                                                                                        \
    const int64_t base = (b * H + h) * d * L + W + i0;                                       \
    for (int64_t c = 0; c < d; ++c) {                                                        \
      memcpy(qT + base + c * L, tq + c * LB_TILE, sizeof(T) * nt);                           \
      memcpy(kT + base + c * L, tk + c * LB_TILE, sizeof(T) * nt);                           \
      memcpy(vT + base + c * L, tv + c * LB_TILE, sizeof(T) * nt);                           \
    }                                                                                        \
  }                                                                                          \
}

/* Transposed copy of rows i0..i0+nt of g [B, S, D] (the output's gradient) into dst [B*H, d, L]. */
#define LB_FILL1(T, SFX)                                                                     \
static void lbfill1_##SFX(const T* g, int64_t b, int64_t i0, int64_t nt, int64_t S,          \
                          int64_t H, int64_t d, int64_t W, int64_t L, T* dst, T* tile) {     \
  const int64_t D = H * d;                                                                   \
  for (int64_t h = 0; h < H; ++h) {                                                          \
    for (int64_t t = 0; t < nt; ++t) {                                                       \
      const T* x = g + (b * S + i0 + t) * D + h * d;                                         \
      for (int64_t c = 0; c < d; ++c) tile[c * LB_TILE + t] = x[c];                          \
    }                                                                                        \
    const int64_t base = (b * H + h) * d * L + W + i0;                                       \
    for (int64_t c = 0; c < d; ++c) memcpy(dst + base + c * L, tile + c * LB_TILE, sizeof(T) * nt);\
  }                                                                                          \
}

/* Zero the padding columns (outside W..W+S-1) of n rows of length L. */
#define LB_PAD(T, SFX)                                                                        \
static void lbpad_##SFX(T* x, int64_t n, int64_t W, int64_t S, int64_t L) {                  \
  for (int64_t c = 0; c < n; ++c) {                                                          \
    for (int64_t i = 0; i < W; ++i) x[c * L + i] = 0;                                        \
    for (int64_t i = W + S; i < L; ++i) x[c * L + i] = 0;                                    \
  }                                                                                          \
}                                                                                            \
/* x·y over one query tile at i0, per diagonal dl = 0..W (key i - dl), then against the A       \
   anchors: out [(W + 1 + A) * LB_TILE] (scores q·k forward, dP = dO·v backward). */           \
static void lbwin_##SFX(const T* x, const T* y, int64_t L, int64_t d, int64_t W, int64_t A,  \
                        int64_t i0, T* out) {                                                 \
  for (int64_t dl = 0; dl <= W; ++dl)                                                        \
    lbdot_##SFX(x + W + i0, L, y + W + i0 - dl, L, d, 0, 0, out + dl * LB_TILE);             \
  for (int64_t an = 0; an < A; ++an)                                                         \
    lbdot_##SFX(x + W + i0, L, y + W + an, L, d, 1, 0, out + (W + 1 + an) * LB_TILE);        \
}

/* Forward. qkv [B, S, 3D] (D = H*d, before RoPE); cos/sin [S, d/2] or NULL; active [B, S] bytes.
   Query i sees the window j in [max(0, i - W), i] and the anchors j < min(A, i - W), active keys
   only (and nothing when q_active and i is silent). Writes qT, kT, vT [B*H, d, L] (L = 2W + S'),
   P [B*H, K, Ls] (K = W + 1 + A, Ls = S' + W) and out [B, S, D] (0 for a row without keys). */
#define LBAND(T, SFX)                                                                         \
LB_FILL(T, SFX)                                                                              \
LB_FILL1(T, SFX)                                                                             \
LB_PAD(T, SFX)                                                                               \
void lattn_##SFX(const T* qkv, int64_t B, int64_t S, int64_t H, int64_t d, const T* cs,      \
                 const T* sn, const uint8_t* active, int64_t W, int64_t A, int64_t q_active, \
                 T scale, T* qT, T* kT, T* vT, T* P, T* out) {                               \
  const int64_t D = H * d, K = W + 1 + A;                                                    \
  const int64_t Sr = (S + LB_TILE - 1) / LB_TILE * LB_TILE, L = W + Sr + W, Ls = Sr + W;     \
  _Pragma("omp parallel for schedule(static) if (B * Sr > LB_TILE)")                         \
  for (int64_t w = 0; w < B * (Sr / LB_TILE); ++w) {                                         \
    const int64_t b = w / (Sr / LB_TILE), i0 = w % (Sr / LB_TILE) * LB_TILE;                 \
    T tile[3 * LB_TILE * d];                                                                 \
    if (i0 < S) lbfill_##SFX(qkv, b, i0, S - i0 < LB_TILE ? S - i0 : LB_TILE, S, H, d, cs, sn, W, L, qT, kT, vT, tile);\
  }                                                                                          \
  _Pragma("omp parallel for schedule(static) if (B * H > 1)")                                \
  for (int64_t w = 0; w < B * H; ++w) {                                                      \
    const int64_t b = w / H, h = w % H;                                                      \
    T* q = qT + w * d * L; T* k = kT + w * d * L; T* v = vT + w * d * L; T* p = P + w * K * Ls;\
    T* act = (T*)malloc(sizeof(T) * (L + Sr + (K + 3 * d) * LB_TILE));                           \
    T* qa = act + L; T* sc = qa + Sr; T* o = sc + K * LB_TILE;                               \
    const uint8_t* a = active + b * S;                                                       \
    for (int64_t i = 0; i < L; ++i) act[i] = (i >= W && i < W + S && a[i - W]) ? (T)1 : (T)0;\
    for (int64_t i = 0; i < Sr; ++i) qa[i] = i < S && (!q_active || a[i]) ? (T)1 : (T)0;     \
    lbpad_##SFX(q, d, W, S, L); lbpad_##SFX(k, d, W, S, L); lbpad_##SFX(v, d, W, S, L);      \
    for (int64_t kk = 0; kk < K; ++kk)                                                       \
      for (int64_t i = Sr; i < Ls; ++i) p[kk * Ls + i] = 0;                                  \
    for (int64_t i0 = 0; i0 < Sr; i0 += LB_TILE) {                                           \
      lbwin_##SFX(q, k, L, d, W, A, i0, sc);                                                  \
      T mx[LB_TILE], sum[LB_TILE];                                                           \
      for (int t = 0; t < LB_TILE; ++t) { mx[t] = -INFINITY; sum[t] = 0; }                   \
      for (int64_t dl = 0; dl <= W; ++dl) {                                                  \
        T* s = sc + dl * LB_TILE; const T* ak = act + W + i0 - dl; const T* qk = qa + i0;    \
        for (int t = 0; t < LB_TILE; ++t) {                                                  \
          const T x = s[t] * scale;                                                          \
          s[t] = ak[t] * qk[t] != 0 ? x : -INFINITY;                                         \
          mx[t] = s[t] > mx[t] ? s[t] : mx[t];                                               \
        }                                                                                    \
      }                                                                                      \
      for (int64_t an = 0; an < A; ++an) {                                                   \
        T* s = sc + (W + 1 + an) * LB_TILE; const T aa = act[W + an];                        \
        for (int t = 0; t < LB_TILE; ++t) {                                                  \
          const T x = s[t] * scale;                                                          \
          s[t] = aa * qa[i0 + t] != 0 && i0 + t - an > W ? x : -INFINITY;                    \
          mx[t] = s[t] > mx[t] ? s[t] : mx[t];                                               \
        }                                                                                    \
      }                                                                                      \
      for (int64_t kk = 0; kk < K; ++kk) {                                                   \
        T* s = sc + kk * LB_TILE;                                                            \
        for (int t = 0; t < LB_TILE; ++t) {                                                  \
          const T e = lexp_##SFX(s[t] - mx[t]);                                              \
          s[t] = s[t] == -INFINITY ? (T)0 : e;                                               \
          sum[t] += s[t];                                                                    \
        }                                                                                    \
      }                                                                                      \
      for (int t = 0; t < LB_TILE; ++t) sum[t] = sum[t] > 0 ? (T)1 / sum[t] : (T)0;          \
      for (int64_t kk = 0; kk < K; ++kk) {                                                   \
        T* s = sc + kk * LB_TILE; T* pk = p + kk * Ls + i0;                                  \
        for (int t = 0; t < LB_TILE; ++t) { s[t] = s[t] * sum[t]; pk[t] = s[t]; }            \
      }                                                                                      \
      for (int64_t c = 0; c < d; ++c) {                                                      \
        lbdot_##SFX(sc, LB_TILE, v + c * L + W + i0, -1, W + 1, 0, 0, o + c * LB_TILE);      \
        lbdot_##SFX(sc + (W + 1) * LB_TILE, LB_TILE, v + c * L + W, 1, A, 1, 1, o + c * LB_TILE);\
      }                                                                                      \
      const int64_t nt = S - i0 < LB_TILE ? S - i0 : LB_TILE;                                \
      for (int64_t t = 0; t < nt; ++t) {                                                     \
        T* orow = out + (b * S + i0 + t) * D + h * d;                                        \
        for (int64_t c = 0; c < d; ++c) orow[c] = o[c * LB_TILE + t];                        \
      }                                                                                      \
    }                                                                                        \
    free(act);                                                                               \
  }                                                                                          \
}                                                                                            \
                                                                                             \
/* Backward: g [B, S, D] (the output's gradient) and the forward's qT, kT, vT, P -> gqkv [B, S, 3D]  \
   (inverse rotation applied to the q and k parts). */                                       \
void lattnbwd_##SFX(const T* g, const T* qT, const T* kT, const T* vT, const T* P, int64_t B,\
                    int64_t S, int64_t H, int64_t d, const T* cs, const T* sn, int64_t W,    \
                    int64_t A, T scale, T* gqkv, T* gT) {                                    \
  const int64_t D = H * d, row = 3 * D, h2 = d / 2, K = W + 1 + A;                           \
  const int64_t Sr = (S + LB_TILE - 1) / LB_TILE * LB_TILE, L = W + Sr + W, Ls = Sr + W;     \
  _Pragma("omp parallel for schedule(static) if (B * Sr > LB_TILE)")                         \
  for (int64_t w = 0; w < B * (Sr / LB_TILE); ++w) {                                         \
    const int64_t b = w / (Sr / LB_TILE), i0 = w % (Sr / LB_TILE) * LB_TILE;                 \
    T tile[LB_TILE * d];                                                                     \
    if (i0 < S) lbfill1_##SFX(g, b, i0, S - i0 < LB_TILE ? S - i0 : LB_TILE, S, H, d, W, L, gT, tile);\
  }                                                                                          \
  _Pragma("omp parallel for schedule(static) if (B * H > 1)")                                \
  for (int64_t w = 0; w < B * H; ++w) {                                                      \
    const int64_t b = w / H, h = w % H;                                                      \
    const T* q = qT + w * d * L; const T* k = kT + w * d * L; const T* v = vT + w * d * L;   \
    const T* p = P + w * K * Ls;                                                             \
    T* ds = (T*)malloc(sizeof(T) * (K * Ls + (K + 3 * d) * LB_TILE + 2 * (A + 1) * d * LB_TILE));\
    T* dp = ds + K * Ls; T* gq = dp + K * LB_TILE;                                           \
    T* gk = gq + d * LB_TILE; T* gv = gk + d * LB_TILE; T* ak = gv + d * LB_TILE;            \
    T* av = ak + (A + 1) * d * LB_TILE;                                                      \
    T* go = gT + w * d * L;                                                                  \
    lbpad_##SFX(go, d, W, S, L);                                                             \
    for (int64_t kk = 0; kk < K; ++kk)                                                       \
      for (int64_t i = Sr; i < Ls; ++i) ds[kk * Ls + i] = 0;                                 \
    for (int64_t i0 = 0; i0 < Sr; i0 += LB_TILE) {                                           \
      lbwin_##SFX(go, v, L, d, W, A, i0, dp);                                                 \
      T di[LB_TILE];                                                                         \
      for (int t = 0; t < LB_TILE; ++t) di[t] = 0;                                           \
      for (int64_t kk = 0; kk < K; ++kk) {                                                   \
        const T* pk = p + kk * Ls + i0; const T* s = dp + kk * LB_TILE;                      \
        for (int t = 0; t < LB_TILE; ++t) di[t] += pk[t] * s[t];                             \
      }                                                                                      \
      for (int64_t kk = 0; kk < K; ++kk) {                                                   \
        const T* pk = p + kk * Ls + i0; const T* s = dp + kk * LB_TILE;                      \
        T* dk = ds + kk * Ls + i0;                                                           \
        for (int t = 0; t < LB_TILE; ++t) dk[t] = pk[t] * (s[t] - di[t]) * scale;            \
      }                                                                                      \
      for (int64_t c = 0; c < d; ++c) {                                                      \
        lbdot_##SFX(ds + i0, Ls, k + c * L + W + i0, -1, W + 1, 0, 0, gq + c * LB_TILE);     \
        lbdot_##SFX(ds + (W + 1) * Ls + i0, Ls, k + c * L + W, 1, A, 1, 1, gq + c * LB_TILE);\
      }                                                                                      \
      const int64_t nt = S - i0 < LB_TILE ? S - i0 : LB_TILE;                                \
      lbstore_##SFX(gq, gqkv + (b * S + i0) * row + h * d, row, nt, d, h2,                   \
                    cs ? cs + i0 * h2 : 0, cs ? sn + i0 * h2 : 0);                           \
    }                                                                                        \
    /* the anchors' share of the key and value gradients: lane partial sums over query tiles */\
    for (int64_t an = 0; an < A; ++an)                                                       \
      for (int64_t c = 0; c < d; ++c) {                                                      \
        lbdot_##SFX(ds + (W + 1 + an) * Ls, LB_TILE, q + c * L + W, LB_TILE, Sr / LB_TILE, 0, 0,\
                    ak + (an * d + c) * LB_TILE);                                            \
        lbdot_##SFX(p + (W + 1 + an) * Ls, LB_TILE, go + c * L + W, LB_TILE, Sr / LB_TILE, 0, 0,\
                    av + (an * d + c) * LB_TILE);                                            \
      }                                                                                      \
    for (int64_t j0 = 0; j0 < Sr; j0 += LB_TILE) {                                           \
      for (int64_t c = 0; c < d; ++c) {                                                      \
        lbdot_##SFX(ds + j0, Ls + 1, q + c * L + W + j0, 1, W + 1, 0, 0, gk + c * LB_TILE);  \
        lbdot_##SFX(p + j0, Ls + 1, go + c * L + W + j0, 1, W + 1, 0, 0, gv + c * LB_TILE);  \
      }                                                                                      \
      for (int64_t an = j0; an < A && an < j0 + LB_TILE; ++an)                               \
        for (int64_t c = 0; c < d; ++c) {                                                    \
          const T* ka = ak + (an * d + c) * LB_TILE; const T* va = av + (an * d + c) * LB_TILE;\
          T sk = 0, sv = 0;                                                                  \
          for (int t = 0; t < LB_TILE; ++t) { sk += ka[t]; sv += va[t]; }                    \
          gk[c * LB_TILE + an - j0] += sk; gv[c * LB_TILE + an - j0] += sv;                  \
        }                                                                                    \
      const int64_t nt = S - j0 < LB_TILE ? S - j0 : LB_TILE;                                \
      lbstore_##SFX(gk, gqkv + (b * S + j0) * row + D + h * d, row, nt, d, h2,               \
                    cs ? cs + j0 * h2 : 0, cs ? sn + j0 * h2 : 0);                           \
      lbstore_##SFX(gv, gqkv + (b * S + j0) * row + 2 * D + h * d, row, nt, d, h2, 0, 0);    \
    }                                                                                        \
    free(ds);                                                                                \
  }                                                                                          \
}

/* Store a transposed tile x [d, LB_TILE] as nt rows dst + t*row (d wide), applying the inverse
   rotation (the adjoint of RoPE) at each row's position when cs is not NULL. */
#define LB_STORE(T, SFX)                                                                      \
static void lbstore_##SFX(const T* x, T* dst, int64_t row, int64_t nt, int64_t d, int64_t h2,\
                          const T* cs, const T* sn) {                                        \
  for (int64_t t = 0; t < nt; ++t) {                                                         \
    T* o = dst + t * row;                                                                    \
    if (!cs) { for (int64_t c = 0; c < d; ++c) o[c] = x[c * LB_TILE + t]; continue; }        \
    const T* cc = cs + t * h2; const T* ss = sn + t * h2;                                    \
    for (int64_t c = 0; c < h2; ++c) {                                                       \
      const T g1 = x[c * LB_TILE + t], g2 = x[(c + h2) * LB_TILE + t];                       \
      o[c] = g1 * cc[c] + g2 * ss[c]; o[c + h2] = g2 * cc[c] - g1 * ss[c];                   \
    }                                                                                        \
  }                                                                                          \
}

LB_STORE(float, f32)
LB_STORE(double, f64)
LBAND(float, f32)
LBAND(double, f64)
""".replace("@TILE@", str(TILE))
