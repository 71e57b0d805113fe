/* A minimal parallel-for over pthreads for the row-wise kernels (see parallel.c). */
#ifndef PEFT_PARALLEL_H
#define PEFT_PARALLEL_H
#include <stdint.h>

/* Processes items [begin, end) of a task. */
typedef void (*peft_range_fn)(void *ctx, int64_t begin, int64_t end);

/* fn over [0, n) in up to peft_kernel_threads() contiguous chunks of at least `grain` items. */
void peft_parallel_for(int64_t n, int64_t grain, peft_range_fn fn, void *ctx);
int peft_kernel_threads(void);
void peft_set_kernel_threads(int n);

#endif
