/* The core's contracts: sticky errors, NULL passing through ops, grad mode, gradient
 * accumulation, and an arena that stops growing after the first step. */
#include "mytorch/models.h"
#include "mytorch/ops.h"
#include "test.h"

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
