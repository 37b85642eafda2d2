/* Layer norm and GELU. Rows are independent: threads split rows; each row's sums run in
 * a fixed order (deterministic). */
#include "kernels/cpu/norm.h"

#include <math.h>
#include <stddef.h>

#include "kernels/cpu/vecmath.h"

/* A row's sum, as `#pragma omp simd reduction` lets the compiler order it: in vector lanes,
 * then across them (the same order on every call, so still deterministic). */
static inline float row_sum(int64_t D, const float *x) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < D; k++) s += x[k];
    return s;
}

void mt_k_layer_norm(int64_t M, int64_t D, const float *x, const float *w, const float *b, float eps,
                     float *y, float *mean, float *invstd) {
#pragma omp parallel for if (M * D > (1 << 15))
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        const float m = row_sum(D, xr) / (float)D;
        float sq = 0.0f; /* two passes: the variance of x - m, not E[x^2] - m^2 */
#pragma omp simd reduction(+ : sq)
        for (int64_t k = 0; k < D; k++) sq += (xr[k] - m) * (xr[k] - m);
        const float is = 1.0f / sqrtf(sq / (float)D + eps);
        mean[r] = m;
        invstd[r] = is;
        if (w && b) {
#pragma omp simd
            for (int64_t k = 0; k < D; k++) yr[k] = (xr[k] - m) * is * w[k] + b[k];
        } else {
            for (int64_t k = 0; k < D; k++) {
                float v = (xr[k] - m) * is;
                yr[k] = w ? v * w[k] + (b ? b[k] : 0.0f) : v + (b ? b[k] : 0.0f);
            }
        }
    }
}

/* Columns per task of the parameter gradients: a cache line of each row. */
#define LN_COLS 16

void mt_k_layer_norm_backward(int64_t M, int64_t D, const float *x, const float *w, const float *mean,
                              const float *invstd, const float *dy, float *dx, bool assign, float *dw, float *db) {
    if (dx) {
#pragma omp parallel for if (M * D > (1 << 15))
        for (int64_t r = 0; r < M; r++) {
            const float *xr = x + r * D, *g = dy + r * D;
            const float m = mean[r], is = invstd[r];
            float *d = dx + r * D;
            float s1 = 0.0f, s2 = 0.0f; /* sum(dxhat), sum(dxhat * xhat) */
#pragma omp simd reduction(+ : s1, s2)
            for (int64_t k = 0; k < D; k++) {
                float dxhat = g[k] * (w ? w[k] : 1.0f);
                s1 += dxhat;
                s2 += dxhat * ((xr[k] - m) * is);
            }
            const float a = s1 / (float)D, c = s2 / (float)D;
#pragma omp simd
            for (int64_t k = 0; k < D; k++) {
                float xhat = (xr[k] - m) * is;
                d[k] = (assign ? 0.0f : d[k]) + is * (g[k] * (w ? w[k] : 1.0f) - a - xhat * c);
            }
        }
    }
    /* Parameter grads sum over rows: threads take LN_COLS columns each and walk all rows,
     * summing in double, in row order (the same result for any thread count). */
    if (!dw && !db) return;
    const int64_t chunks = (D + LN_COLS - 1) / LN_COLS;
#pragma omp parallel for if (M * D > (1 << 15))
    for (int64_t ch = 0; ch < chunks; ch++) {
        const int64_t k0 = ch * LN_COLS, n = D - k0 < LN_COLS ? D - k0 : LN_COLS;
        double sw[LN_COLS] = {0}, sb[LN_COLS] = {0};
        for (int64_t r = 0; r < M; r++) {
            const float *g = dy + r * D + k0, *xr = x + r * D + k0;
            const float m = mean[r], is = invstd[r];
#pragma omp simd
            for (int64_t i = 0; i < n; i++) {
                sw[i] += (double)g[i] * ((xr[i] - m) * is);
                sb[i] += g[i];
            }
        }
        for (int64_t i = 0; i < n; i++) {
            if (dw) dw[k0 + i] += (float)sw[i];
            if (db) db[k0 + i] += (float)sb[i];
        }
    }
}

typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4), may_alias));

