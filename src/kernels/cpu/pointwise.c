/* Elementwise kernels. The switch sits outside each loop so every loop is a plain
 * vectorisable body; OpenMP splits only loops long enough to pay for the threads. */
#include "kernels/cpu/pointwise.h"

#include <math.h>

#define PAR_N (1 << 15)

void mt_k_unary_forward(mt_unary_kind k, int64_t n, const float *x, float *y, float p0, float p1) {
    switch (k) {
    case MT_K_AFFINE:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = p0 * x[i] + p1;
        break;
    case MT_K_POW:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = powf(x[i], p0);
        break;
    case MT_K_EXP:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    case MT_K_LOG:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
        break;
    case MT_K_RELU:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case MT_K_LEAKY_RELU:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : p0 * x[i];
        break;
    case MT_K_SIGMOID:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case MT_K_TANH:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    }
}

void mt_k_unary_backward(mt_unary_kind k, int64_t n, const float *x, const float *y,
                         const float *gy, float *gx, float p0) {
    switch (k) {
    case MT_K_AFFINE:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += p0 * gy[i];
        break;
    case MT_K_POW:
#pragma omp parallel for if (n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += p0 * powf(x[i], p0 - 1.0f) * gy[i];
        break;
    case MT_K_EXP:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += y[i] * gy[i];
        break;
    case MT_K_LOG:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += gy[i] / x[i];
        break;
    case MT_K_RELU:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += x[i] > 0.0f ? gy[i] : 0.0f;
        break;
    case MT_K_LEAKY_RELU:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += x[i] > 0.0f ? gy[i] : p0 * gy[i];
        break;
    case MT_K_SIGMOID:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += y[i] * (1.0f - y[i]) * gy[i];
        break;
    case MT_K_TANH:
#pragma omp parallel for simd if (parallel: n > PAR_N)
        for (int64_t i = 0; i < n; i++) gx[i] += (1.0f - y[i] * y[i]) * gy[i];
        break;
    }
}

static inline float apply(mt_binary_kind k, float a, float b) {
    switch (k) {
    case MT_K_ADD: return a + b;
    case MT_K_SUB: return a - b;
    case MT_K_MUL: return a * b;
    case MT_K_DIV: return a / b;
    }
    return 0.0f;
}

/* o[j] = a[j * sa] (op) b[j * sb] for j < n (sa, sb: 0 or 1), for one constant k. */
static inline __attribute__((always_inline)) void binary_row_k(const mt_binary_kind k, int64_t n, const float *a,
                                                               int64_t sa, const float *b, int64_t sb, float *o) {
    if (sa && sb) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) o[j] = apply(k, a[j], b[j]);
    } else if (sa) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) o[j] = apply(k, a[j], b[0]);
    } else if (sb) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++) o[j] = apply(k, a[0], b[j]);
    } else {
        for (int64_t j = 0; j < n; j++) o[j] = apply(k, a[0], b[0]);
    }
}

/* The switch on k outside the loops (a switch inside kept them scalar: a same-shape add
 * of 70k floats took 49 us instead of 7). */
static void binary_row(mt_binary_kind k, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *o) {
    switch (k) {
    case MT_K_ADD: binary_row_k(MT_K_ADD, n, a, sa, b, sb, o); break;
    case MT_K_SUB: binary_row_k(MT_K_SUB, n, a, sa, b, sb, o); break;
    case MT_K_MUL: binary_row_k(MT_K_MUL, n, a, sa, b, sb, o); break;
    case MT_K_DIV: binary_row_k(MT_K_DIV, n, a, sa, b, sb, o); break;
    }
}

void mt_k_binary_forward(mt_binary_kind k, const mt_k_rows *p, const float *a, const float *b,
                         float *out) {
    const int64_t L = p->L;
    if (p->rows == 1 && p->sa && p->sb) { /* same shapes: one long row, split it in blocks */
        enum { BLOCK = 1 << 14 };
        const int64_t blocks = (L + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (L > PAR_N)
        for (int64_t blk = 0; blk < blocks; blk++) {
            const int64_t at = blk * BLOCK, n = L - at < BLOCK ? L - at : BLOCK;
            binary_row(k, n, a + at, 1, b + at, 1, out + at);
        }
        return;
    }
#pragma omp parallel for if (p->rows * L > PAR_N)
    for (int64_t r = 0; r < p->rows; r++)
        binary_row(k, L, a + p->off_a[r], p->sa, b + p->off_b[r], p->sb, out + r * L);
}

/* d(out)/d(a) and d(out)/d(b) for each op, times the incoming gradient. */
static inline float dgrad(mt_binary_kind k, int which, float a, float b, float out, float g) {
    switch (k) {
    case MT_K_ADD: return g;
    case MT_K_SUB: return which ? -g : g;
    case MT_K_MUL: return which ? g * a : g * b;
    case MT_K_DIV: return which ? -g * out / b : g / b;
    }
    return 0.0f;
}

void mt_k_binary_backward(mt_binary_kind k, int which, const mt_k_rows *p, const float *a,
                          const float *b, const float *out, const float *gout, float *g, bool assign) {
    const int64_t L = p->L;
    const int64_t *off = which ? p->off_b : p->off_a;
    const int s = which ? p->sb : p->sa;
    /* Rows write disjoint parts of g only when this operand is not broadcast; otherwise
     * one thread, so that the sums stay deterministic. */
    bool disjoint = which ? p->full_b : p->full_a;
    assign = assign && disjoint && s; /* only where each element gets exactly one term */
    /* Rows in blocks of at most BLOCK elements, so that one long row (two tensors of the
     * same shape) is shared by the threads too; in order when on one thread. */
    enum { BLOCK = 1 << 14 };
    const int64_t blocks = (L + BLOCK - 1) / BLOCK;
#pragma omp parallel for collapse(2) if (disjoint && p->rows * L > PAR_N)
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t blk = 0; blk < blocks; blk++) {
            const float *ar = a + p->off_a[r], *br = b + p->off_b[r];
            const float *o = out + r * L, *gr = gout + r * L;
            float *gt = g + off[r];
            const int64_t end = (blk + 1) * BLOCK < L ? (blk + 1) * BLOCK : L;
            if (s && (k == MT_K_ADD || k == MT_K_SUB)) { /* a residual's add: one vector add */
                const float sign = k == MT_K_SUB && which ? -1.0f : 1.0f;
                if (assign) {
#pragma omp simd
                    for (int64_t j = blk * BLOCK; j < end; j++) gt[j] = sign * gr[j];
                } else {
#pragma omp simd
                    for (int64_t j = blk * BLOCK; j < end; j++) gt[j] += sign * gr[j];
                }
                continue;
            }
            for (int64_t j = blk * BLOCK; j < end; j++) {
                float v = dgrad(k, which, ar[j * p->sa], br[j * p->sb], o[j], gr[j]);
                if (assign) gt[j] = v;
                else if (s) gt[j] += v;
                else gt[0] += v;
            }
        }
}
