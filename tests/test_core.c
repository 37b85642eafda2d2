/* The core's contracts: sticky errors, NULL passing through ops, grad mode, gradient
 * accumulation, an arena that stops growing after the first step, and the memory
 * inference and the backward give back as they go. */
#include "mytorch/models.h"
#include "mytorch/ops.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

MT_TEST(errors_are_sticky_and_null_passes_through) {
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *a = mt_tensor_zeros(ctx, 2, (int64_t[]){2, 3});
    mt_tensor *b = mt_tensor_zeros(ctx, 2, (int64_t[]){4, 5});
    CHECK(mt_add(ctx, a, b) == NULL);
    CHECK(mt_ctx_failed(ctx));
    CHECK(strstr(mt_ctx_error(ctx)->msg, "add: shapes (2, 3) and (4, 5) do not broadcast") != NULL);
    /* A later, different failure does not overwrite the first. */
    CHECK(mt_matmul(ctx, a, a) == NULL);
    CHECK(strstr(mt_ctx_error(ctx)->msg, "add:") != NULL);
    /* NULL in, NULL out, and backward refuses. */
    CHECK(mt_relu(ctx, NULL) == NULL);
    CHECK(!mt_backward(ctx, mt_sum(ctx, mt_add(ctx, a, b))));
    mt_ctx_free(ctx);
}

MT_TEST(no_grad_records_nothing) {
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *w = mt_tensor_new(1, (int64_t[]){3}, NULL);
    w->requires_grad = true;
    bool prev = mt_set_grad_enabled(ctx, false);
    CHECK(prev);
    mt_tensor *y = mt_sum(ctx, mt_mul(ctx, w, w));
    CHECK(y && !y->requires_grad && y->node == NULL);
    CHECK(!mt_backward(ctx, y));
    CHECK(strstr(mt_ctx_error(ctx)->msg, "does not require grad") != NULL);
    mt_set_grad_enabled(ctx, prev);
    mt_tensor_free(w);
    mt_ctx_free(ctx);
}

MT_TEST(a_tensor_used_twice_gets_the_sum_of_its_gradients) {
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = mt_tensor_new(1, (int64_t[]){3}, NULL);
    for (int i = 0; i < 3; i++) x->data[i] = (float)(i + 1);
    x->requires_grad = true;
    /* d/dx sum(x * x + relu(x)) = 2x + 1, through two paths that both read x */
    REQUIRE(mt_backward(ctx, mt_sum(ctx, mt_add(ctx, mt_mul(ctx, x, x), mt_relu(ctx, x)))));
    for (int i = 0; i < 3; i++) CHECK_NEAR(x->grad[i], 2.0 * (i + 1) + 1.0, 1e-6);
    /* Gradients accumulate across backward calls until zeroed, as in PyTorch. */
    mt_ctx_reset(ctx);
    REQUIRE(mt_backward(ctx, mt_sum(ctx, x)));
    CHECK_NEAR(x->grad[0], 4.0, 1e-6);
    mt_tensor_zero_grad(x);
    CHECK(x->grad[0] == 0.0f);
    mt_tensor_free(x);
    mt_ctx_free(ctx);
}

/* Backward ops that write every element of a gradient store their first term instead of
 * adding it to a zeroed buffer (mt_tensor_grad_for_write). An arena tensor h read by all
 * of them must still get the sum of their terms: the combined graph, run twice on the
 * same context (so the second run's gradients land on the first run's leftovers), against
 * the sum of one graph per op. A term stored over another, or added onto garbage, fails. */
enum { WRITE_OPS = 6 };
static mt_tensor *write_op(mt_ctx *ctx, int k, mt_tensor *h, mt_tensor *w, mt_tensor *lw) {
    switch (k) {
    case 0: return mt_gelu(ctx, h, false);
    case 1: return mt_dropout(ctx, h, 0.3f, true);
    case 2: return mt_layer_norm(ctx, h, 1, w, NULL, 1e-5f);
    case 3: return mt_linear(ctx, h, lw, NULL);
    case 4: return mt_add(ctx, h, h);
    default: return mt_mul(ctx, mt_sub(ctx, h, w), h); /* broadcast w: accumulates */
    }
}

static void write_ops_grad(int only, mt_ctx *ctx, mt_tensor *x, mt_tensor *w, mt_tensor *lw, float *grad) {
    mt_tensor_zero_grad(x);
    mt_rng_seed(mt_ctx_rng(ctx), 7); /* the same dropout mask in every graph */
    mt_tensor *h = mt_mul_scalar(ctx, x, 1.5f), *loss = NULL;
    for (int k = 0; k < WRITE_OPS; k++) {
        if (only >= 0 && k != only) continue;
        mt_tensor *term = mt_sum(ctx, mt_mul_scalar(ctx, write_op(ctx, k, h, w, lw), (float)(k + 1)));
        loss = loss ? mt_add(ctx, loss, term) : term;
    }
    REQUIRE(mt_backward(ctx, loss));
    memcpy(grad, x->grad, (size_t)x->numel * sizeof(float));
    mt_ctx_reset(ctx);
}

