/*
 * What the kernel files share (peft_pointwise.c, peft_norm.c): the
 * per-function CPU dispatch, the partial-sum width, the work splits over
 * threads, and one task record for parallel.c's chunks.
 */
#ifndef PEFT_KERNEL_COMMON_H
#define PEFT_KERNEL_COMMON_H
#include <stdint.h>

#include "parallel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PEFT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PEFT_CLONES
#endif

/* partial sums per loop: vectorisable without reassociation flags */
#define LANES 8

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

static inline int64_t row_grain(int64_t d) { return d >= MEMORY_GRAIN ? 1 : MEMORY_GRAIN / (d > 0 ? d : 1); }

typedef struct {
  const float *a, *b, *c, *d, *e;
  float *o1, *o2, *o3;
  int64_t width;
  float h[8];
} task;

/* Σ v[0..d) in double, in LANES partial sums. */
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

#endif
