/* scaled_dot_product_attention(q, k, v) = softmax(q k^T / sqrt(d)) v, fused: q (..., T, d),
 * k (..., S, d), v (..., S, e) with the same leading dims. For the ViT's short sequences
 * (T = S = 17, d = 8) one pass per (batch, head) with the scores in registers' reach
 * beats three ops and two GEMM calls; the composition matmul -> scale -> softmax ->
 * matmul stays as the reference it is tested against (tests/test_attention.c), besides
 * the PyTorch fixture. */
#include "ops/internal.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t B, T, S, D, E;
    float scale;
    float *p; /* softmax probabilities (B, T, S) */
} sdpa_saved;

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
    s->B = (s->T * s->D != 0) ? q->numel / (s->T * s->D) : 0;
    s->scale = 1.0f / sqrtf((float)s->D);
    int64_t shape[MT_MAX_DIMS];
    memcpy(shape, q->shape, sizeof shape);
    shape[n - 1] = s->E;
    mt_tensor *out = mt_tensor_empty(ctx, n, shape);
    s->p = mt_ctx_alloc(ctx, (size_t)(s->B * s->T * s->S + 1) * sizeof(float));
    if (!out || !s->p) return NULL;
    const int64_t T = s->T, S = s->S, D = s->D, E = s->E;
    ctx->flops += 2.0 * (double)(s->B * T * S * (D + E));
#pragma omp parallel for if (s->B * T * S * (D + E) > (1 << 15))
    for (int64_t b = 0; b < s->B; b++) {
        const float *Q = q->data + b * T * D, *K = k->data + b * S * D, *V = v->data + b * S * E;
        float *P = s->p + b * T * S, *O = out->data + b * T * E;
        for (int64_t t = 0; t < T; t++) {
            float *pr = P + t * S, mx = -INFINITY;
            for (int64_t j = 0; j < S; j++) {
                float dot = 0.0f;
                for (int64_t c = 0; c < D; c++) dot += Q[t * D + c] * K[j * D + c];
                pr[j] = dot * s->scale;
                mx = fmaxf(mx, pr[j]);
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < S; j++) sum += pr[j] = expf(pr[j] - mx);
            for (int64_t j = 0; j < S; j++) pr[j] /= sum;
            float *o = O + t * E;
            for (int64_t c = 0; c < E; c++) o[c] = 0.0f;
            for (int64_t j = 0; j < S; j++)
                for (int64_t c = 0; c < E; c++) o[c] += pr[j] * V[j * E + c];
        }
    }
    mt_node *node = mt_record(ctx, MT_OP_SDPA, out, in, 3);
    if (node) node->saved = s;
    return out;
}

void mt_sdpa_backward(mt_ctx *ctx, mt_node *node) {
    mt_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    const sdpa_saved *s = node->saved;
    const int64_t T = s->T, S = s->S, D = s->D, E = s->E;
    bool gq = q->requires_grad && mt_tensor_ensure_grad(ctx, q);
    bool gk = k->requires_grad && mt_tensor_ensure_grad(ctx, k);
    bool gv = v->requires_grad && mt_tensor_ensure_grad(ctx, v);
    float *dS_all = mt_ctx_alloc(ctx, (size_t)(s->B * T * S + 1) * sizeof(float));
    if (!dS_all) return;
    ctx->flops += 4.0 * (double)(s->B * T * S * (D + E));
#pragma omp parallel for if (s->B * T * S * (D + E) > (1 << 15))
    for (int64_t b = 0; b < s->B; b++) {
        const float *Q = q->data + b * T * D, *K = k->data + b * S * D, *V = v->data + b * S * E;
        const float *P = s->p + b * T * S, *dO = node->out->grad + b * T * E;
        float *dS = dS_all + b * T * S;
        for (int64_t t = 0; t < T; t++) {
            /* dP = dO V^T; dS = P (dP - <dP, P>) * scale */
            double dot = 0.0;
            for (int64_t j = 0; j < S; j++) {
                float dp = 0.0f;
                for (int64_t c = 0; c < E; c++) dp += dO[t * E + c] * V[j * E + c];
                dS[t * S + j] = dp;
                dot += (double)dp * P[t * S + j];
            }
            for (int64_t j = 0; j < S; j++) dS[t * S + j] = P[t * S + j] * (dS[t * S + j] - (float)dot) * s->scale;
        }
        if (gv) /* dV = P^T dO */
            for (int64_t j = 0; j < S; j++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t c = 0; c < E; c++) v->grad[b * S * E + j * E + c] += P[t * S + j] * dO[t * E + c];
        if (gq) /* dQ = dS K */
            for (int64_t t = 0; t < T; t++)
                for (int64_t j = 0; j < S; j++)
                    for (int64_t c = 0; c < D; c++) q->grad[b * T * D + t * D + c] += dS[t * S + j] * K[j * D + c];
        if (gk) /* dK = dS^T Q */
            for (int64_t j = 0; j < S; j++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t c = 0; c < D; c++) k->grad[b * S * D + j * D + c] += dS[t * S + j] * Q[t * D + c];
    }
}
