/* scaled_dot_product_attention(q, k, v) = softmax(q k^T / sqrt(d)) v, fused: q (..., T, d),
 * k (..., S, d), v (..., S, e) with the same leading dims. For the ViT's short sequences
 * (T = S = 17, d = 8) one pass per (batch, head) with the scores in registers' reach
 * beats three ops and two GEMM calls; the composition matmul -> scale -> softmax ->
 * matmul stays as the reference it is tested against (tests/test_attention.c), besides
 * the PyTorch fixture. */
#include "ops/internal.h"

#include <math.h>

#include "kernels/cpu/vecmath.h"
#include <string.h>

typedef struct {
    int64_t B, T, S, D, E;
    int64_t H;  /* heads side by side in the last dim (mt_sdpa_heads), else 1 */
    float scale;
    int64_t sp; /* row stride of p: S rounded up to 8 when the rows sit in registers, else S */
    float *p;   /* softmax probabilities (B, T, sp); past column S, zeros */
} sdpa_saved;

/* Where (batch, head) b's rows start in q, k, v and out, and the row strides: with H
 * heads side by side, head h of batch element b / H is columns [h*D, (h+1)*D) of rows
 * H*D floats apart; with H = 1, b's rows are contiguous. */
typedef struct {
    int64_t q, k, v, o; /* offsets */
    int64_t ldd, lde;   /* row strides of q and k (H*D), and of v and out (H*E) */
} sdpa_at;

static sdpa_at sdpa_where(const sdpa_saved *s, int64_t b) {
    const int64_t n = b / s->H, h = b % s->H, H = s->H;
    return (sdpa_at){.q = n * s->T * H * s->D + h * s->D, .k = n * s->S * H * s->D + h * s->D,
                     .v = n * s->S * H * s->E + h * s->E, .o = n * s->T * H * s->E + h * s->E,
                     .ldd = H * s->D, .lde = H * s->E};
}

/* One (batch, head): P = softmax(Q K^T * scale), O = P V. K is transposed first (into
 * Kt) so that each row of scores is an axpy over S, which vectorises; a dot product
 * over d = 8 would be a scalar reduction, since without -ffast-math the compiler keeps
 * its order. The exponentials run over the whole T x S block at once (glibc's vector
 * expf, kernels/cpu/vecmath.h) rather than row by row with a scalar tail per row. */
static inline __attribute__((always_inline)) void sdpa_forward_one(int64_t T, int64_t S, const int64_t D,
                                                                   const int64_t E, float scale, sdpa_at at,
                                                                   const float *restrict Q, const float *restrict K,
                                                                   const float *restrict V, float *restrict P,
                                                                   float *restrict O, float *restrict Kt) {
    for (int64_t j = 0; j < S; j++)
        for (int64_t c = 0; c < D; c++) Kt[c * S + j] = K[j * at.ldd + c];
    for (int64_t t = 0; t < T; t++) {
        float *restrict pr = P + t * S;
        for (int64_t j = 0; j < S; j++) pr[j] = 0.0f;
        for (int64_t c = 0; c < D; c++) {
            const float a = Q[t * at.ldd + c];
            for (int64_t j = 0; j < S; j++) pr[j] += a * Kt[c * S + j];
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
            pr[j] *= scale;
            mx = pr[j] > mx ? pr[j] : mx; /* fmaxf is a libm call here */
        }
        for (int64_t j = 0; j < S; j++) pr[j] -= mx;
    }
#pragma omp simd
    for (int64_t i = 0; i < T * S; i++) P[i] = expf(P[i]);
    for (int64_t t = 0; t < T; t++) {
        float *restrict pr = P + t * S, *restrict o = O + t * at.lde;
        float sum = 0.0f;
        for (int64_t j = 0; j < S; j++) sum += pr[j];
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < S; j++) pr[j] *= inv;
        for (int64_t c = 0; c < E; c++) o[c] = 0.0f;
        for (int64_t j = 0; j < S; j++)
            for (int64_t c = 0; c < E; c++) o[c] += pr[j] * V[j * at.lde + c];
    }
}

