/* Softmax, log-softmax and fused softmax + cross-entropy. */
#include "kernels/cpu/softmax.h"

#include <math.h>

void mt_k_softmax(int64_t outer, int64_t D, int64_t inner, const float *x, float *y, bool log) {
#pragma omp parallel for collapse(2) if (outer * inner * D > (1 << 15))
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * D * inner + i;
            float *ys = y + o * D * inner + i;
            float mx = -INFINITY;
            for (int64_t d = 0; d < D; d++) mx = fmaxf(mx, xs[d * inner]);
            double sum = 0.0;
            for (int64_t d = 0; d < D; d++) sum += expf(xs[d * inner] - mx);
            if (log) {
                float lse = mx + (float)logf((float)sum);
                for (int64_t d = 0; d < D; d++) ys[d * inner] = xs[d * inner] - lse;
            } else {
                float inv = (float)(1.0 / sum);
                for (int64_t d = 0; d < D; d++) ys[d * inner] = expf(xs[d * inner] - mx) * inv;
            }
        }
}

void mt_k_softmax_backward(int64_t outer, int64_t D, int64_t inner, const float *y,
                           const float *gy, float *gx, bool log) {
#pragma omp parallel for collapse(2) if (outer * inner * D > (1 << 15))
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * D * inner + i;
            double dot = 0.0;
            for (int64_t d = 0; d < D; d++) {
                int64_t k = base + d * inner;
                dot += log ? gy[k] : gy[k] * y[k];
            }
            for (int64_t d = 0; d < D; d++) {
                int64_t k = base + d * inner;
                /* softmax: y (g - <g, y>); log_softmax: g - exp(y) sum(g) */
                gx[k] += log ? gy[k] - expf(y[k]) * (float)dot : y[k] * (gy[k] - (float)dot);
            }
        }
}

double mt_k_cross_entropy(int64_t N, int64_t C, const float *logits, const int32_t *targets,
                          const float *target_probs, float smoothing, float *probs) {
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const float *x = logits + n * C;
        float *p = probs + n * C;
        float mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) mx = fmaxf(mx, x[c]);
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) {
            p[c] = expf(x[c] - mx);
            sum += p[c];
        }
        float inv = (float)(1.0 / sum);
        double lse = (double)mx + log(sum);
        for (int64_t c = 0; c < C; c++) p[c] *= inv;
        if (targets) {
            double all = 0.0;
            if (smoothing != 0.0f)
                for (int64_t c = 0; c < C; c++) all += lse - x[c];
            total += (1.0 - smoothing) * (lse - x[targets[n]]) + smoothing * all / (double)C;
        } else {
            const float *t = target_probs + n * C;
            for (int64_t c = 0; c < C; c++) total += (double)t[c] * (lse - x[c]);
        }
    }
    return N ? total / (double)N : NAN;
}
