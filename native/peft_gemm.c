/*
 * peft_gemm: a small N-API addon exposing the system BLAS's single-precision
 * GEMM (OpenBLAS `cblas_sgemm` on Linux; Accelerate's on macOS) and a blocked
 * batched transpose, both operating in place on Float32Arrays.
 *
 * The arrays may be views into any ArrayBuffer, including the WebAssembly
 * heap of @tensorflow/tfjs-backend-wasm: nothing is copied, the C code reads
 * and writes the JavaScript-owned memory directly. Every call is synchronous
 * (the kernels that call it are synchronous), and every call checks that the
 * requested matrices fit inside the arrays it was given, so a wrong shape is a
 * JavaScript exception rather than a memory corruption.
 *
 * Row-major throughout, like TensorFlow.js tensors.
 *
 * Exports:
 *   sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
 *     C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T;
 *     op(A) is M x K, op(B) is K x N, C is M x N.
 *   sgemmStrided(transA, transB, M, N, K, alpha, A, lda, strideA,
 *                B, ldb, strideB, beta, C, ldc, strideC, batch)
 *     the same for `batch` matrices at element strides strideA/B/C
 *     (a stride of 0 broadcasts that operand).
 *   transpose(src, dst, batch, rows, cols, inner)
 *     dst[b][c][r][:] = src[b][r][c][:] for vectors of `inner` floats.
 *   setThreads(n), threads(), info()
 *   and the row-wise kernels of peft_kernels_napi.c (LayerNorm, GELU).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME peft_gemm
#endif
#include <stdint.h>
#include <string.h>
#include <stdio.h>

#if defined(__APPLE__) && defined(PEFT_USE_ACCELERATE)
#include <Accelerate/Accelerate.h>
#define PEFT_BLAS_NAME "accelerate"
#else
#include <cblas.h>
#define PEFT_BLAS_NAME "openblas"
#endif

#include "napi_util.h"

/* Elements a rows x cols row-major matrix with leading dimension ld spans. */
static int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return 0;
  return (rows - 1) * ld + cols;
}

/* Common validation of one GEMM's shapes against its operands. */
static const char *check_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                              int64_t ldb, int64_t ldc) {
  int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
  int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
  if (lda < (a_cols > 1 ? a_cols : 1)) return "peft_gemm: lda too small";
  if (ldb < (b_cols > 1 ? b_cols : 1)) return "peft_gemm: ldb too small";
  if (ldc < (N > 1 ? N : 1)) return "peft_gemm: ldc too small";
  (void)a_rows;
  (void)b_rows;
  return NULL;
}

static napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) FAIL(env, "peft_gemm.sgemm: expected 13 arguments");
  int ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  double alpha, beta;
  f32view A, B, C;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb))
    FAIL(env, "peft_gemm.sgemm: transA/transB must be booleans");
  if (!get_i64(env, argv[2], &M) || !get_i64(env, argv[3], &N) || !get_i64(env, argv[4], &K) ||
      !get_i64(env, argv[7], &lda) || !get_i64(env, argv[9], &ldb) || !get_i64(env, argv[12], &ldc))
    FAIL(env, "peft_gemm.sgemm: sizes must be non-negative int32 integers");
  if (!get_f64(env, argv[5], &alpha) || !get_f64(env, argv[10], &beta))
    FAIL(env, "peft_gemm.sgemm: alpha/beta must be numbers");
  if (!get_f32(env, argv[6], &A) || !get_f32(env, argv[8], &B) || !get_f32(env, argv[11], &C))
    FAIL(env, "peft_gemm.sgemm: A, B, C must be Float32Arrays");
  const char *err = check_gemm(ta, tb, M, N, K, lda, ldb, ldc);
  if (err) FAIL(env, err);
  if ((uint64_t)span(ta ? K : M, ta ? M : K, lda) > A.length) FAIL(env, "peft_gemm.sgemm: A too short");
  if ((uint64_t)span(tb ? N : K, tb ? K : N, ldb) > B.length) FAIL(env, "peft_gemm.sgemm: B too short");
  if ((uint64_t)span(M, N, ldc) > C.length) FAIL(env, "peft_gemm.sgemm: C too short");
  if (M > 0 && N > 0) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, (float)alpha, A.data, (int)lda, B.data, (int)ldb,
                (float)beta, C.data, (int)ldc);
  }
  return NULL;
}

