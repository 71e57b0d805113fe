/*
 * N-API wrappers of the kernels in peft_pointwise.c and peft_norm.c. Every
 * wrapper checks its sizes against the arrays it was given (a wrong shape is
 * a JavaScript exception, not a memory corruption); optional operands are
 * passed as null.
 *
 *   geluTanh(x, y, n)                         y = x·σ(2·√(2/π)(x + 0.044715x³))
 *   geluTanhGrad(dy, x, dx, n)                dx = dy·d gelu/dx
 *   layerNorm(x, w?, b?, y, mean, rstd, n, d, eps)
 *   layerNormGradX(dy, x, w?, mean, rstd, dx, n, d)
 *   layerNormGradParams(dy, x, mean, rstd, dw?, db?, n, d)
 *   rmsNorm(x, w?, y, rstd, n, d, eps)
 *   rmsNormGradX(dy, x, w?, rstd, dx, n, d)
 *   rmsNormGradW(dy, x, rstd, dw, n, d)
 *   adamw(p, g, m, v, pOut, mOut, vOut, n, decay, b1, c1, b2, c2, stepSize, bc2Sqrt, eps)
 *   setKernelThreads(n), kernelThreads()      threads of the kernels above (parallel.c)
 */
#include "napi_util.h"
#include "peft_kernels.h"
#include "parallel.h"

/* A Float32Array of at least `need` elements, or null when `optional`. */
static int get_operand(napi_env env, napi_value v, uint64_t need, int optional, float **out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_null || t == napi_undefined) {
    *out = NULL;
    return optional;
  }
  f32view view;
  if (!get_f32(env, v, &view) || view.length < need) return 0;
  *out = view.data;
  return 1;
}