typedef float v8 __attribute__((vector_size(32)));
/* 8 floats at any float's address: loads and stores through this type are unaligned. */
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define AT8(p) (*(v8u *)(p))
/* Rows of up to 8 * SDPA_NV keys are held in registers. */
#define SDPA_NV 4

/* *m = max(*m, *b) lane by lane. Through pointers: without AVX (the sanitizer build), a
 * 32-byte vector passed or returned by value would change the ABI (GCC's -Wpsabi). */
static inline __attribute__((always_inline)) void v8_max_into(v8 *m, const v8 *b) {
    for (int i = 0; i < 8; i++) (*m)[i] = (*m)[i] > (*b)[i] ? (*m)[i] : (*b)[i];
}

/* Rows out at once in the weighted sums below: independent accumulators, so that the
 * FMAs of one output's sum do not wait on each other's latency. */
#define SDPA_R 4

/* acc[r] = sum over i < n of coef[i * ci + r * cr] * rows[i * ld .. + 8], for r < R. */
static inline __attribute__((always_inline)) void weighted_rows(const int R, int64_t n, const float *restrict coef,
                                                                int64_t ci, int64_t cr, const float *restrict rows,
                                                                int64_t ld, v8 *acc) {
    for (int r = 0; r < R; r++) acc[r] = (v8){0};
    for (int64_t i = 0; i < n; i++) {
        const v8 x = AT8(rows + i * ld);
        for (int r = 0; r < R; r++) acc[r] += coef[i * ci + r * cr] * x;
    }
}

/* Output row o (< nout), columns [0, width) (a multiple of 8): the sum over i < n of
 * coef[i * ci + o * cr] times row i of `rows` (ld apart), stored to dst (rows ldo apart)
 * or added to it. Each output sums in i order, SDPA_R outputs at a time. */
static inline __attribute__((always_inline)) void weighted_sums(int64_t nout, int64_t n, int64_t width,
                                                                const float *restrict coef, int64_t ci, int64_t cr,
                                                                const float *restrict rows, int64_t ld, bool add,
                                                                float *restrict dst, int64_t ldo) {
    for (int64_t c = 0; c < width; c += 8) {
        int64_t o = 0;
        v8 acc[SDPA_R];
        for (; o + SDPA_R <= nout; o += SDPA_R) {
            weighted_rows(SDPA_R, n, coef + o * cr, ci, cr, rows + c, ld, acc);
            for (int r = 0; r < SDPA_R; r++) {
                float *d = dst + (o + r) * ldo + c;
                if (add) AT8(d) += acc[r];
                else AT8(d) = acc[r];
            }
        }
        for (; o < nout; o++) {
            weighted_rows(1, n, coef + o * cr, ci, cr, rows + c, ld, acc);
            float *d = dst + o * ldo + c;
            if (add) AT8(d) += acc[0];
            else AT8(d) = acc[0];
        }
    }
}

/* Mt (n x SP) = the transpose of M's first n columns (S rows, ld apart), zero past
 * column S. */
static inline __attribute__((always_inline)) void transpose_padded(int64_t S, const int64_t n,
                                                                   const float *restrict M, int64_t ld, int64_t SP,
                                                                   float *restrict Mt) {
    for (int64_t c = 0; c < n; c++)
        for (int64_t j = S; j < SP; j++) Mt[c * SP + j] = 0.0f;
    for (int64_t j = 0; j < S; j++)
        for (int64_t c = 0; c < n; c++) Mt[c * SP + j] = M[j * ld + c];
}

/* acc (nv vectors) = x (n floats) @ Mt (n x 8 * nv): a row of scores in registers. */
static inline __attribute__((always_inline)) void row_times_padded(const int nv, const int64_t n,
                                                                   const float *restrict x, const float *restrict Mt,
                                                                   v8 *acc) {
    for (int v = 0; v < nv; v++) acc[v] = (v8){0};
    for (int64_t c = 0; c < n; c++) {
        const float a = x[c];
        for (int v = 0; v < nv; v++) acc[v] += a * AT8(Mt + c * 8 * nv + 8 * v);
    }
}

