/*
 * peft_kernels: row-wise and element-wise kernels of a transformer step that
 * TensorFlow.js would otherwise run as many separate passes over memory:
 * LayerNorm (forward, input gradient, parameter gradients) and the tanh form
 * of GELU (forward and gradient). Plain C loops written so that the compiler
 * vectorises them (fixed-width partial sums, no library calls in the inner
 * loops); on x86-64 with GCC each function is also cloned for AVX2+FMA and
 * picked at load time.
 *
 * Row-major [n, d] throughout; every pointer is a float32 array of at least
 * the size its shape says (the N-API wrappers in peft_gemm.c check that).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "peft_kernels.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PEFT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PEFT_CLONES
#endif

#define LANES 8

/* --------------------------------------------------------------------------
 * exp(x) for float32 without libm, so loops over it vectorise: x = n·ln2 + r,
 * |r| ≤ ln2/2, exp(r) by its degree-6 Taylor polynomial (relative error
 * < 2e-7 on that interval), times 2^n built in the exponent bits. Inputs are
 * clamped to [-87, 88] (exp(-87) is still a normal float32).
 */
static inline float exp_f32(float x) {
  x = x > 88.0f ? 88.0f : x;
  x = x < -87.0f ? -87.0f : x;
  /* adding 1.5·2^23 rounds to an integer, which then sits in the low mantissa bits */
  const float shifter = 12582912.0f;
  float shifted = x * 1.44269504088896341f + shifter;
  float n = shifted - shifter;
  int32_t ni;
  memcpy(&ni, &shifted, sizeof ni);
  ni -= 0x4B400000; /* the bits of 1.5·2^23 */
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (ni + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* ½(1 + tanh u) = σ(2u) with u = √(2/π)(x + 0.044715x³); K1 = 2√(2/π), K2 = K1·0.044715. */
#define GELU_K1 1.5957691216057308f
#define GELU_K2 0.07135481627260025f

static inline float gelu_gate(float x) {
  float z = x * (GELU_K1 + GELU_K2 * x * x);
  return 1.0f / (1.0f + exp_f32(-z));
}

PEFT_CLONES
void peft_gelu_tanh(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v * gelu_gate(v);
  }
}

/* d/dx x·σ(2u) = σ + x·σ(1 − σ)·(K1 + 3·K2·x²). */
PEFT_CLONES
void peft_gelu_tanh_grad(const float *dy, const float *x, float *dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float s = gelu_gate(v);
    dx[i] = dy[i] * (s + v * s * (1.0f - s) * (GELU_K1 + 3.0f * GELU_K2 * v * v));
  }
}

/* Σ v[0..d) in double, in LANES partial sums (vectorisable without reassociation flags). */
static inline double row_sum(const float *v, int64_t d) {
  double acc[LANES] = {0};
  int64_t j = 0;
  for (; j + LANES <= d; j += LANES)
    for (int k = 0; k < LANES; k++) acc[k] += (double)v[j + k];
  double s = 0;
  for (int k = 0; k < LANES; k++) s += acc[k];
  for (; j < d; j++) s += (double)v[j];
  return s;
}

/*
 * y = (x − μ)·rstd·w + b per row, rstd = 1/√(var + eps), biased variance
 * (two passes). w and b may be NULL (1 and 0). Writes μ and rstd per row.
 */
PEFT_CLONES
void peft_layer_norm(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                     int64_t n, int64_t d, float eps) {
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    float *yr = y + i * d;
    /* moments in double: rows of large mean and small spread keep their digits */
    const double mu_d = row_sum(xr, d) / (double)d;
    double acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
      for (int k = 0; k < LANES; k++) {
        double c = (double)xr[j + k] - mu_d;
        acc[k] += c * c;
      }
    double var = 0;
    for (int k = 0; k < LANES; k++) var += acc[k];
    for (; j < d; j++) var += ((double)xr[j] - mu_d) * ((double)xr[j] - mu_d);
    var /= (double)d;
    const float mu = (float)mu_d;
    const float rs = (float)(1.0 / sqrt(var + (double)eps));
    mean[i] = mu;
    rstd[i] = rs;
    if (w != NULL && b != NULL) {
      for (j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    } else if (w != NULL) {
      for (j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs * w[j];
    } else if (b != NULL) {
      for (j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs + b[j];
    } else {
      for (j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs;
    }
  }
}

/*
 * dx of LayerNorm: with x̂ = (x − μ)·rstd and g = dy·w,
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row. w may be NULL.
 */
PEFT_CLONES
void peft_layer_norm_grad_x(const float *dy, const float *x, const float *w, const float *mean,
                            const float *rstd, float *dx, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    const float *gr = dy + i * d;
    float *dr = dx + i * d;
    const float mu = mean[i], rs = rstd[i];
    double sg[LANES] = {0}, sgx[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
      for (int k = 0; k < LANES; k++) {
        float g = gr[j + k] * (w != NULL ? w[j + k] : 1.0f);
        sg[k] += (double)g;
        sgx[k] += (double)g * (double)((xr[j + k] - mu) * rs);
      }
    double a_d = 0, c_d = 0;
    for (int k = 0; k < LANES; k++) {
      a_d += sg[k];
      c_d += sgx[k];
    }
    for (; j < d; j++) {
      float g = gr[j] * (w != NULL ? w[j] : 1.0f);
      a_d += (double)g;
      c_d += (double)g * (double)((xr[j] - mu) * rs);
    }
    const float a = (float)(a_d / (double)d);
    const float c = (float)(c_d / (double)d);
    for (j = 0; j < d; j++) {
      float g = gr[j] * (w != NULL ? w[j] : 1.0f);
      dr[j] = rs * (g - a - (xr[j] - mu) * rs * c);
    }
  }
}

/*
 * Parameter gradients of LayerNorm, summed over the rows:
 * dw = Σ dy·x̂, db = Σ dy. Either output may be NULL (not wanted).
 */
PEFT_CLONES
void peft_layer_norm_grad_params(const float *dy, const float *x, const float *mean, const float *rstd,
                                 float *dw, float *db, int64_t n, int64_t d) {
  if (dw != NULL) memset(dw, 0, (size_t)d * sizeof(float));
  if (db != NULL) memset(db, 0, (size_t)d * sizeof(float));
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    const float *gr = dy + i * d;
    const float mu = mean[i], rs = rstd[i];
    if (dw != NULL)
      for (int64_t j = 0; j < d; j++) dw[j] += gr[j] * (xr[j] - mu) * rs;
    if (db != NULL)
      for (int64_t j = 0; j < d; j++) db[j] += gr[j];
  }
}

/*
 * One AdamW step over n parameters (torch.optim.AdamW's update, in its order):
 * m' = β1·m + c1·g, v' = β2·v + c2·g² (c1 = 1 − β1, c2 = 1 − β2, passed in as the
 * caller rounded them),
 * p' = p·decay − step_size·m' / (√v' / bc2_sqrt + eps).
 * Outputs may alias their inputs.
 */
PEFT_CLONES
void peft_adamw(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
                float *v_out, int64_t n, float decay, float b1, float c1, float b2, float c2, float step_size,
                float bc2_sqrt, float eps) {
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = m[i] * b1 + gi * c1;
    float vi = v[i] * b2 + (gi * gi) * c2;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    p_out[i] = p[i] * decay - (mi / denom) * step_size;
    m_out[i] = mi;
    v_out[i] = vi;
  }
}