#define ARGS(name, count)                                                          \
  size_t argc = (count);                                                           \
  napi_value argv[(count)];                                                        \
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                \
  if (argc != (count)) FAIL(env, "peft_gemm." name ": expected " #count " arguments")

#define OPERAND(name, i, need, optional, out)                                                  \
  if (!get_operand(env, argv[i], (need), (optional), &(out)))                                  \
  FAIL(env, "peft_gemm." name ": argument " #i " must be a Float32Array of at least the size its shape needs")

#define SIZE(name, i, out) \
  if (!get_i64(env, argv[i], &(out))) FAIL(env, "peft_gemm." name ": sizes must be non-negative int32 integers")

static napi_value GeluTanh(napi_env env, napi_callback_info info) {
  ARGS("geluTanh", 3);
  int64_t n;
  float *x, *y;
  SIZE("geluTanh", 2, n);
  OPERAND("geluTanh", 0, (uint64_t)n, 0, x);
  OPERAND("geluTanh", 1, (uint64_t)n, 0, y);
  peft_gelu_tanh(x, y, n);
  return NULL;
}

static napi_value GeluTanhGrad(napi_env env, napi_callback_info info) {
  ARGS("geluTanhGrad", 4);
  int64_t n;
  float *dy, *x, *dx;
  SIZE("geluTanhGrad", 3, n);
  OPERAND("geluTanhGrad", 0, (uint64_t)n, 0, dy);
  OPERAND("geluTanhGrad", 1, (uint64_t)n, 0, x);
  OPERAND("geluTanhGrad", 2, (uint64_t)n, 0, dx);
  peft_gelu_tanh_grad(dy, x, dx, n);
  return NULL;
}

static napi_value LayerNorm(napi_env env, napi_callback_info info) {
  ARGS("layerNorm", 9);
  int64_t n, d;
  double eps;
  float *x, *w, *b, *y, *mean, *rstd;
  SIZE("layerNorm", 6, n);
  SIZE("layerNorm", 7, d);
  if (!get_f64(env, argv[8], &eps)) FAIL(env, "peft_gemm.layerNorm: eps must be a number");
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("layerNorm", 0, nd, 0, x);
  OPERAND("layerNorm", 1, (uint64_t)d, 1, w);
  OPERAND("layerNorm", 2, (uint64_t)d, 1, b);
  OPERAND("layerNorm", 3, nd, 0, y);
  OPERAND("layerNorm", 4, (uint64_t)n, 0, mean);
  OPERAND("layerNorm", 5, (uint64_t)n, 0, rstd);
  if (d > 0) peft_layer_norm(x, w, b, y, mean, rstd, n, d, (float)eps);
  return NULL;
}

static napi_value LayerNormGradX(napi_env env, napi_callback_info info) {
  ARGS("layerNormGradX", 8);
  int64_t n, d;
  float *dy, *x, *w, *mean, *rstd, *dx;
  SIZE("layerNormGradX", 6, n);
  SIZE("layerNormGradX", 7, d);
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("layerNormGradX", 0, nd, 0, dy);
  OPERAND("layerNormGradX", 1, nd, 0, x);
  OPERAND("layerNormGradX", 2, (uint64_t)d, 1, w);
  OPERAND("layerNormGradX", 3, (uint64_t)n, 0, mean);
  OPERAND("layerNormGradX", 4, (uint64_t)n, 0, rstd);
  OPERAND("layerNormGradX", 5, nd, 0, dx);
  if (d > 0) peft_layer_norm_grad_x(dy, x, w, mean, rstd, dx, n, d);
  return NULL;
}

static napi_value LayerNormGradParams(napi_env env, napi_callback_info info) {
  ARGS("layerNormGradParams", 8);
  int64_t n, d;
  float *dy, *x, *mean, *rstd, *dw, *db;
  SIZE("layerNormGradParams", 6, n);
  SIZE("layerNormGradParams", 7, d);
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("layerNormGradParams", 0, nd, 0, dy);
  OPERAND("layerNormGradParams", 1, nd, 0, x);
  OPERAND("layerNormGradParams", 2, (uint64_t)n, 0, mean);
  OPERAND("layerNormGradParams", 3, (uint64_t)n, 0, rstd);
  OPERAND("layerNormGradParams", 4, (uint64_t)d, 1, dw);
  OPERAND("layerNormGradParams", 5, (uint64_t)d, 1, db);
  peft_layer_norm_grad_params(dy, x, mean, rstd, dw, db, n, d);
  return NULL;
}

static napi_value RmsNorm(napi_env env, napi_callback_info info) {
  ARGS("rmsNorm", 7);
  int64_t n, d;
  double eps;
  float *x, *w, *y, *rstd;
  SIZE("rmsNorm", 4, n);
  SIZE("rmsNorm", 5, d);
  if (!get_f64(env, argv[6], &eps)) FAIL(env, "peft_gemm.rmsNorm: eps must be a number");
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("rmsNorm", 0, nd, 0, x);
  OPERAND("rmsNorm", 1, (uint64_t)d, 1, w);
  OPERAND("rmsNorm", 2, nd, 0, y);
  OPERAND("rmsNorm", 3, (uint64_t)n, 0, rstd);
  if (d > 0) peft_rms_norm(x, w, y, rstd, n, d, (float)eps);
  return NULL;
}

static napi_value RmsNormGradX(napi_env env, napi_callback_info info) {
  ARGS("rmsNormGradX", 7);
  int64_t n, d;
  float *dy, *x, *w, *rstd, *dx;
  SIZE("rmsNormGradX", 5, n);
  SIZE("rmsNormGradX", 6, d);
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("rmsNormGradX", 0, nd, 0, dy);
  OPERAND("rmsNormGradX", 1, nd, 0, x);
  OPERAND("rmsNormGradX", 2, (uint64_t)d, 1, w);
  OPERAND("rmsNormGradX", 3, (uint64_t)n, 0, rstd);
  OPERAND("rmsNormGradX", 4, nd, 0, dx);
  if (d > 0) peft_rms_norm_grad_x(dy, x, w, rstd, dx, n, d);
  return NULL;
}

static napi_value RmsNormGradW(napi_env env, napi_callback_info info) {
  ARGS("rmsNormGradW", 6);
  int64_t n, d;
  float *dy, *x, *rstd, *dw;
  SIZE("rmsNormGradW", 4, n);
  SIZE("rmsNormGradW", 5, d);
  uint64_t nd = (uint64_t)n * (uint64_t)d;
  OPERAND("rmsNormGradW", 0, nd, 0, dy);
  OPERAND("rmsNormGradW", 1, nd, 0, x);
  OPERAND("rmsNormGradW", 2, (uint64_t)n, 0, rstd);
  OPERAND("rmsNormGradW", 3, (uint64_t)d, 0, dw);
  peft_rms_norm_grad_w(dy, x, rstd, dw, n, d);
  return NULL;
}

static napi_value AdamW(napi_env env, napi_callback_info info) {
  ARGS("adamw", 16);
  int64_t n;
  float *ops[7];
  double h[8];
  SIZE("adamw", 7, n);
  for (int i = 0; i < 7; i++)
    if (!get_operand(env, argv[i], (uint64_t)n, 0, &ops[i]))
      FAIL(env, "peft_gemm.adamw: p, g, m, v and the three outputs must be Float32Arrays of at least n elements");
  for (int i = 0; i < 8; i++)
    if (!get_f64(env, argv[8 + i], &h[i])) FAIL(env, "peft_gemm.adamw: hyperparameters must be numbers");
  peft_adamw(ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], ops[6], n, (float)h[0], (float)h[1], (float)h[2],
             (float)h[3], (float)h[4], (float)h[5], (float)h[6], (float)h[7]);
  return NULL;
}

static napi_value SetKernelThreads(napi_env env, napi_callback_info info) {
  ARGS("setKernelThreads", 1);
  int64_t n;
  SIZE("setKernelThreads", 0, n);
  if (n < 1) FAIL(env, "peft_gemm.setKernelThreads: expected a positive integer");
  peft_set_kernel_threads((int)(n > 64 ? 64 : n));
  return NULL;
}

static napi_value KernelThreads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(env, napi_create_int32(env, peft_kernel_threads(), &out));
  return out;
}

napi_status peft_register_kernels(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"geluTanh", NULL, GeluTanh, NULL, NULL, NULL, napi_enumerable, NULL},
      {"geluTanhGrad", NULL, GeluTanhGrad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNorm", NULL, LayerNorm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormGradX", NULL, LayerNormGradX, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormGradParams", NULL, LayerNormGradParams, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adamw", NULL, AdamW, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rmsNorm", NULL, RmsNorm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rmsNormGradX", NULL, RmsNormGradX, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rmsNormGradW", NULL, RmsNormGradW, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setKernelThreads", NULL, SetKernelThreads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"kernelThreads", NULL, KernelThreads, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
