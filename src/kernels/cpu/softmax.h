/* Softmax-family kernels over one dim of a tensor seen as (outer, D, inner). */
#ifndef MT_KERNELS_CPU_SOFTMAX_H
#define MT_KERNELS_CPU_SOFTMAX_H

#include <stdbool.h>
#include <stdint.h>

/* y = softmax(x) (or log_softmax when log) along D; max-subtracted, so stable. */
void mt_k_softmax(int64_t outer, int64_t D, int64_t inner, const float *x, float *y, bool log);
/* gx += the gradient through softmax (y = softmax output) or log_softmax (y = its output). */
void mt_k_softmax_backward(int64_t outer, int64_t D, int64_t inner, const float *y,
                           const float *gy, float *gx, bool log);
/* Cross-entropy of logits (N, C) against class targets (targets may be NULL) or target
 * probabilities (N, C), with label smoothing eps (class targets become (1 - eps) one-hot
 * + eps / C, as PyTorch's label_smoothing). Writes softmax(logits) into probs and returns
 * the mean loss. Rows are summed in a fixed order (deterministic). */
double mt_k_cross_entropy(int64_t N, int64_t C, const float *logits, const int32_t *targets,
                          const float *target_probs, float smoothing, float *probs);

#endif
