/* Gradient check: for every op in mt_op_table, the backward must agree with central
 * finite differences of L = sum(op(inputs) * W) for a fixed random W. An op that has no
 * case in tests/op_cases.c fails here, so no op ships without a checked backward. */
#include "op_cases.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* L = sum(out * w) in double, for the finite differences. */
static double weighted_sum(const mt_tensor *out, const float *w) {
    double s = 0.0;
    for (int64_t i = 0; i < out->numel; i++) s += (double)out->data[i] * w[i];
    return s;
}

static void fill_inputs(const op_case *c, mt_tensor **in, mt_rng *rng) {
    for (int k = 0; k < c->n_in; k++) {
        in[k] = mt_tensor_new(c->ndim[k], c->shape[k], NULL);
        for (int64_t i = 0; i < in[k]->numel; i++) {
            float v = c->lo + (c->hi - c->lo) * mt_rng_uniform(rng);
            if (c->away_from_zero && fabsf(v) < 0.1f) v = v < 0 ? -0.1f - fabsf(v) : 0.1f + v;
            in[k]->data[i] = v;
        }
        in[k]->requires_grad = op_case_input_grad(c, k);
    }
    /* Max pooling is not differentiable at ties: give it distinct values, spaced well
     * beyond the finite-difference step, in random order. */
    if (strcmp(c->op, "max_pool2d") == 0) {
        int64_t n = in[0]->numel;
        int32_t *order = malloc((size_t)n * sizeof *order);
        for (int64_t i = 0; i < n; i++) order[i] = (int32_t)i;
        mt_rng_shuffle(rng, order, n);
        for (int64_t i = 0; i < n; i++) in[0]->data[i] = -1.0f + 2.0f * (float)order[i] / (float)n;
        free(order);
    }
}

/* Checks one case; returns the number of mismatching gradient entries. */
static int check_case(const op_case *c) {
    mt_rng rng;
    mt_rng_seed(&rng, 1234);
    mt_tensor *in[5] = {0};
    fill_inputs(c, in, &rng);
    int32_t targets[16];
    for (int n = 0; n < 16; n++) targets[n] = (int32_t)mt_rng_below(&rng, 5);
    mt_ctx *ctx = mt_ctx_new();
    int bad = 0;

    mt_tensor *out = c->run(ctx, in, targets);
    if (!out) {
        mt_test_fail(__FILE__, __LINE__, "%s: forward failed: %s", c->name, mt_ctx_error(ctx)->msg);
        bad = 1;
        goto done;
    }
    mt_tensor *w = mt_tensor_empty(ctx, out->ndim, out->shape);
    for (int64_t i = 0; i < w->numel; i++) w->data[i] = mt_rng_uniform(&rng) * 2.0f - 1.0f;
    float *wcopy = malloc((size_t)w->numel * sizeof(float));
    memcpy(wcopy, w->data, (size_t)w->numel * sizeof(float));
    mt_tensor *loss = mt_sum(ctx, mt_mul(ctx, out, w));
    if (!mt_backward(ctx, loss)) {
        mt_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", c->name, mt_ctx_error(ctx)->msg);
        bad = 1;
        free(wcopy);
        goto done;
    }
    const float eps = 1e-3f;
    for (int k = 0; k < c->n_in; k++) {
        if (!in[k]->requires_grad) continue;
        if (!in[k]->grad) {
            mt_test_fail(__FILE__, __LINE__, "%s: input %d got no gradient", c->name, k);
            bad++;
            continue;
        }
        for (int64_t i = 0; i < in[k]->numel; i++) {
            float x0 = in[k]->data[i];
            double f[2];
            for (int side = 0; side < 2; side++) {
                in[k]->data[i] = x0 + (side ? -eps : eps);
                mt_ctx_reset(ctx);
                bool prev = mt_set_grad_enabled(ctx, false);
                mt_tensor *y = c->run(ctx, in, targets);
                f[side] = y ? weighted_sum(y, wcopy) : NAN;
                mt_set_grad_enabled(ctx, prev);
            }
            in[k]->data[i] = x0;
            double numeric = (f[0] - f[1]) / (2.0 * eps);
            double analytic = in[k]->grad[i];
            if (fabs(numeric - analytic) > 2e-3 + 2e-2 * fabs(numeric)) {
                if (bad < 3)
                    mt_test_fail(__FILE__, __LINE__, "%s: d/d in%d[%lld]: analytic %.6g, numeric %.6g",
                                 c->name, k, (long long)i, analytic, numeric);
                bad++;
            }
        }
    }
    free(wcopy);
done:
    mt_ctx_free(ctx);
    for (int k = 0; k < c->n_in; k++) mt_tensor_free(in[k]);
    return bad;
}

MT_TEST(gradcheck_every_op_in_the_table) {
    for (int op = 0; op < mt_op_count; op++) {
        if (!mt_op_table[op].name) continue; /* reported by op_table_rows_are_complete */
        int cases = 0;
        for (int k = 0; k < op_case_count; k++) {
            if (strcmp(op_cases[k].op, mt_op_table[op].name) != 0) continue;
            cases++;
            CHECK_MSG(check_case(&op_cases[k]) == 0, "gradient check failed for case %s", op_cases[k].name);
        }
        CHECK_MSG(cases > 0, "op '%s' has no gradient-check case in tests/op_cases.c", mt_op_table[op].name);
        CHECK_MSG(mt_op_table[op].backward != NULL, "op '%s' has no backward", mt_op_table[op].name);
    }
}

MT_TEST(op_table_rows_are_complete) {
    CHECK(mt_op_count > 0);
    for (int op = 0; op < mt_op_count; op++)
        CHECK_MSG(mt_op_table[op].name && mt_op_table[op].forward && mt_op_table[op].backward,
                  "row %d of mt_op_table is missing its name, forward or backward", op);
}

MT_TEST(gradcheck_cases_name_real_ops) {
    for (int k = 0; k < op_case_count; k++)
        CHECK_MSG(mt_op_find(op_cases[k].op) >= 0, "case %s names unknown op %s", op_cases[k].name, op_cases[k].op);
}