/* The eight lanes of acc (a v8f) added in a fixed tree, into the float named by out. A
 * macro, not a function: 32-byte vectors are not passed by value (gemm_small.c's LOAD8). */
#define LANES_SUM(out, acc)                                                                     \
    do {                                                                                       \
        float t_[8];                                                                           \
        *(v8f *)t_ = (acc);                                                                    \
        (out) = ((t_[0] + t_[1]) + (t_[2] + t_[3])) + ((t_[4] + t_[5]) + (t_[6] + t_[7]));    \
    } while (0)

void mt_k_plane_moments(const float *x, int64_t n, float *sum, float *m2) {
    v8f a = {0}, b = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        a += *(const v8f *)(x + k);
        b += *(const v8f *)(x + k + 8);
    }
    if (k + 8 <= n) a += *(const v8f *)(x + k), k += 8;
    float s;
    LANES_SUM(s, a + b);
    for (; k < n; k++) s += x[k];
    const float m = s / (float)n;
    const v8f mv = (v8f){0} + m;
    a = b = (v8f){0};
    for (k = 0; k + 16 <= n; k += 16) {
        const v8f d0 = *(const v8f *)(x + k) - mv, d1 = *(const v8f *)(x + k + 8) - mv;
        a += d0 * d0;
        b += d1 * d1;
    }
    if (k + 8 <= n) {
        const v8f d = *(const v8f *)(x + k) - mv;
        a += d * d;
        k += 8;
    }
    float q;
    LANES_SUM(q, a + b);
    for (; k < n; k++) q += (x[k] - m) * (x[k] - m);
    *sum = s;
    *m2 = q;
}

/* Eight of g from at, zeroed where mask is not positive (NaN included) when mask is given. */
#define MASKED8(mask, g, at)                                                                       \
    ((mask) ? (v8f)((v8i) * (const v8f *)((g) + (at)) & (v8i)(*(const v8f *)((mask) + (at)) > (v8f){0})) \
            : *(const v8f *)((g) + (at)))

static inline __attribute__((always_inline)) void grad_sums(const float *mask, const float *g, const float *x,
                                                            float mean, int64_t n, float *sum_g, float *sum_gx) {
    const v8f mv = (v8f){0} + mean;
    v8f s0 = {0}, s1 = {0}, q0 = {0}, q1 = {0};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const v8f g0 = MASKED8(mask, g, k), g1 = MASKED8(mask, g, k + 8);
        s0 += g0;
        s1 += g1;
        q0 += g0 * (*(const v8f *)(x + k) - mv);
        q1 += g1 * (*(const v8f *)(x + k + 8) - mv);
    }
    if (k + 8 <= n) {
        const v8f g0 = MASKED8(mask, g, k);
        s0 += g0;
        q0 += g0 * (*(const v8f *)(x + k) - mv);
        k += 8;
    }
    float s, q;
    LANES_SUM(s, s0 + s1);
    LANES_SUM(q, q0 + q1);
    for (; k < n; k++) {
        const float gk = mask && !(mask[k] > 0.0f) ? 0.0f : g[k];
        s += gk;
        q += gk * (x[k] - mean);
    }
    *sum_g = s;
    *sum_gx = q;
}

void mt_k_plane_grad_sums(const float *mask, const float *g, const float *x, float mean, int64_t n, float *sum_g,
                          float *sum_gx) {
    if (mask) grad_sums(mask, g, x, mean, n, sum_g, sum_gx);
    else grad_sums(NULL, g, x, mean, n, sum_g, sum_gx);
}

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

void mt_k_gelu(int64_t n, const float *x, float *y, bool tanh_approx) {
    if (tanh_approx) {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
        }
    } else {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        }
    }
}

void mt_k_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, bool assign, bool tanh_approx) {
    if (tanh_approx) {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float t = tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
            dx[i] = (assign ? 0.0f : dx[i]) + (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v)) *
                     dy[i];
        }
    } else {
#pragma omp parallel for simd if (parallel: n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            dx[i] = (assign ? 0.0f : dx[i]) + (0.5f * (1.0f + erff(v * 0.70710678118654752f)) + v * expf(-0.5f * v * v) * 0.3989422804014327f) *
                     dy[i];
        }
    }
}
