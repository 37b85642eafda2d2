/* PyTorch parity: every op, the nn layers, the optimizers and ten FCN training steps give
 * PyTorch 1.13's numbers (fixtures written by tests/fixtures/make_fixtures.py). */
#include "fixture.h"
#include "mytorch/models.h"
#include "mytorch/nn.h"
#include "mytorch/optim.h"
#include "op_cases.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define ATOL 1e-5
#define RTOL 1e-4

/* Runs one op case on the fixture's inputs; compares output and input gradients. */
static bool check_op_case(const op_case *c, const mt_safetensors *st) {
    mt_tensor *in[5] = {0};
    bool ok = true;
    for (int k = 0; k < c->n_in; k++) {
        in[k] = fixture_tensor(fixture_get(st, "%s.in%d", c->name, k));
        if (!in[k]) ok = false;
        else in[k]->requires_grad = op_case_input_grad(c, k);
    }
    int32_t targets[64] = {0};
    char key[128];
    snprintf(key, sizeof key, "%s.target", c->name);
    const mt_st_tensor *tt = mt_safetensors_get(st, key);
    for (int64_t n = 0; tt && n < tt->numel && n < 64; n++) targets[n] = (int32_t)((const float *)tt->data)[n];
    mt_ctx *ctx = mt_ctx_new();
    if (ok) {
        mt_tensor *out = c->run(ctx, in, targets);
        mt_tensor *gout = fixture_tensor(fixture_get(st, "%s.gout", c->name));
        char what[160];
        snprintf(what, sizeof what, "%s forward", c->name);
        ok = out && fixture_close(what, out->data, out->numel, fixture_get(st, "%s.out", c->name), ATOL, RTOL);
        if (ok && gout) {
            /* Backward of sum(out * gout) seeds out's gradient with gout, as out.backward(gout). */
            gout->requires_grad = false;
            ok = mt_backward(ctx, mt_sum(ctx, mt_mul(ctx, out, gout)));
            for (int k = 0; ok && k < c->n_in; k++) {
                if (!in[k]->requires_grad) continue;
                snprintf(what, sizeof what, "%s grad of input %d", c->name, k);
                ok = fixture_close(what, in[k]->grad, in[k]->numel, fixture_get(st, "%s.gin%d", c->name, k), ATOL, RTOL);
            }
        }
        mt_tensor_free(gout);
        if (mt_ctx_failed(ctx)) mt_test_fail(__FILE__, __LINE__, "%s: %s", c->name, mt_ctx_error(ctx)->msg);
    }
    mt_ctx_free(ctx);
    for (int k = 0; k < c->n_in; k++) mt_tensor_free(in[k]);
    return ok;
}

/* Dropout's mask comes from our RNG, not PyTorch's, so it is checked by its definition:
 * each output is 0 or x/(1-p), the gradient follows the same mask, about p are dropped,
 * and evaluation mode is the identity. */
static void check_dropout_semantics(void) {
    const float p = 0.3f;
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = mt_tensor_new(1, (int64_t[]){20000}, NULL);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = 0.5f + (float)(i % 7);
    x->requires_grad = true;
    mt_tensor *y = mt_dropout(ctx, x, p, true);
    REQUIRE(y && y != x);
    REQUIRE(mt_backward(ctx, mt_sum(ctx, y)));
    int64_t dropped = 0, bad = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        float kept = x->data[i] / (1.0f - p);
        if (y->data[i] == 0.0f) {
            dropped++;
            bad += x->grad[i] != 0.0f;
        } else {
            bad += fabsf(y->data[i] - kept) > 1e-6f * kept || fabsf(x->grad[i] - 1.0f / (1.0f - p)) > 1e-6f;
        }
    }
    CHECK(bad == 0);
    CHECK_NEAR((double)dropped / (double)x->numel, p, 0.02);
    CHECK(mt_dropout(ctx, x, p, false) == x);
    mt_ctx_free(ctx);
    mt_tensor_free(x);
}

/* The mask is a hash of (key, index), so it must not change with the thread count, must
 * change from call to call, and must drop about p of every stretch of the tensor (a
 * hash that ignored the index, or the key, fails one of these). */