/* The same for S <= 8 * nv keys, with each row of scores in nv registers rather than in
 * memory: the axpy above loads and stores the row once per c, and that store-to-load
 * chain, not the FMAs, was its cost. Kt is padded with zero columns to 8 * nv, and the
 * padded scores get -inf, so exp makes them 0 and every loop runs whole vectors. P has
 * rows of 8 * nv floats. */
static inline __attribute__((always_inline)) void sdpa_forward_rows(const int nv, int64_t T, int64_t S,
                                                                    const int64_t D, const int64_t E, float scale,
                                                                    sdpa_at at, const float *restrict Q,
                                                                    const float *restrict K, const float *restrict V,
                                                                    float *restrict P, float *restrict O,
                                                                    float *restrict Kt) {
    const int64_t SP = 8 * nv;
    transpose_padded(S, D, K, at.ldd, SP, Kt);
    /* Lanes past S: -inf for the max, then 0 after exp (a finite score there keeps
     * libmvec's expf off its slow path for out-of-range lanes). */
    float maskf[2][8 * SDPA_NV];
    for (int j = 0; j < SP; j++) {
        maskf[0][j] = j < S ? 0.0f : -INFINITY;
        maskf[1][j] = j < S ? 1.0f : 0.0f;
    }
    for (int64_t t = 0; t < T; t++) {
        v8 acc[SDPA_NV];
        row_times_padded(nv, D, Q + t * at.ldd, Kt, acc);
        v8 m = acc[0] * scale + AT8(maskf[0]);
        for (int v = 1; v < nv; v++) {
            const v8 sv = acc[v] * scale + AT8(maskf[0] + 8 * v);
            v8_max_into(&m, &sv);
        }
        float mx = m[0];
        for (int i = 1; i < 8; i++) mx = m[i] > mx ? m[i] : mx;
        for (int v = 0; v < nv; v++) AT8(P + t * SP + 8 * v) = acc[v] * scale - mx;
    }
#pragma omp simd
    for (int64_t i = 0; i < T * SP; i++) P[i] = expf(P[i]);
    for (int64_t t = 0; t < T; t++) {
        float *restrict pr = P + t * SP, *restrict o = O + t * at.lde;
        v8 sv = (v8){0};
        for (int v = 0; v < nv; v++) {
            AT8(pr + 8 * v) = AT8(pr + 8 * v) * AT8(maskf[1] + 8 * v);
            sv += AT8(pr + 8 * v);
        }
        float sum = 0.0f;
        for (int i = 0; i < 8; i++) sum += sv[i];
        const float inv = 1.0f / sum;
        for (int v = 0; v < nv; v++) AT8(pr + 8 * v) = AT8(pr + 8 * v) * inv;
        if (E % 8 != 0) {
            for (int64_t c = 0; c < E; c++) o[c] = 0.0f;
            for (int64_t j = 0; j < S; j++)
                for (int64_t c = 0; c < E; c++) o[c] += pr[j] * V[j * at.lde + c];
        }
    }
    if (E % 8 == 0) weighted_sums(T, S, E, P, 1, SP, V, at.lde, false, O, at.lde); /* O = P V */
}

/* One (batch, head) of the backward: dP = dO V^T (an axpy over S, with V transposed
 * into Vt), dS = P (dP - <dP, P>) * scale, then dV += P^T dO, dQ += dS K, dK += dS^T Q
 * (each skipped when its pointer is NULL). */
