/* Pooling kernels over (N*C) planes, on raw buffers. */
#ifndef MT_KERNELS_CPU_POOL_H
#define MT_KERNELS_CPU_POOL_H

#include "kernels/cpu/im2col.h"

/* Max over each window (padding counts as -inf); argmax[k] = flat index in the input
 * plane of the maximum (first one on ties, as PyTorch). */
void mt_k_max_pool2d(const mt_window *g, const float *x, float *y, int32_t *argmax);
/* The values of mt_k_max_pool2d without the arg-max (inference), for the windows
 * mt_k_max_pool2d_values_ok accepts: padded, stride 1, undilated, at least 8 outputs a row,
 * a padded plane of at most 4096 floats (resnet8's 3x3 / 1, pad 1). */
bool mt_k_max_pool2d_values_ok(const mt_window *g);
void mt_k_max_pool2d_values(const mt_window *g, const float *x, float *y);
/* dx[plane][argmax] += dy. */
void mt_k_max_pool2d_backward(const mt_window *g, const int32_t *argmax, const float *dy, float *dx);
/* Mean over each window; the divisor is KH*KW, padding included (count_include_pad). */
void mt_k_avg_pool2d(const mt_window *g, const float *x, float *y);
/* Whether the windows tile the input exactly (kernel = stride, no padding, the sizes
 * multiples of it: lenet's 2 x 2 / 2, a global pool), each input in one window. */
bool mt_k_avg_pool2d_tiles(const mt_window *g);
/* dx += each window's dy / (KH*KW) spread over it; or dx = that when assign, which needs
 * mt_k_avg_pool2d_tiles (every element then written once: no zeroed dx first). */
void mt_k_avg_pool2d_backward(const mt_window *g, const float *dy, float *dx, bool assign);
/* adaptive_avg_pool2d to (OH, OW): window i spans [floor(i*H/OH), ceil((i+1)*H/OH)). */
void mt_k_adaptive_avg_pool2d(const mt_window *g, const float *x, float *y);
void mt_k_adaptive_avg_pool2d_backward(const mt_window *g, const float *dy, float *dx);

#endif