MT_TEST(dropout_mask_is_the_same_for_any_thread_count) {
    const float p = 0.2f;
    const int64_t n = 1 << 18; /* above the size where the loop goes parallel */
    mt_tensor *x = mt_tensor_new(1, (int64_t[]){n}, NULL);
    REQUIRE(x);
    for (int64_t i = 0; i < n; i++) x->data[i] = 1.0f;
    const int threads = mt_get_num_threads();
    float *first = malloc((size_t)n * sizeof(float));
    REQUIRE(first);
    for (int t = 1; t <= 2; t++) {
        mt_set_num_threads(t);
        mt_ctx *ctx = mt_ctx_new();
        mt_tensor *a = mt_dropout(ctx, x, p, true), *b = mt_dropout(ctx, x, p, true);
        REQUIRE(a && b);
        if (t == 1) memcpy(first, a->data, (size_t)n * sizeof(float));
        else CHECK(memcmp(first, a->data, (size_t)n * sizeof(float)) == 0);
        int64_t same = 0;
        for (int64_t i = 0; i < n; i++) same += a->data[i] == b->data[i];
        CHECK_NEAR((double)same / (double)n, 1.0 - 2.0 * p * (1.0 - p), 0.01); /* independent masks */
        for (int64_t q = 0; q < 4; q++) {
            int64_t dropped = 0;
            for (int64_t i = q * n / 4; i < (q + 1) * n / 4; i++) dropped += a->data[i] == 0.0f;
            CHECK_NEAR((double)dropped / (double)(n / 4), p, 0.01);
        }
        mt_ctx_free(ctx);
    }
    mt_set_num_threads(threads);
    free(first);
    mt_tensor_free(x);
}

MT_TEST(parity_every_op_matches_pytorch) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("ops.safetensors", &st));
    for (int op = 0; op < mt_op_count; op++) {
        if (!mt_op_table[op].name) continue; /* reported by op_table_rows_are_complete */
        int covered = 0;
        for (int k = 0; k < op_case_count; k++) {
            if (strcmp(op_cases[k].op, mt_op_table[op].name) != 0) continue;
            covered++;
            if (strcmp(op_cases[k].op, "dropout") == 0) check_dropout_semantics();
            else check_op_case(&op_cases[k], &st);
        }
        CHECK_MSG(covered > 0, "op '%s' has no PyTorch parity case", mt_op_table[op].name);
    }
    mt_safetensors_free(&st);
}

/* Copies fixture tensors PREFIX.<state_dict key> into m. */
static bool load_prefixed(mt_module *m, const mt_safetensors *st, const char *prefix) {
    mt_state_dict sd = mt_module_state_dict(m);
    bool ok = sd.n > 0;
    for (int k = 0; k < sd.n; k++) {
        const mt_st_tensor *t = fixture_get(st, "%s%s", prefix, sd.items[k].name);
        if (!t || t->numel != sd.items[k].tensor->numel) {
            ok = false;
            continue;
        }
        memcpy(sd.items[k].tensor->data, t->data, (size_t)t->numel * sizeof(float));
    }
    mt_state_dict_free(&sd);
    return ok;
}

MT_TEST(parity_sequential_of_every_layer) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("modules.safetensors", &st));
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    /* nn.Sequential(Flatten, Linear(12,8), LeakyReLU(0.2), Linear(8,6), Sigmoid,
     *               Linear(6,4), Tanh, Linear(4,3), ReLU) */
    mt_module *seq = mt_sequential_new();
    mt_sequential_append(seq, mt_flatten_new(1, -1));
    mt_sequential_append(seq, mt_linear_new(12, 8, true, &rng));
    mt_sequential_append(seq, mt_leaky_relu_new(0.2f));
    mt_sequential_append(seq, mt_linear_new(8, 6, true, &rng));
    mt_sequential_append(seq, mt_sigmoid_new());
    mt_sequential_append(seq, mt_linear_new(6, 4, true, &rng));
    mt_sequential_append(seq, mt_tanh_new());
    mt_sequential_append(seq, mt_linear_new(4, 3, true, &rng));
    mt_sequential_append(seq, mt_relu_new());
    REQUIRE(load_prefixed(seq, &st, "seq."));

    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = fixture_tensor(fixture_get(&st, "seq.x"));
    mt_tensor *gout = fixture_tensor(fixture_get(&st, "seq.gout"));
    REQUIRE(x && gout);
    x->requires_grad = true;
    mt_tensor *out = mt_module_forward(seq, ctx, x);
    REQUIRE(out);
    CHECK(fixture_close("Sequential forward", out->data, out->numel, fixture_get(&st, "seq.out"), ATOL, RTOL));
    CHECK(mt_backward(ctx, mt_sum(ctx, mt_mul(ctx, out, gout))));
    CHECK(fixture_close("Sequential grad of x", x->grad, x->numel, fixture_get(&st, "seq.gx"), ATOL, RTOL));
    mt_state_dict params = mt_module_named_parameters(seq);
    CHECK(params.n == 8);
    for (int k = 0; k < params.n; k++) {
        char what[96];
        snprintf(what, sizeof what, "grad of %s", params.items[k].name);
        CHECK(fixture_close(what, params.items[k].tensor->grad, params.items[k].tensor->numel,
                            fixture_get(&st, "seq.grad.%s", params.items[k].name), ATOL, RTOL));
    }
    mt_state_dict_free(&params);
    mt_tensor_free(x);
    mt_tensor_free(gout);
    mt_ctx_free(ctx);
    mt_module_free(seq);
    mt_safetensors_free(&st);
}