static inline __attribute__((always_inline)) void sdpa_backward_one(
    int64_t T, int64_t S, const int64_t D, const int64_t E, int64_t ldp, float scale, sdpa_at at, const float *restrict Q,
    const float *restrict K, const float *restrict V, const float *restrict P, const float *restrict dO,
    float *restrict dS, float *restrict Vt, float *restrict dQ, float *restrict dK, float *restrict dV) {
    for (int64_t j = 0; j < S; j++)
        for (int64_t c = 0; c < E; c++) Vt[c * S + j] = V[j * at.lde + c];
    for (int64_t t = 0; t < T; t++) {
        float *restrict dp = dS + t * S;
        const float *restrict pr = P + t * ldp;
        for (int64_t j = 0; j < S; j++) dp[j] = 0.0f;
        for (int64_t c = 0; c < E; c++) {
            const float a = dO[t * at.lde + c];
            for (int64_t j = 0; j < S; j++) dp[j] += a * Vt[c * S + j];
        }
        double dot = 0.0;
        for (int64_t j = 0; j < S; j++) dot += (double)dp[j] * pr[j];
        const float fdot = (float)dot;
        for (int64_t j = 0; j < S; j++) dp[j] = pr[j] * (dp[j] - fdot) * scale;
    }
    if (dV)
        for (int64_t j = 0; j < S; j++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t c = 0; c < E; c++) dV[j * at.lde + c] += P[t * ldp + j] * dO[t * at.lde + c];
    if (dQ)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < S; j++)
                for (int64_t c = 0; c < D; c++) dQ[t * at.ldd + c] += dS[t * S + j] * K[j * at.ldd + c];
    if (dK)
        for (int64_t j = 0; j < S; j++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t c = 0; c < D; c++) dK[j * at.ldd + c] += dS[t * S + j] * Q[t * at.ldd + c];
}

/* The backward for rows held in registers (S <= 8 * nv, P's rows 8 * nv floats with zeros
 * past S), for d and e multiples of 8: each row of dP = dO V^T is accumulated in nv
 * registers over a zero-padded V^T, and each row of dV, dQ and dK in a register over t
 * or j before it is added to the gradient once. dS has rows of 8 * nv floats, zero past S. */
static inline __attribute__((always_inline)) void sdpa_backward_rows(
    const int nv, int64_t T, int64_t S, const int64_t D, const int64_t E, float scale, sdpa_at at,
    const float *restrict Q, const float *restrict K, const float *restrict V, const float *restrict P,
    const float *restrict dO, float *restrict dS, float *restrict Vt, float *restrict dQ, float *restrict dK,
    float *restrict dV) {
    const int64_t SP = 8 * nv;
    transpose_padded(S, E, V, at.lde, SP, Vt);
    for (int64_t t = 0; t < T; t++) {
        v8 acc[SDPA_NV];
        row_times_padded(nv, E, dO + t * at.lde, Vt, acc);
        v8 d = (v8){0};
        for (int v = 0; v < nv; v++) d += acc[v] * AT8(P + t * SP + 8 * v);
        float dot = 0.0f;
        for (int i = 0; i < 8; i++) dot += d[i];
        for (int v = 0; v < nv; v++) AT8(dS + t * SP + 8 * v) = AT8(P + t * SP + 8 * v) * (acc[v] - dot) * scale;
    }
    if (dV) weighted_sums(S, T, E, P, SP, 1, dO, at.lde, true, dV, at.lde);   /* dV += P^T dO */
    if (dQ) weighted_sums(T, S, D, dS, 1, SP, K, at.ldd, true, dQ, at.ldd);  /* dQ += dS K */
    if (dK) weighted_sums(S, T, D, dS, SP, 1, Q, at.ldd, true, dK, at.ldd);  /* dK += dS^T Q */
}