static napi_value SgemmStrided(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 17) FAIL(env, "peft_gemm.sgemmStrided: expected 17 arguments");
  int ta, tb;
  int64_t M, N, K, lda, sa, ldb, sb, ldc, sc, batch;
  double alpha, beta;
  f32view A, B, C;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb))
    FAIL(env, "peft_gemm.sgemmStrided: transA/transB must be booleans");
  if (!get_i64(env, argv[2], &M) || !get_i64(env, argv[3], &N) || !get_i64(env, argv[4], &K) ||
      !get_i64(env, argv[7], &lda) || !get_i64(env, argv[8], &sa) || !get_i64(env, argv[10], &ldb) ||
      !get_i64(env, argv[11], &sb) || !get_i64(env, argv[14], &ldc) || !get_i64(env, argv[15], &sc) ||
      !get_i64(env, argv[16], &batch))
    FAIL(env, "peft_gemm.sgemmStrided: sizes must be non-negative int32 integers");
  if (!get_f64(env, argv[5], &alpha) || !get_f64(env, argv[12], &beta))
    FAIL(env, "peft_gemm.sgemmStrided: alpha/beta must be numbers");
  if (!get_f32(env, argv[6], &A) || !get_f32(env, argv[9], &B) || !get_f32(env, argv[13], &C))
    FAIL(env, "peft_gemm.sgemmStrided: A, B, C must be Float32Arrays");
  const char *err = check_gemm(ta, tb, M, N, K, lda, ldb, ldc);
  if (err) FAIL(env, err);
  if (batch == 0 || M == 0 || N == 0) return NULL;
  if (batch > 1 && sc < span(M, N, ldc)) FAIL(env, "peft_gemm.sgemmStrided: strideC overlaps outputs");
  if ((uint64_t)((batch - 1) * sa + span(ta ? K : M, ta ? M : K, lda)) > A.length)
    FAIL(env, "peft_gemm.sgemmStrided: A too short");
  if ((uint64_t)((batch - 1) * sb + span(tb ? N : K, tb ? K : N, ldb)) > B.length)
    FAIL(env, "peft_gemm.sgemmStrided: B too short");
  if ((uint64_t)((batch - 1) * sc + span(M, N, ldc)) > C.length)
    FAIL(env, "peft_gemm.sgemmStrided: C too short");
  for (int64_t i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, (float)alpha, A.data + i * sa, (int)lda, B.data + i * sb,
                (int)ldb, (float)beta, C.data + i * sc, (int)ldc);
  }
  return NULL;
}

/* dst[b][c][r][:] = src[b][r][c][:], in 32 x 32 tiles for cache locality. */
static napi_value Transpose(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 6) FAIL(env, "peft_gemm.transpose: expected 6 arguments");
  f32view S, D;
  int64_t batch, rows, cols, inner;
  if (!get_f32(env, argv[0], &S) || !get_f32(env, argv[1], &D))
    FAIL(env, "peft_gemm.transpose: src and dst must be Float32Arrays");
  if (!get_i64(env, argv[2], &batch) || !get_i64(env, argv[3], &rows) ||
      !get_i64(env, argv[4], &cols) || !get_i64(env, argv[5], &inner))
    FAIL(env, "peft_gemm.transpose: sizes must be non-negative int32 integers");
  uint64_t total = (uint64_t)batch * (uint64_t)rows * (uint64_t)cols * (uint64_t)inner;
  if (total > S.length || total > D.length) FAIL(env, "peft_gemm.transpose: arrays too short");
  if (S.data == D.data && total > 0) FAIL(env, "peft_gemm.transpose: src and dst must not alias");
  const int64_t T = 32;
  const int64_t plane = rows * cols * inner;
  for (int64_t b = 0; b < batch; b++) {
    const float *s = S.data + b * plane;
    float *d = D.data + b * plane;
    for (int64_t r0 = 0; r0 < rows; r0 += T) {
      int64_t r1 = r0 + T < rows ? r0 + T : rows;
      for (int64_t c0 = 0; c0 < cols; c0 += T) {
        int64_t c1 = c0 + T < cols ? c0 + T : cols;
        if (inner == 1) {
          for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) d[c * rows + r] = s[r * cols + c];
        } else {
          for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++)
              memcpy(d + (c * rows + r) * inner, s + (r * cols + c) * inner,
                     (size_t)inner * sizeof(float));
        }
      }
    }
  }
  return NULL;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t n = 0;
  if (argc != 1 || !get_i64(env, argv[0], &n) || n < 1) FAIL(env, "peft_gemm.setThreads: expected a positive integer");
#if defined(OPENBLAS_VERSION)
  openblas_set_num_threads((int)n);
#endif
  return NULL;
}

static napi_value Threads(napi_env env, napi_callback_info info) {
  (void)info;
  int n = 1;
#if defined(OPENBLAS_VERSION)
  n = openblas_get_num_threads();
#endif
  napi_value out;
  CHECK(env, napi_create_int32(env, n, &out));
  return out;
}

static napi_value Info(napi_env env, napi_callback_info info) {
  (void)info;
  char buf[256];
#if defined(OPENBLAS_VERSION)
  snprintf(buf, sizeof buf, "%s (%s)", PEFT_BLAS_NAME, openblas_get_config());
#else
  snprintf(buf, sizeof buf, "%s", PEFT_BLAS_NAME);
#endif
  napi_value out;
  CHECK(env, napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgemmStrided", NULL, SgemmStrided, NULL, NULL, NULL, napi_enumerable, NULL},
      {"transpose", NULL, Transpose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"threads", NULL, Threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, Info, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(env, peft_register_kernels(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
