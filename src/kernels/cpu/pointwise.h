/* Elementwise kernels on raw float buffers: no allocation, no autograd, no shapes. */
#ifndef MT_KERNELS_CPU_POINTWISE_H
#define MT_KERNELS_CPU_POINTWISE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MT_K_AFFINE,     /* y = p0 * x + p1 */
    MT_K_POW,        /* y = x ** p0 */
    MT_K_EXP,
    MT_K_LOG,
    MT_K_RELU,
    MT_K_LEAKY_RELU, /* slope p0 */
    MT_K_SIGMOID,
    MT_K_TANH,
} mt_unary_kind;

typedef enum { MT_K_ADD, MT_K_SUB, MT_K_MUL, MT_K_DIV } mt_binary_kind;

/* y[i] = f(x[i]) for i < n. */
void mt_k_unary_forward(mt_unary_kind k, int64_t n, const float *x, float *y, float p0, float p1);
/* gx[i] += f'(x[i]) * gy[i]; y is the forward output (some derivatives use it). */
void mt_k_unary_backward(mt_unary_kind k, int64_t n, const float *x, const float *y,
                         const float *gy, float *gx, float p0);

/* A broadcast binary op laid out as rows of L contiguous outputs: row r reads a from
 * a + off_a[r] with stride sa (0 or 1) and b from b + off_b[r] with stride sb. */
typedef struct {
    int64_t rows, L;
    int sa, sb;
    const int64_t *off_a, *off_b;
    bool full_a, full_b; /* the operand has as many elements as the output */
} mt_k_rows;

/* out[r*L + j] = a[off_a[r] + j*sa] (op) b[off_b[r] + j*sb]. */
void mt_k_binary_forward(mt_binary_kind k, const mt_k_rows *p, const float *a, const float *b,
                         float *out);
/* Accumulates the gradient of operand `which` (0: a, 1: b) from gout into g (shaped like
 * that operand): g[off + j*s] += d(out)/d(operand) * gout; with assign, for an operand that
 * is not broadcast, stores it instead (g need not be zeroed). */
void mt_k_binary_backward(mt_binary_kind k, int which, const mt_k_rows *p, const float *a,
                          const float *b, const float *out, const float *gout, float *g, bool assign);

#endif
