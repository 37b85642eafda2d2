/* Row-wise normalisation and GELU kernels on raw buffers. */
#ifndef MT_KERNELS_CPU_NORM_H
#define MT_KERNELS_CPU_NORM_H

#include <stdbool.h>
#include <stdint.h>

/* Layer norm of M rows of D: y = (x - mean) * invstd * w + b (w, b may be NULL); writes
 * each row's mean and invstd. */
void mt_k_layer_norm(int64_t M, int64_t D, const float *x, const float *w, const float *b, float eps,
                     float *y, float *mean, float *invstd);
/* Accumulates dx (if non-NULL; stores it when assign), dw and db (if non-NULL) from dy. */
void mt_k_layer_norm_backward(int64_t M, int64_t D, const float *x, const float *w, const float *mean,
                              const float *invstd, const float *dy, float *dx, bool assign, float *dw, float *db);
/* Batch norm's per-plane sums, in float over 16 lanes (a plane is one image's channel,
 * 49 to 784 floats here, in L1 for both passes); batch_norm adds the planes up in double.
 * mt_k_plane_moments: *sum = the sum of x's n floats and *m2 = the sum of their squared
 * deviations from *sum / n (two passes: no cancellation). mt_k_plane_grad_sums: *sum_g =
 * the sum of g and *sum_gx = of g * (x - mean), g read as 0 where mask (NULL: none) is not
 * positive (the fused ReLU's backward). */
void mt_k_plane_moments(const float *x, int64_t n, float *sum, float *m2);
void mt_k_plane_grad_sums(const float *mask, const float *g, const float *x, float mean, int64_t n, float *sum_g,
                          float *sum_gx);
/* GELU: 0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation. */
void mt_k_gelu(int64_t n, const float *x, float *y, bool tanh_approx);
/* dx += gelu'(x) * dy, or dx = when assign. */
void mt_k_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, bool assign, bool tanh_approx);

#endif
