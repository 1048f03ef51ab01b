"""C source of the direct local attention kernels (compiled into the shared library by `native.py`).

Why a direct kernel next to the flash-based one: with a small window (the `tiny` model's W = 16)
each query sees at most A + W + 1 keys, but the blockwise flash path scores every query of a block
against a whole P + Q span (128 keys at Q = 64) and pays per-call packing, masks and layout copies.
Here each (row, head) scores exactly its admissible keys: one pass forward (RoPE, scores, softmax,
weighted sum, log-sum-exp), one pass backward (the standard softmax-attention adjoint from the saved
log-sum-exp, with the key and value gradients scattered, then the inverse rotation written straight
into the fused projection's gradient). O(S·(A + W)·d), no [rows, span] buffers.

Forward keeps each row's normalised probabilities ([B·S, H, A + W + 1]) so backward needs no
exponentials and no score products. Head sizes 16, 32 and 64 are compiled as constants (unrolled,
vectorised inner loops); other sizes take the generic build. Dot products use eight partial sums in
a fixed order (deterministic, vectorisable without fast-math): values differ from flash/SDPA only in
summation order (fp32 rounding level).
"""

SOURCE = r"""
#define LDOT(T, NAME)                                                                         \
static inline T NAME(const T* a, const T* b, int64_t n) {                                    \
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                         \
  int64_t i = 0;                                                                             \
  for (; i + 8 <= n; i += 8)                                                                 \
    for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];                                 \
  for (; i < n; ++i) s[0] += a[i] * b[i];                                                    \
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));                  \
}
LDOT(float, ldot_f32)
LDOT(double, ldot_f64)

/* Admissible active keys of query i (local positions): anchors j < min(A, i - W), then the window
   [max(0, i - W), i]; returns their number, written to keys. */
static inline int64_t lkeys(const uint8_t* a, int64_t i, int64_t W, int64_t A, int64_t* keys) {
  int64_t lo = i - W < 0 ? 0 : i - W, na = A < lo ? A : lo, n = 0;
  for (int64_t j = 0; j < na; ++j) if (a[j]) keys[n++] = j;
  for (int64_t j = lo; j <= i; ++j) if (a[j]) keys[n++] = j;
  return n;
}

/* RoPE (rotate-half) of one row of H heads: out = x rotated by (c, s) [d/2], or its inverse. */
#define LROT(T, NAME)                                                                         \
static inline void NAME(const T* x, T* o, const T* c, const T* s, int64_t H, int64_t d,      \
                        int inverse) {                                                       \
  const int64_t h2 = d / 2;                                                                  \
  if (!c) { for (int64_t i = 0; i < H * d; ++i) o[i] = x[i]; return; }                       \
  for (int64_t h = 0; h < H; ++h) {                                                          \
    const T* xh = x + h * d; T* oh = o + h * d;                                              \
    for (int64_t i = 0; i < h2; ++i) {                                                       \
      const T x1 = xh[i], x2 = xh[i + h2];                                                   \
      if (inverse) { oh[i] = x1 * c[i] + x2 * s[i]; oh[i + h2] = x2 * c[i] - x1 * s[i]; }    \
      else { oh[i] = x1 * c[i] - x2 * s[i]; oh[i + h2] = x2 * c[i] + x1 * s[i]; }            \
    }                                                                                        \
  }                                                                                          \
}
LROT(float, lrot_f32)
LROT(double, lrot_f64)

/* Forward, head size DD (a constant, or the runtime d). qkv [B, S, 3D] (D = H*d, before RoPE);
   cos/sin [S, d/2] or NULL; active [B, S] bytes. Query i sees the window [max(0, i - W), i] and
   the anchors j < min(A, i - W), active keys only. Writes the rotated q and k rows (qr, kr
   [B, S, D]), out [B, S, D] and the probabilities P [B*S, H, K] of each row's admissible keys in
   `lkeys` order (K = A + W + 1); a row without keys (or a silent query when q_active) gets out 0.
   Scratch: keys [K]. Only heads h0 <= h < h1 are computed. */
#define LATTN(T, NAME, DD, DOT, ROT, EXPV)                                                    \
static void NAME(const T* qkv, int64_t B, int64_t S, int64_t H, int64_t d_in, const T* cs,  \
                 const T* sn, const uint8_t* active, int64_t W, int64_t A, int64_t q_active, \
                 T scale, T* qr, T* kr, T* out, T* P, int64_t* keys, int64_t h0, int64_t h1) {\
  const int64_t d = DD, D = H * d, h2 = d / 2, row = 3 * D, K = A + W + 1, o0 = h0 * d;      \
  (void)d_in;                                                                                \
  for (int64_t r = 0; r < B * S; ++r) {                                                      \
    const T* c = cs ? cs + (r % S) * h2 : 0; const T* s = cs ? sn + (r % S) * h2 : 0;        \
    ROT(qkv + r * row + o0, qr + r * D + o0, c, s, h1 - h0, d, 0);                           \
    ROT(qkv + r * row + D + o0, kr + r * D + o0, c, s, h1 - h0, d, 0);                       \
  }                                                                                          \
  for (int64_t b = 0; b < B; ++b) {                                                          \
    const uint8_t* a = active + b * S;                                                       \
    for (int64_t i = 0; i < S; ++i) {                                                        \
      const int64_t r = b * S + i;                                                           \
      T* o = out + r * D;                                                                    \
      const int64_t n = (q_active && !a[i]) ? 0 : lkeys(a, i, W, A, keys);                   \
      if (!n) { for (int64_t c = o0; c < h1 * d; ++c) o[c] = (T)0; continue; }               \
      for (int64_t h = h0; h < h1; ++h) {                                                    \
        const T* q = qr + r * D + h * d;                                                     \
        T* p = P + (r * H + h) * K;                                                          \
        T mx = -INFINITY;                                                                    \
        for (int64_t k = 0; k < n; ++k) {                                                    \
          const T sk = DOT(q, kr + (b * S + keys[k]) * D + h * d, d) * scale;                \
          p[k] = sk; mx = sk > mx ? sk : mx;                                                 \
        }                                                                                    \
        T sum = 0;                                                                           \
        for (int64_t k = 0; k < n; ++k) p[k] = EXPV(p[k] - mx);                              \
        for (int64_t k = 0; k < n; ++k) sum += p[k];                                         \
        const T inv = (T)1 / sum;                                                            \
        T oh[DD];                                                                            \
        for (int64_t c = 0; c < d; ++c) oh[c] = (T)0;                                        \
        for (int64_t k = 0; k < n; ++k) {                                                    \
          const T pk = p[k] * inv;                                                           \
          p[k] = pk;                                                                         \
          const T* v = qkv + (b * S + keys[k]) * row + 2 * D + h * d;                        \
          for (int64_t c = 0; c < d; ++c) oh[c] += pk * v[c];                                \
        }                                                                                    \
        for (int64_t c = 0; c < d; ++c) o[h * d + c] = oh[c];                                \
      }                                                                                      \
    }                                                                                        \
  }                                                                                          \
}

/* Backward, same specialisation. g [B, S, D] (the output's gradient) and the forward's saved
   tensors -> gqkv [B, S, 3D] (inverse rotation applied to the q and k parts).
   Scratch: gk [B, S, D] (rotated key gradients), gq [D], keys [K]. Heads h0 <= h < h1 only. */
#define LATTN_BWD(T, NAME, DD, DOT, ROT)                                                      \
static void NAME(const T* g, const T* qkv, const T* qr, const T* kr, const T* out,           \
                 const T* P, int64_t B, int64_t S, int64_t H, int64_t d_in, const T* cs,     \
                 const T* sn, const uint8_t* active, int64_t W, int64_t A, int64_t q_active, \
                 T scale, T* gqkv, T* gk, T* gq, int64_t* keys, int64_t h0, int64_t h1) {    \
  const int64_t d = DD, D = H * d, h2 = d / 2, row = 3 * D, K = A + W + 1, o0 = h0 * d;      \
  const int64_t nh = h1 - h0;                                                                \
  (void)d_in;                                                                                \
  for (int64_t r = 0; r < B * S; ++r)                                                        \
    for (int64_t c = o0; c < h1 * d; ++c) { gk[r * D + c] = (T)0; gqkv[r * row + 2 * D + c] = (T)0; }\
  for (int64_t b = 0; b < B; ++b) {                                                          \
    const uint8_t* a = active + b * S;                                                       \
    for (int64_t i = 0; i < S; ++i) {                                                        \
      const int64_t r = b * S + i;                                                           \
      const int64_t n = (q_active && !a[i]) ? 0 : lkeys(a, i, W, A, keys);                   \
      for (int64_t c = o0; c < h1 * d; ++c) gq[c] = (T)0;                                    \
      for (int64_t h = h0; h < h1 && n; ++h) {                                               \
        const T* go = g + r * D + h * d; const T* q = qr + r * D + h * d;                    \
        const T* p = P + (r * H + h) * K;                                                    \
        const T Di = DOT(go, out + r * D + h * d, d);                                        \
        T* gqh = gq + h * d;                                                                 \
        for (int64_t k = 0; k < n; ++k) {                                                    \
          const int64_t rk = b * S + keys[k];                                                \
          const T* kk = kr + rk * D + h * d; const T* v = qkv + rk * row + 2 * D + h * d;    \
          const T pk = p[k], ds = pk * (DOT(go, v, d) - Di) * scale;                         \
          T* gkh = gk + rk * D + h * d; T* gvh = gqkv + rk * row + 2 * D + h * d;            \
          _Pragma("GCC ivdep")                                                               \
          for (int64_t c = 0; c < d; ++c) {                                                  \
            gqh[c] += ds * kk[c]; gkh[c] += ds * q[c]; gvh[c] += pk * go[c];                 \
          }                                                                                  \
        }                                                                                    \
      }                                                                                      \
      ROT(gq + o0, gqkv + r * row + o0, cs ? cs + i * h2 : 0, cs ? sn + i * h2 : 0, nh, d, 1);\
    }                                                                                        \
  }                                                                                          \
  for (int64_t r = 0; r < B * S; ++r)                                                        \
    ROT(gk + r * D + o0, gqkv + r * row + D + o0, cs ? cs + (r % S) * h2 : 0,                \
        cs ? sn + (r % S) * h2 : 0, nh, d, 1);                                               \
}

#define LATTN_ALL(T, SFX, EXPV)                                                               \
LATTN(T, lattn_##SFX##_d16, 16, ldot_##SFX, lrot_##SFX, EXPV)                          \
LATTN(T, lattn_##SFX##_d32, 32, ldot_##SFX, lrot_##SFX, EXPV)                          \
LATTN(T, lattn_##SFX##_d64, 64, ldot_##SFX, lrot_##SFX, EXPV)                          \
LATTN(T, lattn_##SFX##_dn, d_in, ldot_##SFX, lrot_##SFX, EXPV)                         \
LATTN_BWD(T, lattnbwd_##SFX##_d16, 16, ldot_##SFX, lrot_##SFX)                               \
LATTN_BWD(T, lattnbwd_##SFX##_d32, 32, ldot_##SFX, lrot_##SFX)                               \
LATTN_BWD(T, lattnbwd_##SFX##_d64, 64, ldot_##SFX, lrot_##SFX)                               \
LATTN_BWD(T, lattnbwd_##SFX##_dn, d_in, ldot_##SFX, lrot_##SFX)                              \
void lattn_##SFX(const T* qkv, int64_t B, int64_t S, int64_t H, int64_t d, const T* cs,      \
                 const T* sn, const uint8_t* active, int64_t W, int64_t A, int64_t q_active, \
                 T scale, T* qr, T* kr, T* out, T* P, int64_t* keys, int64_t h0, int64_t h1) {\
  (d == 16 ? lattn_##SFX##_d16 : d == 32 ? lattn_##SFX##_d32 : d == 64 ? lattn_##SFX##_d64   \
   : lattn_##SFX##_dn)(qkv, B, S, H, d, cs, sn, active, W, A, q_active, scale, qr, kr, out,  \
                       P, keys, h0, h1);                                                     \
}                                                                                            \
void lattnbwd_##SFX(const T* g, const T* qkv, const T* qr, const T* kr, const T* out,        \
                    const T* P, int64_t B, int64_t S, int64_t H, int64_t d, const T* cs,     \
                    const T* sn, const uint8_t* active, int64_t W, int64_t A,                \
                    int64_t q_active, T scale, T* gqkv, T* gk, T* gq, int64_t* keys,         \
                    int64_t h0, int64_t h1) {                                                \
  (d == 16 ? lattnbwd_##SFX##_d16 : d == 32 ? lattnbwd_##SFX##_d32                           \
   : d == 64 ? lattnbwd_##SFX##_d64 : lattnbwd_##SFX##_dn)(g, qkv, qr, kr, out, P, B, S, H, \
                                   d, cs, sn, active, W, A, q_active, scale, gqkv, gk, gq,   \
                                   keys, h0, h1);                                            \
}
LATTN_ALL(float, f32, expf)
LATTN_ALL(double, f64, exp)
"""
