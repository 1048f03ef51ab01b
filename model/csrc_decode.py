"""C source of the fused one-token decoding step (compiled into the shared library by `native.py`).

Why: one cached decoding step of a small model is ~60 tensor ops and ~1,200 Python calls (module
dispatch, cache bookkeeping, ctypes), each costing more than its arithmetic at width 64. This kernel
runs the whole step for fp32 CPU in one call: embedding, encoder LayerNorm and LIF, then per block
the fused QKV product, RoPE, the ring-buffer write and attention over its slots, the decay step over
the projected spikes (a gather-add: spikes are 0/1), the gate mix, the output projection and
LayerNorm, the FFN (threshold hidden layer, down projection as a gather-add over the fired units)
and LayerNorm, the block's output spikes, and finally the prior head. Spike counts for the sparsity
meter come out of the same pass.

Products are written in "axpy" form over transposed weights (y += x_i · Wᵀ[i]), which the compiler
vectorises without reassociation; sums run in a different order than MKL's, so values agree with the
module path to fp32 rounding (LayerNorm moments are accumulated in double). Every elementwise step
(LIF, decay step, gate mix, spikes) uses the module path's roundings.

Per-layer addresses come in an int64 table of `DEC_NPTR` entries (order in `fused_decode.py`).
"""

N_LAYER_PTRS = 19

