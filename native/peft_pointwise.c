/*
 * Element-wise kernels of a training step that TensorFlow.js runs as many
 * passes over memory: the tanh form of GELU (forward and gradient) and one
 * AdamW update. Plain C loops written so that the compiler vectorises them
 * (no library calls in the inner loops); on x86-64 with GCC each is also
 * cloned for AVX2+FMA and picked at load time. The public functions split
 * their elements over threads (parallel.c); the serial loops do the work.
 * Every pointer is a float32 array of at least n elements (the N-API
 * wrappers in peft_kernels_napi.c check that).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel_common.h"
#include "peft_kernels.h"

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
