/* batch_norm over dim 1 of (N, C), (N, C, L) or (N, C, H, W), as F.batch_norm.
 * Training: batch statistics (biased variance to normalise, unbiased into the running
 * estimate: running = (1 - momentum) * running + momentum * batch) and the full
 * backward through the mean and variance. Evaluation: the running statistics.
 *
 * batch_norm_relu is relu(batch_norm(x) + residual) in the same pass, each element
 * rounded as the separate ops round it; its backward masks dy where the output is 0,
 * adds the masked dy into the residual's gradient, and runs batch_norm's backward on it.
 * It saves the separate ops' passes over the tensor (an add reads two and writes one, a
 * ReLU reads one and writes one, and the same again backward). */
#include "core/share.h"
#include "kernels/cpu/norm.h"
#include "ops/internal.h"

#include <math.h>

typedef struct {
    float *mean, *invstd; /* per channel: what normalised this step */
    int64_t C, S;         /* channels, and elements per (sample, channel) */
    bool training;
} bn_saved;

/* One channel's n-th plane of S elements: ys = relu?(xs * scale + shift (+ rs)). */
static void normalise_plane(const float *xs, const float *rs, bool relu, float scale, float shift, int64_t S,
                            float *ys) {
    if (rs && relu)
        for (int64_t k = 0; k < S; k++) {
            const float v = (xs[k] * scale + shift) + rs[k];
            ys[k] = v > 0.0f ? v : 0.0f;
        }
    else if (relu)
        for (int64_t k = 0; k < S; k++) {
            const float v = xs[k] * scale + shift;
            ys[k] = v > 0.0f ? v : 0.0f;
        }
    else
        for (int64_t k = 0; k < S; k++) ys[k] = xs[k] * scale + shift;
}

static mt_tensor *batch_norm(mt_ctx *ctx, const char *name, mt_tensor *x, mt_tensor *weight, mt_tensor *bias,
                             mt_batch_norm_params p, mt_tensor *res, bool relu) {
    mt_tensor *in[4] = {x, weight, bias, res};
    if (!mt_inputs_ok(ctx, &x, 1)) return NULL;
    char sx[96], sr[96];
    if (x->ndim < 2 || x->ndim > 4)
        return mt_op_error(ctx, name, "input must be (N, C), (N, C, L) or (N, C, H, W), got %s",
                           mt_shape_str(x, sx, sizeof sx));
    if (x->numel == 0) return mt_op_error(ctx, name, "input %s is empty", mt_shape_str(x, sx, sizeof sx));
    if (res && !mt_same_shape(x, res))
        return mt_op_error(ctx, name, "the residual %s must have the input's shape %s", mt_shape_str(res, sr, sizeof sr),
                           mt_shape_str(x, sx, sizeof sx));
    const int64_t N = x->shape[0], C = x->shape[1], S = x->numel / (N * C), M = N * S;
    if (!p.running_mean != !p.running_var)
        return mt_op_error(ctx, name, "give both running_mean and running_var, or neither");
    const mt_tensor *per_channel[4] = {weight, bias, p.running_mean, p.running_var};
    for (int k = 0; k < 4; k++)
        if (per_channel[k] && per_channel[k]->numel != C)
            return mt_op_error(ctx, name, "input %s has %lld channels but a parameter or running statistic has %lld",
                               mt_shape_str(x, sx, sizeof sx), (long long)C, (long long)per_channel[k]->numel);
    if (!weight && bias) return mt_op_error(ctx, name, "a bias without a weight is not supported");
    if (!p.training && (!p.running_mean || !p.running_var))
        return mt_op_error(ctx, name, "evaluation needs running_mean and running_var");
    if (p.training && M <= 1)
        return mt_op_error(ctx, name, "expected more than 1 value per channel when training, got input %s",
                           mt_shape_str(x, sx, sizeof sx));
    mt_tensor *out = mt_tensor_empty(ctx, x->ndim, x->shape);
    bn_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    float *mean = mt_ctx_alloc(ctx, (size_t)C * sizeof(float));
    float *invstd = mt_ctx_alloc(ctx, (size_t)C * sizeof(float));
    if (!out || !s || !mean || !invstd) return NULL;
    mt_share share = {0}; /* each channel whole on one thread: the same sums on either */
#pragma omp parallel if (x->numel > (1 << 15))
    {
        mt_share_it it = mt_share_begin(&share, C);
        for (int64_t c; (c = mt_share_next(&it)) >= 0;) {
            double m, var;
            if (p.training) {
                /* Each plane's sum and squared deviations in float (kernels/cpu/norm.h), the
                 * planes then merged in double as Chan et al. merge partial variances: the
                 * mean so far moves by delta * S / total, and the squares gain the planes'
                 * own plus delta^2 * count * S / total. No E[x^2] - mean^2 cancellation. */
                double count = 0.0, mean_d = 0.0, m2 = 0.0;
                for (int64_t n = 0; n < N; n++) {
                    float ps, pq;
                    mt_k_plane_moments(x->data + (n * C + c) * S, S, &ps, &pq);
                    const double total = count + (double)S, delta = (double)ps / (double)S - mean_d;
                    mean_d += delta * (double)S / total;
                    m2 += (double)pq + delta * delta * count * (double)S / total;
                    count = total;
                }
                m = mean_d;
                var = m2 / (double)M;
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
                const int64_t at = (n * C + c) * S;
                normalise_plane(x->data + at, res ? res->data + at : NULL, relu, scale, shift, S, out->data + at);
            }
        }
    }
    *s = (bn_saved){mean, invstd, C, S, p.training};
    /* The plain op keeps its inputs as before (trailing NULLs dropped); the fused one all four. */
    const int n_in = relu ? 4 : bias ? 3 : weight ? 2 : 1;
    mt_node *node = mt_record(ctx, relu ? MT_OP_BATCH_NORM_RELU : MT_OP_BATCH_NORM, out, in, n_in);
    if (node) node->saved = s;
    return out;
}