MT_TEST(gradients_written_in_place_of_zeroing_still_sum) {
    mt_rng rng;
    mt_rng_seed(&rng, 4);
    mt_tensor *x = mt_tensor_new(2, (int64_t[]){8, 16}, NULL), *w = mt_tensor_new(1, (int64_t[]){16}, NULL);
    mt_tensor *lw = mt_tensor_new(2, (int64_t[]){8, 16}, NULL);
    REQUIRE(x && w && lw);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = mt_rng_uniform(&rng) - 0.5f;
    for (int64_t i = 0; i < w->numel; i++) w->data[i] = mt_rng_uniform(&rng) + 0.5f;
    for (int64_t i = 0; i < lw->numel; i++) lw->data[i] = mt_rng_uniform(&rng) - 0.5f;
    x->requires_grad = true;
    float all[2][128], sum[128] = {0}, one[128];
    mt_ctx *ctx = mt_ctx_new();
    for (int run = 0; run < 2; run++) write_ops_grad(-1, ctx, x, w, lw, all[run]);
    for (int k = 0; k < WRITE_OPS; k++) {
        write_ops_grad(k, ctx, x, w, lw, one);
        for (int i = 0; i < 128; i++) sum[i] += one[i];
    }
    int bad = 0;
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 128; i++) bad += !(fabsf(all[run][i] - sum[i]) <= 1e-4f + 1e-4f * fabsf(sum[i]));
    CHECK_MSG(bad == 0, "%d gradient entries are not the sum of the ops' terms", bad);
    mt_ctx_free(ctx);
    mt_tensor_free(x);
    mt_tensor_free(w);
    mt_tensor_free(lw);
}

MT_TEST(the_arena_stops_growing_after_the_first_step) {
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = mt_model_lenet(&rng, NULL);
    mt_ctx *ctx = mt_ctx_new();
    int32_t y[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    size_t reserved[4];
    for (int step = 0; step < 4; step++) {
        mt_tensor *x = mt_tensor_zeros(ctx, 4, (int64_t[]){8, 1, 28, 28});
        REQUIRE(mt_backward(ctx, mt_cross_entropy(ctx, mt_module_forward(m, ctx, x), y)));
        mt_ctx_reset(ctx);
        reserved[step] = mt_ctx_arena_bytes(ctx);
    }
    CHECK(reserved[1] > 0);
    CHECK_MSG(reserved[2] == reserved[1] && reserved[3] == reserved[1],
              "arena bytes after steps 2-4: %zu %zu %zu", reserved[1], reserved[2], reserved[3]);
    mt_ctx_free(ctx);
    mt_module_free(m);
}

/* A stack of 12 Linear(256, 256) + ReLU on 512 rows: each activation is 512 KB. */
static mt_module *deep_stack(uint64_t seed) {
    mt_rng rng_, *rng = &rng_;
    mt_rng_seed(rng, seed);
    mt_module *s = mt_sequential_new();
    bool ok = s && mt_sequential_append(s, mt_flatten_new(1, -1));
    for (int k = 0; k < 12 && ok; k++)
        ok = mt_sequential_append(s, mt_linear_new(256, 256, true, rng)) && mt_sequential_append(s, mt_relu_new());
    CHECK(ok);
    return s;
}

static mt_tensor *deep_input(mt_ctx *ctx) {
    mt_tensor *x = mt_tensor_empty(ctx, 3, (int64_t[]){512, 16, 16});
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    return x;
}

MT_TEST(inference_holds_two_activations_not_the_whole_forward) {
    mt_module *m = deep_stack(1);
    REQUIRE(m);
    /* With grad: every activation stays (the backward would need them). */
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *ref = mt_module_forward(m, ctx, deep_input(ctx));
    REQUIRE(ref);
    const int64_t numel = ref->numel;
    float *want = malloc((size_t)numel * sizeof(float));
    REQUIRE(want);
    memcpy(want, ref->data, (size_t)numel * sizeof(float));
    mt_ctx_reset(ctx);
    size_t with_grad = mt_ctx_arena_bytes(ctx);
    mt_ctx_free(ctx);
    /* Without: outputs move down over the dead ones, on a growing arena (the first pass)
     * and on the one chunk of the second; the numbers are the same. */
    ctx = mt_ctx_new();
    mt_set_grad_enabled(ctx, false);
    for (int pass = 0; pass < 2; pass++) {
        mt_tensor *y = mt_module_forward(m, ctx, deep_input(ctx));
        REQUIRE(y && y->numel == numel);
        CHECK_MSG(memcmp(y->data, want, (size_t)y->numel * sizeof(float)) == 0, "pass %d: outputs differ", pass);
        mt_ctx_reset(ctx);
    }
    size_t without = mt_ctx_arena_bytes(ctx);
    /* 25 activations with grad; input + two activations + scratch without. */
    CHECK_MSG(without * 4 < with_grad, "arena with grad %zu bytes, without %zu", with_grad, without);
    free(want);
    mt_ctx_free(ctx);
    mt_module_free(m);
}

MT_TEST(the_backward_reuses_gradients_it_is_done_with) {
    mt_module *m = deep_stack(2);
    REQUIRE(m);
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = deep_input(ctx);
    x->requires_grad = true;
    REQUIRE(mt_module_forward(m, ctx, x));
    mt_ctx_reset(ctx);
    size_t forward = mt_ctx_arena_bytes(ctx);
    x = deep_input(ctx);
    x->requires_grad = true;
    mt_tensor *hidden = mt_module_forward(m, ctx, x);
    mt_tensor *loss = mt_sum(ctx, hidden);
    REQUIRE(mt_backward(ctx, loss));
    /* Leaves keep their gradients; a non-leaf's is given back, as PyTorch keeps none. */
    CHECK(x->grad != NULL && loss->grad != NULL && hidden->grad == NULL);
    double norm = 0.0;
    for (int64_t i = 0; i < x->numel; i++) norm += fabs(x->grad[i]);
    CHECK(norm > 0.0);
    mt_ctx_reset(ctx);
    size_t step = mt_ctx_arena_bytes(ctx);
    /* 25 gradients of 512 KB without reuse; a couple at a time with it. */
    CHECK_MSG(step < forward + forward / 4, "arena: forward %zu bytes, forward + backward %zu", forward, step);
    mt_ctx_free(ctx);
    mt_module_free(m);
}
