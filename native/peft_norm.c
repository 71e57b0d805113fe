/*
 * Row-wise normalisation kernels: LayerNorm (forward, input gradient,
 * parameter gradients) and LLaMA's RMSNorm (forward, input and weight
 * gradients), one pass over each row where TensorFlow.js makes ~7–11.
 * Moments and row sums are taken in double. Row-major [n, d]; the public
 * functions split their rows over threads (parallel.c). Every pointer is a
 * float32 array of at least the size its shape says (checked by
 * peft_kernels_napi.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel_common.h"
#include "peft_kernels.h"

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
 * y = x·rstd·w per row, rstd = 1/√(mean(x²) + eps) (LLaMA's RMSNorm, mean in
 * double). w may be NULL. Writes rstd per row.
 */
PEFT_CLONES
static void rms_norm_serial(const float *x, const float *w, float *y, float *rstd, int64_t n, int64_t d, float eps) {
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    float *yr = y + i * d;
    double acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
      for (int k = 0; k < LANES; k++) acc[k] += (double)xr[j + k] * (double)xr[j + k];
    double ms = 0;
    for (int k = 0; k < LANES; k++) ms += acc[k];
    for (; j < d; j++) ms += (double)xr[j] * (double)xr[j];
    const float rs = (float)(1.0 / sqrt(ms / (double)d + (double)eps));
    rstd[i] = rs;
    if (w != NULL) {
      for (j = 0; j < d; j++) yr[j] = (xr[j] * rs) * w[j];
    } else {
      for (j = 0; j < d; j++) yr[j] = xr[j] * rs;
    }
  }
}

/* dx of RMSNorm: with x̂ = x·rstd and g = dy·w, dx = rstd·(g − x̂·mean(g·x̂)) per row. w may be NULL. */
PEFT_CLONES
static void rms_norm_grad_x_serial(const float *dy, const float *x, const float *w, const float *rstd, float *dx,
                                   int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    const float *gr = dy + i * d;
    float *dr = dx + i * d;
    const float rs = rstd[i];
    double acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= d; j += LANES)
      for (int k = 0; k < LANES; k++)
        acc[k] += (double)(gr[j + k] * (w != NULL ? w[j + k] : 1.0f)) * (double)(xr[j + k] * rs);
    double c_d = 0;
    for (int k = 0; k < LANES; k++) c_d += acc[k];
    for (; j < d; j++) c_d += (double)(gr[j] * (w != NULL ? w[j] : 1.0f)) * (double)(xr[j] * rs);
    const float c = (float)(c_d / (double)d);
    for (j = 0; j < d; j++) {
      float g = gr[j] * (w != NULL ? w[j] : 1.0f);
      dr[j] = rs * (g - (xr[j] * rs) * c);
    }
  }
}

/* dw of RMSNorm: Σ over the rows of dy·x·rstd. */
PEFT_CLONES
void peft_rms_norm_grad_w(const float *dy, const float *x, const float *rstd, float *dw, int64_t n, int64_t d) {
  memset(dw, 0, (size_t)d * sizeof(float));
  for (int64_t i = 0; i < n; i++) {
    const float *xr = x + i * d;
    const float *gr = dy + i * d;
    const float rs = rstd[i];
    for (int64_t j = 0; j < d; j++) dw[j] += gr[j] * (xr[j] * rs);
  }
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

static void rms_norm_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  const int64_t d = t->width;
  rms_norm_serial(t->a + b * d, t->b, t->o1 + b * d, t->o2 + b, e - b, d, t->h[0]);
}

void peft_rms_norm(const float *x, const float *w, float *y, float *rstd, int64_t n, int64_t d, float eps) {
  task t = {.a = x, .b = w, .o1 = y, .o2 = rstd, .width = d, .h = {eps}};
  peft_parallel_for(n, row_grain(d), rms_norm_task, &t);
}

static void rms_norm_grad_x_task(void *p, int64_t b, int64_t e) {
  const task *t = (const task *)p;
  const int64_t d = t->width;
  rms_norm_grad_x_serial(t->a + b * d, t->b + b * d, t->c, t->d + b, t->o1 + b * d, e - b, d);
}

void peft_rms_norm_grad_x(const float *dy, const float *x, const float *w, const float *rstd, float *dx, int64_t n,
                          int64_t d) {
  task t = {.a = dy, .b = x, .c = w, .d = rstd, .o1 = dx, .width = d};
  peft_parallel_for(n, row_grain(d), rms_norm_grad_x_task, &t);
}