SOURCE = r"""
#define DEC_NPTR 19

/* y[o] = sum_i x[i] * wt[i*out + o] (skipping zero inputs), y [out]. */
static void dec_gemv(const float* x, const float* wt, float* y, int64_t in, int64_t out) {
  for (int64_t o = 0; o < out; ++o) y[o] = 0.0f;
  for (int64_t i = 0; i < in; ++i) {
    const float xi = x[i];
    if (xi == 0.0f) continue;
    const float* w = wt + i * out;
    for (int64_t o = 0; o < out; ++o) y[o] += xi * w[o];
  }
}

/* y[o] = sum over fired i (x[i] != 0, x binary) of wt[i*out + o]: the product with a 0/1 vector. */
static void dec_gather(const float* x, const float* wt, float* y, int64_t in, int64_t out) {
  for (int64_t o = 0; o < out; ++o) y[o] = 0.0f;
  for (int64_t i = 0; i < in; ++i) {
    if (x[i] == 0.0f) continue;
    const float xi = x[i];
    const float* w = wt + i * out;
    for (int64_t o = 0; o < out; ++o) y[o] += xi * w[o];
  }
}

/* LayerNorm of x + r (r may be NULL) over n channels: moments in double. */
static void dec_ln(const float* x, const float* r, float* out, const float* w, const float* b, int64_t n,
                   float eps, float* tmp) {
  double mean = 0.0, var = 0.0;
  for (int64_t i = 0; i < n; ++i) { tmp[i] = r ? x[i] + r[i] : x[i]; mean += tmp[i]; }
  mean /= (double)n;
  for (int64_t i = 0; i < n; ++i) { const double e = tmp[i] - mean; var += e * e; }
  var /= (double)n;
  const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + (double)eps));
  for (int64_t i = 0; i < n; ++i) out[i] = ((tmp[i] - m) * rstd) * w[i] + b[i];
}

static int64_t dec_spikes(const float* x, float* s, int64_t n, float theta) {
  int64_t ones = 0;
  for (int64_t i = 0; i < n; ++i) { s[i] = x[i] >= theta ? 1.0f : 0.0f; ones += x[i] >= theta; }
  return ones;
}

/* Rotate-half RoPE of H heads of size d with the half tables c, s [d/2]. */
static void dec_rope(const float* x, float* o, const float* c, const float* s, int64_t H, int64_t d) {
  const int64_t h2 = d / 2;
  for (int64_t h = 0; h < H; ++h) {
    const float* xh = x + h * d; float* oh = o + h * d;
    for (int64_t i = 0; i < h2; ++i) {
      const float x1 = xh[i], x2 = xh[i + h2];
      oh[i] = x1 * c[i] - x2 * s[i];
      oh[i + h2] = x2 * c[i] + x1 * s[i];
    }
  }
}

/* One token per row b < B at absolute position pos, ring-buffer slot `slot` of nslot.
   counts [1 + 3L]: encoder, then (mixer, ffn_hidden, block_out) per layer; added to. */
void sl_decode_f32(const int64_t* tok, int64_t B, int64_t D, int64_t H, int64_t F, int64_t V,
                   int64_t Pd, int64_t L, int64_t nslot, int64_t slot, int64_t pos,
                   const float* emb, const float* enc_w, const float* enc_b, const float* mem_in,
                   float* mem_out, float leak, float theta, float clampv, float eps, float scale,
                   const int64_t* layers, const float* gates, const float* unembT, const float* pinT,
                   const float* poutT, float pw, float* logits, int64_t* counts, float* work) {
  const int64_t d = H ? D / H : 0;
  float* c = work; float* s = c + D; float* qkv = s + D; float* q = qkv + 3 * D;
  float* att = q + D; float* u = att + D; float* mix = u + D; float* y = mix + D;
  float* tmp = y + D; float* a = tmp + (F > D ? F : D); float* z = a + F; float* pr = z + F;
  float* sc = pr + (Pd > 0 ? Pd : 1);
  for (int64_t b = 0; b < B; ++b) {
    /* encoder: embedding, LayerNorm, one LIF step */
    dec_ln(emb + tok[b] * D, 0, c, enc_w, enc_b, D, eps, tmp);
    int64_t ones = 0;
    for (int64_t i = 0; i < D; ++i) {
      float v = mem_in[b * D + i] * leak;
      v = v + c[i];
      v = v < -clampv ? -clampv : v;
      v = v > clampv ? clampv : v;
      const float sp = v >= theta ? 1.0f : 0.0f;
      s[i] = sp; ones += (int64_t)sp;
      mem_out[b * D + i] = v * (1.0f - sp);
    }
    counts[0] += ones;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t* P = layers + l * DEC_NPTR;
      const float* wqkvT = (const float*)P[0]; float* kc = (float*)P[1]; float* vc = (float*)P[2];
      float* bias = (float*)P[3]; int64_t* slot_pos = (int64_t*)P[4]; const float* wtcamT = (const float*)P[5];
      const float* lam = (const float*)P[6]; const float* oml = (const float*)P[7];
      const float* st_in = (const float*)P[8]; float* st_out = (float*)P[9];
      const float* woutT = (const float*)P[10]; const float* n1w = (const float*)P[11];
      const float* n1b = (const float*)P[12]; const float* wupT = (const float*)P[13];
      const float* wdownT = (const float*)P[14]; const float* n2w = (const float*)P[15];
      const float* n2b = (const float*)P[16]; const float* cs = (const float*)P[17];
      const float* sn = (const float*)P[18];
      int act = 0;
      for (int64_t i = 0; i < D; ++i) act |= s[i] != 0.0f;
      /* attention: fused projection, RoPE, ring-buffer write, attention over every slot */
      dec_gemv(c, wqkvT, qkv, D, 3 * D);
      dec_rope(qkv, q, cs, sn, H, d);
      float* krow = kc + (b * nslot + slot) * D; float* vrow = vc + (b * nslot + slot) * D;
      dec_rope(qkv + D, krow, cs, sn, H, d);
      for (int64_t i = 0; i < D; ++i) vrow[i] = qkv[2 * D + i];
      bias[b * nslot + slot] = act ? 0.0f : -INFINITY;
      if (b == 0) slot_pos[slot] = pos;
      const float* bb = bias + b * nslot;
      for (int64_t h = 0; h < H; ++h) {
        float* oh = att + h * d;
        for (int64_t i = 0; i < d; ++i) oh[i] = 0.0f;
        if (!act) continue;
        float mx = -INFINITY;
        for (int64_t j = 0; j < nslot; ++j) {
          if (bb[j] == -INFINITY) { sc[j] = -INFINITY; continue; }
          const float* kj = kc + (b * nslot + j) * D + h * d;
          float dot = 0.0f;
          for (int64_t i = 0; i < d; ++i) dot += q[h * d + i] * kj[i];
          sc[j] = dot * scale + bb[j];
          mx = sc[j] > mx ? sc[j] : mx;
        }
        if (mx == -INFINITY) continue;
        float sum = 0.0f;
        for (int64_t j = 0; j < nslot; ++j) {
          if (sc[j] == -INFINITY) continue;
          const float p = expf(sc[j] - mx);
          sum += p;
          const float* vj = vc + (b * nslot + j) * D + h * d;
          for (int64_t i = 0; i < d; ++i) oh[i] += p * vj[i];
        }
        for (int64_t i = 0; i < d; ++i) oh[i] = oh[i] / sum;
      }
      /* decay step over the projected spikes: h = lam*h + (1 - lam)*u */
      dec_gather(s, wtcamT, u, D, D);
      float* stb = st_out + b * D;
      for (int64_t i = 0; i < D; ++i) {
        const int64_t hh = i / d;
        const float lh = lam[hh] * st_in[b * D + i];
        stb[i] = lh + oml[hh] * u[i];
      }
      /* gate mix, output projection, LayerNorm */
      const float g = gates[l], omg = 1.0f - g;
      for (int64_t i = 0; i < D; ++i) mix[i] = g * att[i] + omg * stb[i];
      dec_gemv(mix, woutT, y, D, D);
      dec_ln(c, y, c, n1w, n1b, D, eps, tmp);  /* c' (the mixer's output) */
      { int64_t m = 0; for (int64_t i = 0; i < D; ++i) m += c[i] >= theta; counts[1 + 3 * l] += m; }
      /* FFN: threshold hidden layer, gather-add down projection, LayerNorm */
      dec_gemv(c, wupT, a, D, F);
      counts[2 + 3 * l] += dec_spikes(a, z, F, theta);
      dec_gather(z, wdownT, y, F, D);
      dec_ln(c, y, c, n2w, n2b, D, eps, tmp);
      counts[3 + 3 * l] += dec_spikes(c, s, D, theta);
    }
    /* prior head: W_o c + (gelu(W_1 c) * w_p) W_2 */
    float* lg = logits + b * V;
    dec_gemv(c, unembT, lg, D, V);
    if (Pd > 0) {
      dec_gemv(c, pinT, pr, D, Pd);
      for (int64_t i = 0; i < Pd; ++i) {
        const float x = pr[i];
        pr[i] = (0.5f * x * (1.0f + erff(x * 0.70710678118654752440f))) * pw;
      }
      for (int64_t i = 0; i < Pd; ++i) {
        const float pi = pr[i];
        const float* w = poutT + i * V;
        for (int64_t o = 0; o < V; ++o) lg[o] += pi * w[o];
      }
    }
  }
}
"""


def work_floats(D: int, F: int, prior_dim: int, n_slots: int) -> int:
    """Scratch size (floats) of `sl_decode_f32` for these dimensions."""
    return 10 * D + max(F, D) + 2 * F + max(prior_dim, 1) + n_slots
