/* batch_norm over dim 1 of (N, C), (N, C, L) or (N, C, H, W), as F.batch_norm.
 * Training: batch statistics (biased variance to normalise, unbiased into the running
 * estimate: running = (1 - momentum) * running + momentum * batch) and the full
 * backward through the mean and variance. Evaluation: the running statistics. */
#include "ops/internal.h"

#include <math.h>

typedef struct {
    float *mean, *invstd; /* per channel: what normalised this step */
    int64_t C, S;         /* channels, and elements per (sample, channel) */
    bool training;
} bn_saved;

mt_tensor *mt_batch_norm(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_batch_norm_params p) {
    mt_tensor *in[3] = {x, weight, bias};
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    char sx[96];
    if (x->ndim < 2 || x->ndim > 4)
        return mt_op_error(ctx, "batch_norm", "input must be (N, C), (N, C, L) or (N, C, H, W), got %s",
                           mt_shape_str(x, sx, sizeof sx));
    if (x->numel == 0)
        return mt_op_error(ctx, "batch_norm", "input %s is empty", mt_shape_str(x, sx, sizeof sx));
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C), M = N * S;
    if (!p.running_mean != !p.running_var)
        return mt_op_error(ctx, "batch_norm", "give both running_mean and running_var, or neither");
    const mt_tensor *per_channel[4] = {weight, bias, p.running_mean, p.running_var};
    for (int k = 0; k < 4; k++)
        if (per_channel[k] && per_channel[k]->numel != C)
            return mt_op_error(ctx, "batch_norm", "input %s has %lld channels but a parameter or running statistic has %lld",
                               mt_shape_str(x, sx, sizeof sx), (long long)C, (long long)per_channel[k]->numel);
    if (!weight && bias) return mt_op_error(ctx, "batch_norm", "a bias without a weight is not supported");
    if (!p.training && (!p.running_mean || !p.running_var))
        return mt_op_error(ctx, "batch_norm", "evaluation needs running_mean and running_var");
    if (p.training && M <= 1)
        return mt_op_error(ctx, "batch_norm", "expected more than 1 value per channel when training, got input %s",
                           mt_shape_str(x, sx, sizeof sx));
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    bn_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    float *mean = mt_ctx_alloc(ctx, (size_t)C * sizeof(float));
    float *invstd = mt_ctx_alloc(ctx, (size_t)C * sizeof(float));
    if (!out || !s || !mean || !invstd) return NULL;
#pragma omp parallel for if (x->numel > (1 << 15))
    for (int64_t c = 0; c < C; c++) {
        double m, var;
        if (p.training) {
            /* One pass in double, sum and sum of squares: var = E[x^2] - mean^2 loses
             * about (mean / std)^2 of double's 16 digits, far below float's. The sums are
             * vectorised (partial sums per lane: an order of its own, fixed). */
            double sum = 0.0, sq = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const float *xs = x->data + (n * C + c) * S;
#pragma omp simd reduction(+ : sum, sq)
                for (int64_t k = 0; k < S; k++) {
                    const double v = xs[k];
                    sum += v;
                    sq += v * v;
                }
            }
            m = sum / (double)M;
            var = sq / (double)M - m * m;
            if (var < 0.0) var = 0.0;
            if (p.running_mean) {
                float *rm = p.running_mean->data + c, *rv = p.running_var->data + c;
                *rm = (float)((1.0 - p.momentum) * *rm + p.momentum * m);
                *rv = (float)((1.0 - p.momentum) * *rv + p.momentum * var * (double)M / (double)(M - 1));
            }
        } else {
            m = p.running_mean->data[c];
            var = p.running_var->data[c];
        }
        mean[c] = (float)m;
        float scale, shift;
        mt_bn_affine(mean[c], var, p.eps, weight, bias, c, &invstd[c], &scale, &shift);
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x->data + (n * C + c) * S;
            float *ys = out->data + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) ys[k] = xs[k] * scale + shift;
        }
    }
    *s = (bn_saved){mean, invstd, C, S, p.training};
    int n_in = bias ? 3 : weight ? 2 : 1;
    mt_node *node = mt_record(ctx, MT_OP_BATCH_NORM, out, in, n_in);
    if (node) node->saved = s;
    return out;
}

void mt_batch_norm_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->n_in > 1 ? node->in[1] : NULL, *b = node->n_in > 2 ? node->in[2] : NULL;
    const bn_saved *s = node->saved;
    const int64_t N = x->shape[0], C = s->C, S = s->S;
    const double M = (double)(N * S);
    const float *dy = node->out->grad;
    bool assign = false; /* a new gradient is stored, not zeroed and added to */
    bool gx = x->requires_grad && mt_tensor_grad_for_write(ctx, x, &assign);
    bool gw = w && w->requires_grad && mt_tensor_ensure_grad(ctx, w);
    bool gb = b && b->requires_grad && mt_tensor_ensure_grad(ctx, b);
#pragma omp parallel for if (x->numel > (1 << 15))
    for (int64_t c = 0; c < C; c++) {
        const float mean = s->mean[c], invstd = s->invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x->data + (n * C + c) * S, *g = dy + (n * C + c) * S;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
            for (int64_t k = 0; k < S; k++) {
                sum_dy += g[k];
                sum_dy_xhat += (double)g[k] * (xs[k] - mean) * invstd;
            }
        }
        if (gw) w->grad[c] += (float)sum_dy_xhat;
        if (gb) b->grad[c] += (float)sum_dy;
        if (!gx) continue;
        const float gamma = w ? w->data[c] : 1.0f;
        for (int64_t n = 0; n < N; n++) {
            const float *xs = x->data + (n * C + c) * S, *g = dy + (n * C + c) * S;
            float *dx = x->grad + (n * C + c) * S;
            if (s->training) {
                /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
                const float a = (float)(sum_dy / M), bcoef = (float)(sum_dy_xhat / M);
                for (int64_t k = 0; k < S; k++) {
                    float xhat = (xs[k] - mean) * invstd;
                    dx[k] = (assign ? 0.0f : dx[k]) + gamma * invstd * (g[k] - a - xhat * bcoef);
                }
            } else {
                for (int64_t k = 0; k < S; k++) dx[k] = (assign ? 0.0f : dx[k]) + gamma * invstd * g[k];
            }
        }
    }
}
