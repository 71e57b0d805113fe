/*
 * parallel_for for the row-wise kernels: the calling thread takes the first
 * chunk, one short-lived pthread each the others, then joins them. A thread
 * start costs tens of microseconds, and more when the cores are busy; callers
 * pass a grain that keeps every chunk well above that (see kernel_common.h). If a
 * thread cannot be started its chunk runs on the calling thread, so the
 * result never depends on threads being available. Each item is written by
 * exactly one chunk: results are the same for any thread count.
 */
/* sysconf(_SC_NPROCESSORS_ONLN) under -std=c11: glibc wants _DEFAULT_SOURCE, macOS _DARWIN_C_SOURCE */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE
#endif
#include "parallel.h"

#include <pthread.h>
#include <unistd.h>

#define MAX_THREADS 64

static int kernel_threads = 0; /* 0: not decided yet (the online CPUs, at most 8) */

int peft_kernel_threads(void) {
  if (kernel_threads <= 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    kernel_threads = c < 1 ? 1 : (c > 8 ? 8 : (int)c);
  }
  return kernel_threads;
}

void peft_set_kernel_threads(int n) { kernel_threads = n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : n); }

typedef struct {
  peft_range_fn fn;
  void *ctx;
  int64_t begin, end;
} chunk;

static void *run_chunk(void *p) {
  chunk *c = (chunk *)p;
  if (c->end > c->begin) c->fn(c->ctx, c->begin, c->end);
  return NULL;
}

void peft_parallel_for(int64_t n, int64_t grain, peft_range_fn fn, void *ctx) {
  if (n <= 0) return;
  int64_t t = peft_kernel_threads();
  if (grain < 1) grain = 1;
  if (n / grain < t) t = n / grain;
  if (t <= 1) {
    fn(ctx, 0, n);
    return;
  }
  chunk chunks[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (int64_t i = 0; i < t; i++) chunks[i] = (chunk){fn, ctx, n * i / t, n * (i + 1) / t};
  for (int64_t i = 1; i < t; i++) started[i] = pthread_create(&ids[i], NULL, run_chunk, &chunks[i]) == 0;
  run_chunk(&chunks[0]);
  for (int64_t i = 1; i < t; i++) {
    if (started[i])
      pthread_join(ids[i], NULL);
    else
      run_chunk(&chunks[i]);
  }
}
