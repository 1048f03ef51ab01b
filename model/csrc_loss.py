"""C source of the fused token cross-entropy (compiled into the shared library by `native.py`; it uses
the vectorised `lexp_*` of `csrc_local_attention.py`, which precedes it in the library source).

Why: at the tiny width the loss over [N, V] logits costs as much as a block. PyTorch runs
log-softmax, the NLL gather, then in backward a zero fill, the NLL scatter and the log-softmax
backward: five passes over [N, V]. Here one pass per row computes the max, the exponentials (kept in
the gradient buffer), the log-sum-exp and the row's loss, and writes the gradient of the mean loss,
(softmax − onehot)/N, which backward only has to scale by the incoming gradient. Rows run in parallel
(OpenMP) and their losses are summed afterwards in row order in double, so the result does not depend
on the thread count.
"""

SOURCE = r"""
/* Mean cross-entropy over N rows of V logits with int64 targets (in range: the caller checks).
   Writes grad [N, V] = (softmax - onehot) * inv_n and per-row losses rl [N]; returns their mean. */
#define CE(T, SFX, LOGV)                                                                      \
double ce_##SFX(const T* x, const int64_t* tgt, T* grad, double* rl, int64_t N, int64_t V,   \
                T inv_n) {                                                                   \
  _Pragma("omp parallel for schedule(static) if (N * V > 65536)")                            \
  for (int64_t r = 0; r < N; ++r) {                                                          \
    const T* xr = x + r * V; T* gr = grad + r * V;                                           \
    T m[16], s[16];                                                                          \
    for (int j = 0; j < 16; ++j) { m[j] = -INFINITY; s[j] = 0; }                             \
    int64_t i = 0;                                                                           \
    for (; i + 16 <= V; i += 16) {                                                           \
      const T* xi = xr + i;                                                                  \
      for (int j = 0; j < 16; ++j) m[j] = xi[j] > m[j] ? xi[j] : m[j];                       \
    }                                                                                        \
    for (; i < V; ++i) m[0] = xr[i] > m[0] ? xr[i] : m[0];                                   \
    T mx = m[0];                                                                             \
    for (int j = 1; j < 16; ++j) mx = m[j] > mx ? m[j] : mx;                                 \
    for (i = 0; i < V; ++i) gr[i] = lexp_##SFX(xr[i] - mx);                                  \
    for (i = 0; i + 16 <= V; i += 16) {                                                      \
      const T* gi = gr + i;                                                                  \
      for (int j = 0; j < 16; ++j) s[j] += gi[j];                                            \
    }                                                                                        \
    for (; i < V; ++i) s[0] += gr[i];                                                        \
    double sum = 0;                                                                          \
    for (int j = 0; j < 16; ++j) sum += (double)s[j];                                        \
    const T scale = (T)((double)inv_n / sum);                                                \
    for (i = 0; i < V; ++i) gr[i] = gr[i] * scale;                                           \
    gr[tgt[r]] -= inv_n;                                                                     \
    rl[r] = (double)mx + LOGV(sum) - (double)xr[tgt[r]];                                     \
  }                                                                                          \
  double total = 0;                                                                          \
  for (int64_t r = 0; r < N; ++r) total += rl[r];                                            \
  return total / (double)N;                                                                  \
}
CE(float, f32, log)

"""