MT_TEST(linear_init_follows_pytorch_default) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("modules.safetensors", &st));
    const mt_st_tensor *bound_t = fixture_get(&st, "init.linear.weight_bound");
    const mt_st_tensor *std_t = fixture_get(&st, "init.linear.weight_std");
    REQUIRE(bound_t && std_t);
    float bound = *(const float *)bound_t->data, want_std = *(const float *)std_t->data;
    mt_rng rng;
    mt_rng_seed(&rng, 7);
    mt_module *lin = mt_linear_new(784, 128, true, &rng);
    mt_tensor *w = mt_module_param(lin, "weight"), *b = mt_module_param(lin, "bias");
    CHECK(w->shape[0] == 128 && w->shape[1] == 784 && b->shape[0] == 128);
    double sum = 0.0, sq = 0.0, maxabs = 0.0;
    for (int64_t i = 0; i < w->numel; i++) {
        sum += w->data[i];
        sq += (double)w->data[i] * w->data[i];
        if (fabs(w->data[i]) > maxabs) maxabs = fabs(w->data[i]);
    }
    for (int64_t i = 0; i < b->numel; i++) CHECK(fabsf(b->data[i]) <= bound);
    double mean = sum / (double)w->numel, sd = sqrt(sq / (double)w->numel - mean * mean);
    CHECK(maxabs <= bound);
    CHECK(maxabs > 0.99 * bound);
    CHECK_NEAR(mean, 0.0, 0.02 * bound);
    CHECK_NEAR(sd, want_std, 0.02 * want_std);
    mt_module_free(lin);
    mt_safetensors_free(&st);
}

/* "optimizer=sgd lr=0.1 momentum=0.9 ..." -> config; false if a field is unknown. */
static bool parse_hparams(const char *s, mt_optim_config *cfg) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    bool ok = true;
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (!eq) return false;
        *eq = '\0';
        const char *v = eq + 1;
        double x = atof(v);
        if (strcmp(tok, "optimizer") == 0) {
            mt_optim_kind kind;
            ok = ok && mt_optim_parse(v, &kind);
            *cfg = mt_optim_defaults(kind);
        } else if (strcmp(tok, "lr") == 0) cfg->lr = x;
        else if (strcmp(tok, "momentum") == 0) cfg->momentum = x;
        else if (strcmp(tok, "dampening") == 0) cfg->dampening = x;
        else if (strcmp(tok, "weight_decay") == 0) cfg->weight_decay = x;
        else if (strcmp(tok, "nesterov") == 0) cfg->nesterov = x != 0.0;
        else if (strcmp(tok, "beta1") == 0) cfg->beta1 = x;
        else if (strcmp(tok, "beta2") == 0) cfg->beta2 = x;
        else if (strcmp(tok, "eps") == 0) cfg->eps = x;
        else if (strcmp(tok, "amsgrad") == 0) ok = ok && x == 0.0;
        else ok = false;
    }
    return ok;
}