/* The forward of both entry points below, once s's sizes are set: out has `shape`. */
static mt_tensor *sdpa_run(mt_ctx *ctx, mt_tensor *q, mt_tensor *k, mt_tensor *v, sdpa_saved *s, int n,
                           const int64_t *shape) {
    mt_tensor *in[3] = {q, k, v};
    s->scale = 1.0f / sqrtf((float)s->D);
    mt_tensor *out = mt_tensor_empty(ctx, n, shape);
    const mt_arena_mark after_out = mt_ctx_mark(ctx);
    const int64_t T = s->T, S = s->S, D = s->D, E = s->E;
    const int nv = (int)((S + 7) / 8);
    s->sp = nv <= SDPA_NV ? 8 * nv : S;
    const int64_t SP = s->sp;
    s->p = mt_ctx_alloc(ctx, (size_t)(s->B * T * SP + 1) * sizeof(float));
    if (!out || !s->p) return NULL;
    const mt_arena_mark after_p = mt_ctx_mark(ctx);
    float *kt_all = mt_ctx_alloc(ctx, (size_t)(s->B * SP * D + 1) * sizeof(float));
    if (!kt_all) return NULL;
    ctx->flops += 2.0 * (double)(s->B * T * S * (D + E));
#pragma omp parallel for if (s->B * T * S * (D + E) > (1 << 15))
    for (int64_t b = 0; b < s->B; b++) {
        const sdpa_at at = sdpa_where(s, b);
        const float *Q = q->data + at.q, *K = k->data + at.k, *V = v->data + at.v;
        float *P = s->p + b * T * SP, *O = out->data + at.o, *Kt = kt_all + b * SP * D;
        /* The ViT's head width (8) and the usual ones as constants: their loops unroll. */
        if (nv == 3 && D == 8 && E == 8) sdpa_forward_rows(3, T, S, 8, 8, s->scale, at, Q, K, V, P, O, Kt);
        else if (nv == 1) sdpa_forward_rows(1, T, S, D, E, s->scale, at, Q, K, V, P, O, Kt);
        else if (nv == 2) sdpa_forward_rows(2, T, S, D, E, s->scale, at, Q, K, V, P, O, Kt);
        else if (nv == 3) sdpa_forward_rows(3, T, S, D, E, s->scale, at, Q, K, V, P, O, Kt);
        else if (nv == 4) sdpa_forward_rows(4, T, S, D, E, s->scale, at, Q, K, V, P, O, Kt);
        else if (D == 8 && E == 8) sdpa_forward_one(T, S, 8, 8, s->scale, at, Q, K, V, P, O, Kt);
        else if (D == 16 && E == 16) sdpa_forward_one(T, S, 16, 16, s->scale, at, Q, K, V, P, O, Kt);
        else if (D == 32 && E == 32) sdpa_forward_one(T, S, 32, 32, s->scale, at, Q, K, V, P, O, Kt);
        else sdpa_forward_one(T, S, D, E, s->scale, at, Q, K, V, P, O, Kt);
    }
    /* K transposed was scratch; the probabilities too, unless the backward needs them. */
    mt_ctx_release(ctx, mt_needs_grad(ctx, in, 3) ? after_p : after_out);
    mt_node *node = mt_record(ctx, MT_OP_SDPA, out, in, 3);
    if (node) node->saved = s;
    return out;
}

mt_tensor *mt_scaled_dot_product_attention(mt_ctx *ctx, mt_tensor *q, mt_tensor *k, mt_tensor *v) {
    mt_tensor *in[3] = {q, k, v};
    if (!mt_inputs_ok(ctx, in, 3)) return NULL;
    char sq[96], sk[96], sv[96];
    int n = q->ndim;
    bool ok = n >= 2 && k->ndim == n && v->ndim == n && k->shape[n - 1] == q->shape[n - 1] &&
              v->shape[n - 2] == k->shape[n - 2];
    for (int d = 0; ok && d < n - 2; d++) ok = k->shape[d] == q->shape[d] && v->shape[d] == q->shape[d];
    if (!ok)
        return mt_op_error(ctx, "scaled_dot_product_attention", "q %s, k %s, v %s do not fit (..., T, d), (..., S, d), (..., S, e)",
                           mt_shape_str(q, sq, sizeof sq), mt_shape_str(k, sk, sizeof sk), mt_shape_str(v, sv, sizeof sv));
    sdpa_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    if (!s) return NULL;
    s->T = q->shape[n - 2];
    s->D = q->shape[n - 1];
    s->S = k->shape[n - 2];
    s->E = v->shape[n - 1];
    s->H = 1;
    s->B = (s->T * s->D != 0) ? q->numel / (s->T * s->D) : 0;
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, q->shape, sizeof shape);
    shape[n - 1] = s->E;
    return sdpa_run(ctx, q, k, v, s, n, shape);
}

