/* Layer norm and GELU. Rows are independent: threads split rows; each row's sums run in
 * a fixed order (deterministic). */
#include "kernels/cpu/norm.h"

#include <math.h>

#include "kernels/cpu/vecmath.h"

void mt_k_layer_norm(int64_t M, int64_t D, const float *x, const float *w, const float *b, float eps,
                     float *y, float *mean, float *invstd) {
#pragma omp parallel for if (M * D > (1 << 15))
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double sum = 0.0, sq = 0.0;
        for (int64_t k = 0; k < D; k++) sum += xr[k];
        double m = sum / (double)D;
        for (int64_t k = 0; k < D; k++) sq += (xr[k] - m) * (xr[k] - m);
        float is = (float)(1.0 / sqrt(sq / (double)D + eps));
        mean[r] = (float)m;
        invstd[r] = is;
        for (int64_t k = 0; k < D; k++) {
            float v = (xr[k] - (float)m) * is;
            yr[k] = w ? v * w[k] + (b ? b[k] : 0.0f) : v + (b ? b[k] : 0.0f);
        }
    }
}

void mt_k_layer_norm_backward(int64_t M, int64_t D, const float *x, const float *w, const float *mean,
                              const float *invstd, const float *dy, float *dx, float *dw, float *db) {
    if (dx) {
#pragma omp parallel for if (M * D > (1 << 15))
        for (int64_t r = 0; r < M; r++) {
            const float *xr = x + r * D, *g = dy + r * D;
            float *d = dx + r * D;
            double s1 = 0.0, s2 = 0.0; /* sum(dxhat), sum(dxhat * xhat) */
            for (int64_t k = 0; k < D; k++) {
                float dxhat = g[k] * (w ? w[k] : 1.0f);
                s1 += dxhat;
                s2 += (double)dxhat * (xr[k] - mean[r]) * invstd[r];
            }
            float a = (float)(s1 / (double)D), c = (float)(s2 / (double)D);
            for (int64_t k = 0; k < D; k++) {
                float xhat = (xr[k] - mean[r]) * invstd[r];
                d[k] += invstd[r] * (g[k] * (w ? w[k] : 1.0f) - a - xhat * c);
            }
        }
    }
    /* Parameter grads sum over rows: split the columns across threads instead. */
    if (!dw && !db) return;
#pragma omp parallel for if (M * D > (1 << 15))
    for (int64_t k = 0; k < D; k++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t r = 0; r < M; r++) {
            float g = dy[r * D + k];
            sw += (double)g * (x[r * D + k] - mean[r]) * invstd[r];
            sb += g;
        }
        if (dw) dw[k] += (float)sw;
        if (db) db[k] += (float)sb;
    }
}

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f

void mt_k_gelu(int64_t n, const float *x, float *y, bool tanh_approx) {
    if (tanh_approx) {
#pragma omp parallel for simd if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
        }
    } else {
#pragma omp parallel for simd if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        }
    }
}

void mt_k_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, bool tanh_approx) {
    if (tanh_approx) {
#pragma omp parallel for simd if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float t = tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
            dx[i] += (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * v * v)) *
                     dy[i];
        }
    } else {
#pragma omp parallel for simd if (n > (1 << 15))
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            dx[i] += (0.5f * (1.0f + erff(v * 0.70710678118654752f)) + v * expf(-0.5f * v * v) * 0.3989422804014327f) *
                     dy[i];
        }
    }
}