mt_tensor *mt_batch_norm(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_batch_norm_params p) {
    return batch_norm(ctx, "batch_norm", x, weight, bias, p, NULL, false);
}

mt_tensor *mt_batch_norm_relu(mt_ctx *ctx, mt_tensor *x, mt_tensor *weight, mt_tensor *bias, mt_batch_norm_params p,
                              mt_tensor *residual) {
    return batch_norm(ctx, "batch_norm_relu", x, weight, bias, p, residual, true);
}

/* dy where the fused op's output y is positive, else 0: the ReLU's backward (y > 0 exactly
 * where its input was), which is also the add's gradient for both of its inputs. y NULL:
 * the plain op, dy itself. Inlined with y NULL or not, so each loop compiles without it. */
static inline __attribute__((always_inline)) float masked(const float *y, const float *g, int64_t k) {
    const float gk = g[k]; /* read either way: a select, not a masked load */
    return y && !(y[k] > 0.0f) ? 0.0f : gk;
}

/* One plane's dx (NULL: none; stored when assign, else added to) and the residual's
 * gradient dr (likewise), from its channel's a = mean(dy) and b = mean(dy * xhat) in
 * training; in evaluation dx = gamma * invstd * dy. */
static inline __attribute__((always_inline)) void backward_plane(const float *ys, const float *g, const float *xs,
                                                                 float mean, float invstd, float gamma, float a,
                                                                 float b, int64_t S, float *dx, bool assign, float *dr,
                                                                 bool assign_res, bool training) {
    if (dx && !training)
        for (int64_t k = 0; k < S; k++) dx[k] = (assign ? 0.0f : dx[k]) + gamma * invstd * masked(ys, g, k);
    else if (dx)
        for (int64_t k = 0; k < S; k++) {
            float xhat = (xs[k] - mean) * invstd;
            dx[k] = (assign ? 0.0f : dx[k]) + gamma * invstd * (masked(ys, g, k) - a - xhat * b);
        }
    if (dr)
        for (int64_t k = 0; k < S; k++) dr[k] = (assign_res ? 0.0f : dr[k]) + masked(ys, g, k);
}

void mt_batch_norm_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *x = node->in[0], *w = node->n_in > 1 ? node->in[1] : NULL, *b = node->n_in > 2 ? node->in[2] : NULL;
    mt_tensor *res = node->n_in > 3 ? node->in[3] : NULL;
    const bn_saved *s = node->saved;
    const int64_t N = x->shape[0], C = s->C, S = s->S;
    const double M = (double)(N * S);
    const float *dy = node->out->grad;
    const float *y = node->op == MT_OP_BATCH_NORM_RELU ? node->out->data : NULL; /* the ReLU's mask */
    bool assign = false; /* a new gradient is stored, not zeroed and added to */
    bool gx = x->requires_grad && mt_tensor_grad_for_write(ctx, x, &assign);
    bool gw = w && w->requires_grad && mt_tensor_ensure_grad(ctx, w);
    bool gb = b && b->requires_grad && mt_tensor_ensure_grad(ctx, b);
    /* The residual's gradient after x's in each channel, so that a residual that is x
     * itself (its gradient then already holding dx) adds to it. */
    bool assign_res = false;
    bool gr = res && res->requires_grad && mt_tensor_grad_for_write(ctx, res, &assign_res);
    if (mt_ctx_failed(ctx)) return;
    mt_share share = {0};
#pragma omp parallel if (x->numel > (1 << 15))
    {
        mt_share_it it = mt_share_begin(&share, C);
        for (int64_t c; (c = mt_share_next(&it)) >= 0;) {
            const float mean = s->mean[c], invstd = s->invstd[c];
            /* The sums of dy and dy * (x - mean) per plane in float, over the planes in double. */
            double sum_dy = 0.0, sum_dy_xm = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const int64_t at = (n * C + c) * S;
                float pg, pgx;
                mt_k_plane_grad_sums(y ? y + at : NULL, dy + at, x->data + at, mean, S, &pg, &pgx);
                sum_dy += pg;
                sum_dy_xm += pgx;
            }
            const double sum_dy_xhat = sum_dy_xm * invstd;
            if (gw) w->grad[c] += (float)sum_dy_xhat;
            if (gb) b->grad[c] += (float)sum_dy;
            const float gamma = w ? w->data[c] : 1.0f;
            /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) in training */
            const float a = (float)(sum_dy / M), bcoef = (float)(sum_dy_xhat / M);
            for (int64_t n = 0; n < N; n++) {
                const int64_t at = (n * C + c) * S;
                float *dx = gx ? x->grad + at : NULL, *dr = gr ? res->grad + at : NULL;
                if (y)
                    backward_plane(y + at, dy + at, x->data + at, mean, invstd, gamma, a, bcoef, S, dx, assign, dr,
                                   assign_res, s->training);
                else
                    backward_plane(NULL, dy + at, x->data + at, mean, invstd, gamma, a, bcoef, S, dx, assign, NULL,
                                   false, s->training);
            }
        }
    }
}
