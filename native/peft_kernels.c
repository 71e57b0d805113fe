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
 * the size its shape says (the N-API wrappers in peft_kernels_napi.c check
 * that). The public functions split their rows or elements over threads
 * (parallel.c); the serial loops below them do the work.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "peft_kernels.h"
#include "parallel.h"

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
static void gelu_serial(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v * gelu_gate(v);
  }
}

/* d/dx x·σ(2u) = σ + x·σ(1 − σ)·(K1 + 3·K2·x²). */
PEFT_CLONES
static void gelu_grad_serial(const float *dy, const float *x, float *dx, int64_t n) {
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
static void layer_norm_serial(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
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
static void layer_norm_grad_x_serial(const float *dy, const float *x, const float *w, const float *mean,
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
static void adamw_serial(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
                         float *v_out, int64_t n, float decay, float b1, float c1, float b2, float c2,
                         float step_size, float bc2_sqrt, float eps) {
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

/* --------------------------------------------------------------------------
 * The public kernels: the serial loops over chunks of rows or elements.
 */

/*
 * Minimum work per thread. A thread start costs tens of microseconds, but
 * right after a GEMM the other cores may still be held by OpenBLAS's
 * spinning workers, and a new thread can wait for a scheduler slice (~1 ms:
 * measured, a split LayerNorm of [1024, 256] went from 0.2 to 0.8 ms). So only
 * long loops split: GELU (~1.5 ns per element) from 256 K elements, the
 * memory-bound LayerNorm and AdamW from 1 M.
 */
#define GELU_GRAIN (1 << 18)
#define MEMORY_GRAIN (1 << 20)

static int64_t row_grain(int64_t d) { return d >= MEMORY_GRAIN ? 1 : MEMORY_GRAIN / (d > 0 ? d : 1); }

typedef struct {
  const float *a, *b, *c, *d, *e;
  float *o1, *o2, *o3;
  int64_t width;
  float h[8];
} task;

static void gelu_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  gelu_serial(t->a + b, t->o1 + b, e - b);
}

void peft_gelu_tanh(const float *x, float *y, int64_t n) {
  task t = {.a = x, .o1 = y};
  peft_parallel_for(n, GELU_GRAIN, gelu_task, &t);
}

static void gelu_grad_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  gelu_grad_serial(t->a + b, t->b + b, t->o1 + b, e - b);
}

void peft_gelu_tanh_grad(const float *dy, const float *x, float *dx, int64_t n) {
  task t = {.a = dy, .b = x, .o1 = dx};
  peft_parallel_for(n, GELU_GRAIN, gelu_grad_task, &t);
}

static void layer_norm_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  const int64_t d = t->width;
  layer_norm_serial(t->a + b * d, t->b, t->c, t->o1 + b * d, t->o2 + b, t->o3 + b, e - b, d, t->h[0]);
}

void peft_layer_norm(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                     int64_t n, int64_t d, float eps) {
  task t = {.a = x, .b = w, .c = b, .o1 = y, .o2 = mean, .o3 = rstd, .width = d, .h = {eps}};
  peft_parallel_for(n, row_grain(d), layer_norm_task, &t);
}

static void layer_norm_grad_x_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  const int64_t d = t->width;
  layer_norm_grad_x_serial(t->a + b * d, t->b + b * d, t->c, t->d + b, t->e + b, t->o1 + b * d, e - b, d);
}

void peft_layer_norm_grad_x(const float *dy, const float *x, const float *w, const float *mean,
                            const float *rstd, float *dx, int64_t n, int64_t d) {
  task t = {.a = dy, .b = x, .c = w, .d = mean, .e = rstd, .o1 = dx, .width = d};
  peft_parallel_for(n, row_grain(d), layer_norm_grad_x_task, &t);
}

static void adamw_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  adamw_serial(t->a + b, t->b + b, t->c + b, t->d + b, t->o1 + b, t->o2 + b, t->o3 + b, e - b, t->h[0], t->h[1],
               t->h[2], t->h[3], t->h[4], t->h[5], t->h[6], t->h[7]);
}

void peft_adamw(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
                float *v_out, int64_t n, float decay, float b1, float c1, float b2, float c2, float step_size,
                float bc2_sqrt, float eps) {
  task t = {.a = p, .b = g, .c = m, .d = v, .o1 = p_out, .o2 = m_out, .o3 = v_out,
            .h = {decay, b1, c1, b2, c2, step_size, bc2_sqrt, eps}};
  peft_parallel_for(n, MEMORY_GRAIN, adamw_task, &t);
}