mt_tensor *mt_sdpa_heads(mt_ctx *ctx, mt_tensor *q, mt_tensor *k, mt_tensor *v, int64_t heads) {
    mt_tensor *in[3] = {q, k, v};
    if (!mt_inputs_ok(ctx, in, 3)) return NULL;
    char sq[96], sk[96], sv[96];
    bool ok = q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && heads >= 1 && k->shape[0] == q->shape[0] &&
              v->shape[0] == q->shape[0] && k->shape[2] == q->shape[2] && v->shape[1] == k->shape[1] &&
              q->shape[2] % heads == 0 && v->shape[2] % heads == 0;
    if (!ok)
        return mt_op_error(ctx, "scaled_dot_product_attention",
                           "q %s, k %s, v %s do not fit (B, T, h*d), (B, S, h*d), (B, S, h*e) with %lld heads",
                           mt_shape_str(q, sq, sizeof sq), mt_shape_str(k, sk, sizeof sk), mt_shape_str(v, sv, sizeof sv),
                           (long long)heads);
    sdpa_saved *s = mt_ctx_alloc(ctx, sizeof *s);
    if (!s) return NULL;
    *s = (sdpa_saved){.B = q->shape[0] * heads, .T = q->shape[1], .S = k->shape[1], .D = q->shape[2] / heads,
                      .E = v->shape[2] / heads, .H = heads};
    const int64_t shape[3] = {q->shape[0], q->shape[1], v->shape[2]};
    return sdpa_run(ctx, q, k, v, s, 3, shape);
}

void mt_sdpa_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    const sdpa_saved *s = node->saved;
    const int64_t T = s->T, S = s->S, D = s->D, E = s->E;
    bool gq = q->requires_grad && mt_tensor_ensure_grad(ctx, q);
    bool gk = k->requires_grad && mt_tensor_ensure_grad(ctx, k);
    bool gv = v->requires_grad && mt_tensor_ensure_grad(ctx, v);
    const mt_arena_mark scratch = mt_ctx_mark(ctx); /* after the gradients: they stay */
    const int64_t SP = s->sp, nv = (S + 7) / 8; /* SP = 8 * nv when the forward held rows in registers */
    const bool rows = nv <= SDPA_NV && D % 8 == 0 && E % 8 == 0;
    float *dS_all = mt_ctx_alloc(ctx, (size_t)(s->B * T * SP + 1) * sizeof(float));
    float *vt_all = mt_ctx_alloc(ctx, (size_t)(s->B * SP * E + 1) * sizeof(float));
    if (!dS_all || !vt_all) return;
    ctx->flops += 4.0 * (double)(s->B * T * S * (D + E));
#pragma omp parallel for if (s->B * T * S * (D + E) > (1 << 15))
    for (int64_t b = 0; b < s->B; b++) {
        const sdpa_at at = sdpa_where(s, b);
        const float *Q = q->data + at.q, *K = k->data + at.k, *V = v->data + at.v;
        const float *P = s->p + b * T * s->sp, *dO = node->out->grad + at.o;
        float *dS = dS_all + b * T * SP, *Vt = vt_all + b * SP * E;
        float *dQ = gq ? q->grad + at.q : NULL, *dK = gk ? k->grad + at.k : NULL;
        float *dV = gv ? v->grad + at.v : NULL;
        if (rows && nv == 3 && D == 8 && E == 8)
            sdpa_backward_rows(3, T, S, 8, 8, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (rows && nv == 1) sdpa_backward_rows(1, T, S, D, E, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (rows && nv == 2) sdpa_backward_rows(2, T, S, D, E, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (rows && nv == 3) sdpa_backward_rows(3, T, S, D, E, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (rows && nv == 4) sdpa_backward_rows(4, T, S, D, E, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (D == 8 && E == 8) sdpa_backward_one(T, S, 8, 8, s->sp, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (D == 16 && E == 16) sdpa_backward_one(T, S, 16, 16, s->sp, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else if (D == 32 && E == 32) sdpa_backward_one(T, S, 32, 32, s->sp, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
        else sdpa_backward_one(T, S, D, E, s->sp, s->scale, at, Q, K, V, P, dO, dS, Vt, dQ, dK, dV);
    }
    mt_ctx_release(ctx, scratch);
}
