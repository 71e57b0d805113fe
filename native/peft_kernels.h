/* Row-wise and element-wise float32 kernels (peft_pointwise.c, peft_norm.c). */
#ifndef PEFT_KERNELS_H
#define PEFT_KERNELS_H
#include <stdint.h>

void peft_gelu_tanh(const float *x, float *y, int64_t n);
void peft_gelu_tanh_grad(const float *dy, const float *x, float *dx, int64_t n);
void peft_layer_norm(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                     int64_t n, int64_t d, float eps);
void peft_layer_norm_grad_x(const float *dy, const float *x, const float *w, const float *mean,
                            const float *rstd, float *dx, int64_t n, int64_t d);
void peft_layer_norm_grad_params(const float *dy, const float *x, const float *mean, const float *rstd,
                                 float *dw, float *db, int64_t n, int64_t d);
void peft_adamw(const float *p, const float *g, const float *m, const float *v, float *p_out, float *m_out,
                float *v_out, int64_t n, float decay, float b1, float c1, float b2, float c2, float step_size,
                float bc2_sqrt, float eps);
void peft_rms_norm(const float *x, const float *w, float *y, float *rstd, int64_t n, int64_t d, float eps);
void peft_rms_norm_grad_x(const float *dy, const float *x, const float *w, const float *rstd, float *dx, int64_t n,
                          int64_t d);
void peft_rms_norm_grad_w(const float *dy, const float *x, const float *rstd, float *dw, int64_t n, int64_t d);

#endif
