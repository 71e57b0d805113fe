/* Argument helpers shared by the addon's N-API wrappers (peft_gemm.c, peft_kernels_napi.c). */
#ifndef PEFT_NAPI_UTIL_H
#define PEFT_NAPI_UTIL_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), NULL, "peft_gemm: N-API call failed: " #call);    \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

#define FAIL(env, msg)                  \
  do {                                  \
    napi_throw_error((env), NULL, msg); \
    return NULL;                        \
  } while (0)

typedef struct {
  float *data;
  size_t length; /* in elements */
} f32view;

static inline int get_f32(napi_env env, napi_value v, f32view *out) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return 0;
  if (type != napi_float32_array) return 0;
  out->data = (float *)data;
  out->length = length;
  return 1;
}

static inline int get_i64(napi_env env, napi_value v, int64_t *out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 2147483647.0) || d != (double)(int64_t)d) return 0;
  *out = (int64_t)d;
  return 1;
}

static inline int get_f64(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok;
}

static inline int get_bool(napi_env env, napi_value v, int *out) {
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b ? 1 : 0;
  return 1;
}

/* Adds the row-wise kernels (peft_kernels_napi.c) to the addon's exports. */
napi_status peft_register_kernels(napi_env env, napi_value exports);

#endif