MT_TEST(parity_optimizers_step_by_step) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("optim.safetensors", &st));
    int configs = 0;
    for (int m = 0; m < st.n_meta; m++) {
        const char *name = st.meta_keys[m];
        if (strcmp(name, "generator") == 0 || strcmp(name, "torch") == 0) continue;
        mt_optim_config cfg;
        CHECK_MSG(parse_hparams(st.meta_values[m], &cfg), "cannot parse %s", st.meta_values[m]);
        mt_tensor *p = fixture_tensor(fixture_get(&st, "%s.init", name));
        REQUIRE(p);
        p->requires_grad = true;
        mt_error err = {0};
        mt_optimizer *opt = mt_optimizer_new(&p, 1, cfg, &err);
        REQUIRE(opt);
        p->grad = calloc((size_t)p->numel, sizeof(float));
        for (int t = 0; t < 10; t++) {
            const mt_st_tensor *g = fixture_get(&st, "%s.grad.%d", name, t);
            if (!g) break;
            memcpy(p->grad, g->data, (size_t)p->numel * sizeof(float));
            mt_optimizer_step(opt);
            char what[96];
            snprintf(what, sizeof what, "%s after step %d", name, t);
            CHECK(fixture_close(what, p->data, p->numel, fixture_get(&st, "%s.after.%d", name, t), 1e-6, 1e-5));
        }
        mt_optimizer_free(opt);
        mt_tensor_free(p);
        configs++;
    }
    CHECK(configs == 7);
    mt_safetensors_free(&st);
}

/* Ten steps of the report's FCN from the fixture's initial weights, with SGD (the
 * report's recipe) or Adam: every loss and the final weights match PyTorch. */
static void fcn_ten_steps(const char *tag) {
    mt_safetensors st = {0};
    if (!fixture_open("fcn_steps.safetensors", &st)) return;
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *fcn = mt_model_fcn(&rng, NULL);
    mt_state_dict sd = mt_module_state_dict(fcn);
    mt_tensor *params[6];
    REQUIRE(sd.n == 6);
    /* The initial weights, as the fixture script computes them:
     * value[i] = sin(0.37 i + p) / sqrt(fan_in) for the p-th state-dict tensor. */
    for (int p = 0; p < sd.n; p++) {
        mt_tensor *t = sd.items[p].tensor;
        double fan_in = (double)(p % 2 == 0 ? t->shape[1] : sd.items[p - 1].tensor->shape[1]);
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)(sin(0.37 * (double)i + p) / sqrt(fan_in));
        params[p] = t;
    }
    mt_optim_config cfg;
    REQUIRE(parse_hparams(mt_safetensors_meta(&st, tag), &cfg));
    mt_error err = {0};
    mt_optimizer *opt = mt_optimizer_new(params, 6, cfg, &err);
    mt_ctx *ctx = mt_ctx_new();
    const mt_st_tensor *losses = fixture_get(&st, "%s.loss", tag);
    REQUIRE(opt && losses);
    for (int t = 0; t < 10; t++) {
        const mt_st_tensor *xt = fixture_get(&st, "x.%d", t), *yt = fixture_get(&st, "y.%d", t);
        REQUIRE(xt && yt);
        int32_t y[8];
        for (int n = 0; n < 8; n++) y[n] = (int32_t)((const float *)yt->data)[n];
        mt_ctx_reset(ctx);
        mt_tensor *x = mt_tensor_from(ctx, xt->ndim, xt->shape, xt->data);
        mt_tensor *loss = mt_cross_entropy(ctx, mt_module_forward(fcn, ctx, x), y);
        REQUIRE(loss && mt_backward(ctx, loss));
        CHECK_NEAR(loss->data[0], ((const float *)losses->data)[t], 1e-5);
        mt_optimizer_step(opt);
        mt_optimizer_zero_grad(opt);
    }
    for (int p = 0; p < sd.n; p++) {
        char what[96];
        snprintf(what, sizeof what, "%s: %s after 10 steps", tag, sd.items[p].name);
        const mt_st_tensor *want = p == 0 ? fixture_get(&st, "%s.final.fc1.weight.rows0_32", tag)
                                          : fixture_get(&st, "%s.final.%s", tag, sd.items[p].name);
        int64_t n = p == 0 ? 32 * 784 : sd.items[p].tensor->numel;
        CHECK(fixture_close(what, sd.items[p].tensor->data, n, want, 2e-5, 1e-4));
    }
    mt_ctx_free(ctx);
    mt_optimizer_free(opt);
    mt_state_dict_free(&sd);
    mt_module_free(fcn);
    mt_safetensors_free(&st);
}

MT_TEST(parity_fcn_ten_sgd_steps) { fcn_ten_steps("sgd"); }
MT_TEST(parity_fcn_ten_adam_steps) { fcn_ten_steps("adam"); }
