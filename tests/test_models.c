/* PyTorch parity of whole models: the report's models give PyTorch 1.13's state-dict
 * names, logits, loss, gradients and BatchNorm running statistics for one training
 * step, and its evaluation logits afterwards (fixtures: tests/fixtures/models.safetensors,
 * written by make_fixtures.py's make_models). Also their parameter counts and a
 * checkpoint round trip. */
#include "fixture.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "mytorch/optim.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GRAD_KEEP 2048 /* the fixture keeps the first 2048 values of longer gradients */

typedef struct {
    const char *variant; /* fixture prefix */
    mt_module *(*build)(mt_rng *rng, const mt_model_options *opt);
    mt_model_options opt;
} model_case;

/* The report's ViT without dropout (a train step with dropout depends on the RNG). */
static const mt_vit_config vit_p0 = {.depth = 6, .width = 64, .heads = 8, .mlp = 128, .patch = 7, .dropout = 0.0f};

static const model_case model_cases[] = {
    {"fcn", mt_model_fcn, {0}},
    {"cnn1", mt_model_cnn1, {0}},
    {"cnn2_leaky", mt_model_cnn2, {.activation = "leaky_relu"}},
    {"cnn2_relu", mt_model_cnn2, {.activation = "relu"}},
    {"lenet", mt_model_lenet, {0}},
    {"resnet8", mt_model_resnet8, {0}},
    {"vit_p0", mt_model_vit, {.vit = &vit_p0}},
};

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The fixture script's deterministic state: the p-th state-dict entry (p counts every
 * key, num_batches_tracked included) gets, with s = sin(0.37 i + p) over its flattened
 * index i, 0.5 s / sqrt(numel / shape[0]) when it has two or more dims, 1 + 0.5 s^2 when
 * it is a running_var, and 0.1 s otherwise; num_batches_tracked is 0. */
static void set_formula_state(const mt_state_dict *sd) {
    for (int p = 0; p < sd->n; p++) {
        mt_tensor *t = sd->items[p].tensor;
        if (!t) {
            *sd->items[p].i64 = 0;
            continue;
        }
        bool var = ends_with(sd->items[p].name, "running_var");
        for (int64_t i = 0; i < t->numel; i++) {
            double s = sin(0.37 * (double)i + p);
            double v = t->ndim >= 2 ? 0.5 * s / sqrt((double)(t->numel / t->shape[0])) : var ? 1.0 + 0.5 * s * s : 0.1 * s;
            t->data[i] = (float)v;
        }
    }
}

/* True when the state dict's names, in order, are the space-separated list keys. */
static bool same_keys(const char *variant, const mt_state_dict *sd, const char *keys) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", keys ? keys : "");
    int k = 0;
    bool ok = true;
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "), k++) {
        if (k >= sd->n) {
            mt_test_fail(__FILE__, __LINE__, "%s: PyTorch has state-dict key '%s' beyond our %d", variant, tok, sd->n);
            return false;
        }
        if (strcmp(tok, sd->items[k].name) != 0) {
            mt_test_fail(__FILE__, __LINE__, "%s: state-dict key %d is '%s', PyTorch's is '%s'", variant, k,
                         sd->items[k].name, tok);
            ok = false;
        }
    }
    if (k != sd->n) {
        mt_test_fail(__FILE__, __LINE__, "%s: %d state-dict keys, PyTorch has %d", variant, sd->n, k);
        ok = false;
    }
    return ok;
}

/* One training step (forward, loss, backward, no update) and an evaluation forward of
 * one model, compared with PyTorch's. */
/* Compares every parameter's grad (grads) or value against the fixture's VARIANT.KIND.NAME,
 * or its first GRAD_KEEP values (VARIANT.KIND.NAME.first2048) for larger tensors. */
static void compare_params(const char *variant, const mt_safetensors *st, const mt_state_dict *params,
                           const char *kind, bool grads, double atol, double rtol) {
    for (int k = 0; k < params->n; k++) {
        const mt_tensor *t = params->items[k].tensor;
        const char *name = params->items[k].name;
        bool cut = t->numel > GRAD_KEEP;
        char what[192];
        snprintf(what, sizeof what, "%s %s of %s", variant, kind, name);
        CHECK(fixture_close(what, grads ? t->grad : t->data, cut ? GRAD_KEEP : t->numel,
                            cut ? fixture_get(st, "%s.%s.%s.first%d", variant, kind, name, GRAD_KEEP)
                                : fixture_get(st, "%s.%s.%s", variant, kind, name),
                            atol, rtol));
    }
}

static void check_model(const model_case *c, const mt_safetensors *st) {
    /* Only summation order differs from PyTorch; measured, every value here (logits,
     * loss, gradients, running statistics, all six models) is within 3e-7 of PyTorch's.
     * Logits are ~0.2 and gradients ~1e-3, so gradients get their own, smaller atol:
     * 1e-4 would let a 10% error in a gradient through. */
    const double atol = 1e-5, grad_atol = 2e-6, rtol = 1e-4;
    char what[192];
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = c->build(&rng, &c->opt);
    if (!m) {
        mt_test_fail(__FILE__, __LINE__, "%s: the model could not be built", c->variant);
        return;
    }
    mt_state_dict sd = mt_module_state_dict(m);
    mt_ctx *ctx = mt_ctx_new();
    const mt_st_tensor *xt = fixture_get(st, "%s.x", c->variant), *yt = fixture_get(st, "%s.y", c->variant);
    if (!xt || !yt || !same_keys(c->variant, &sd, mt_safetensors_meta(st, c->variant))) goto done;
    set_formula_state(&sd);

    int32_t y[4];
    for (int n = 0; n < 4; n++) y[n] = (int32_t)((const float *)yt->data)[n];
    mt_module_train(m, true);
    mt_tensor *x = mt_tensor_from(ctx, xt->ndim, xt->shape, xt->data);
    mt_tensor *logits = mt_module_forward(m, ctx, x);
    mt_tensor *loss = mt_cross_entropy(ctx, logits, y);
    if (!loss || !mt_backward(ctx, loss)) {
        mt_test_fail(__FILE__, __LINE__, "%s: training step failed: %s", c->variant, mt_ctx_error(ctx)->msg);
        goto done;
    }
    snprintf(what, sizeof what, "%s training logits", c->variant);
    CHECK(fixture_close(what, logits->data, logits->numel, fixture_get(st, "%s.train_logits", c->variant), atol, rtol));
    snprintf(what, sizeof what, "%s loss", c->variant);
    CHECK(fixture_close(what, loss->data, 1, fixture_get(st, "%s.loss", c->variant), atol, rtol));

    mt_state_dict params = mt_module_named_parameters(m);
    compare_params(c->variant, st, &params, "grad", true, grad_atol, rtol);
    mt_state_dict_free(&params);

    /* BatchNorm's buffers after the step: running statistics and the batch count. */
    for (int k = 0; k < sd.n; k++) {
        const mt_member *e = &sd.items[k];
        snprintf(what, sizeof what, "%s %s after the step", c->variant, e->name);
        if (!e->tensor) {
            float count = (float)*e->i64;
            CHECK(fixture_close(what, &count, 1, fixture_get(st, "%s.after.%s", c->variant, e->name), 0, 0));
        } else if (ends_with(e->name, "running_mean") || ends_with(e->name, "running_var")) {
            CHECK(fixture_close(what, e->tensor->data, e->tensor->numel,
                                fixture_get(st, "%s.after.%s", c->variant, e->name), atol, rtol));
        }
    }

    mt_ctx_reset(ctx);
    mt_module_train(m, false);
    mt_set_grad_enabled(ctx, false);
    logits = mt_module_forward(m, ctx, mt_tensor_from(ctx, xt->ndim, xt->shape, xt->data));
    snprintf(what, sizeof what, "%s evaluation logits", c->variant);
    CHECK(logits && !logits->requires_grad);
    if (logits)
        CHECK(fixture_close(what, logits->data, logits->numel, fixture_get(st, "%s.eval_logits", c->variant), atol, rtol));

    /* The ViT's recipe step: Adam(lr=1e-3) on these gradients gives PyTorch's weights. */
    params = mt_module_named_parameters(m);
    char key[160];
    snprintf(key, sizeof key, "%s.adam.%s", c->variant, params.n ? params.items[0].name : "");
    if (params.n && mt_safetensors_get(st, key)) {
        mt_tensor *ptrs[256];
        REQUIRE(params.n <= 256);
        for (int k = 0; k < params.n; k++) ptrs[k] = params.items[k].tensor;
        mt_optim_config cfg = mt_optim_defaults(MT_OPTIM_ADAM);
        mt_optimizer *opt = mt_optimizer_new(ptrs, params.n, cfg, NULL);
        mt_optimizer_step(opt);
        compare_params(c->variant, st, &params, "adam", false, atol, rtol);
        mt_optimizer_free(opt);
    }
    mt_state_dict_free(&params);

done:
    if (mt_ctx_failed(ctx)) mt_test_fail(__FILE__, __LINE__, "%s: %s", c->variant, mt_ctx_error(ctx)->msg);
    mt_ctx_free(ctx);
    mt_state_dict_free(&sd);
    mt_module_free(m);
}

MT_TEST(models_match_pytorch_train_step_and_eval) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("models.safetensors", &st));
    for (size_t k = 0; k < sizeof model_cases / sizeof model_cases[0]; k++) check_model(&model_cases[k], &st);
    mt_safetensors_free(&st);
}

MT_TEST(models_have_the_reports_parameter_counts) {
    /* The counts PyTorch reports: sum(p.numel() for p in model.parameters()). */
    static const struct {
        const char *name;
        int64_t params;
    } want[] = {{"fcn", 109386}, {"cnn1", 3870}, {"cnn2", 50826}, {"lenet", 61750}, {"resnet8", 98346}, {"vit", 205962}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const mt_model_info *info = mt_model_find(want[k].name);
        CHECK_MSG(info, "no model '%s'", want[k].name);
        if (!info) continue;
        mt_rng rng;
        mt_rng_seed(&rng, 0);
        mt_module *m = info->build(&rng, NULL);
        CHECK_MSG(m && mt_module_num_params(m) == want[k].params, "%s: %lld parameters, PyTorch has %lld",
                  want[k].name, m ? (long long)mt_module_num_params(m) : -1LL, (long long)want[k].params);
        mt_module_free(m);
    }
    /* The ablation: LeNet without norm1/norm2 (their weights and biases, 2 * (6 + 16)). */
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = mt_model_lenet(&rng, &(mt_model_options){.no_batchnorm = true});
    REQUIRE(m);
    CHECK(mt_module_num_params(m) == 61706);
    mt_state_dict sd = mt_module_state_dict(m);
    CHECK(sd.n == 10);
    for (int k = 0; k < sd.n; k++) CHECK_MSG(!strstr(sd.items[k].name, "norm"), "unexpected key %s", sd.items[k].name);
    mt_state_dict_free(&sd);
    mt_module_free(m);
}

MT_TEST(models_checkpoint_round_trips) {
    mt_rng rng;
    mt_rng_seed(&rng, 1);
    mt_module *a = mt_model_lenet(&rng, NULL);
    mt_module *b = mt_model_lenet(&rng, NULL); /* different weights: rng moved on */
    REQUIRE(a && b);
    /* Give the BatchNorm buffers values a fresh model does not have. */
    mt_state_dict sa = mt_module_state_dict(a);
    for (int k = 0; k < sa.n; k++) {
        if (sa.items[k].i64) *sa.items[k].i64 = 1000 + k;
        else if (!sa.items[k].tensor->requires_grad)
            for (int64_t i = 0; i < sa.items[k].tensor->numel; i++) sa.items[k].tensor->data[i] = 0.5f + 0.01f * (float)i;
    }

    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/mt_models_XXXXXX");
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/lenet.safetensors", dir);
    mt_error err = {0};
    const char *keys[] = {"model"}, *values[] = {"lenet"};
    CHECK_MSG(mt_checkpoint_save(a, path, keys, values, 1, &err) == MT_OK, "%s", err.msg);
    mt_safetensors st = {0};
    CHECK_MSG(mt_safetensors_read(path, &st, &err) == MT_OK, "%s", err.msg);
    const mt_st_tensor *count = mt_safetensors_get(&st, "norm1.num_batches_tracked");
    CHECK(count && count->dtype == MT_DTYPE_I64 && count->ndim == 0); /* as PyTorch writes it */
    const char *model = mt_safetensors_meta(&st, "model");
    CHECK(model && strcmp(model, "lenet") == 0);
    CHECK_MSG(mt_module_load_state_dict(b, &st, true, &err) == MT_OK, "%s", err.msg);

    mt_state_dict sb = mt_module_state_dict(b);
    CHECK(sa.n == sb.n && sa.n == 20);
    for (int k = 0; k < sa.n && k < sb.n; k++) {
        const mt_member *x = &sa.items[k], *y = &sb.items[k];
        CHECK(strcmp(x->name, y->name) == 0);
        if (x->i64) CHECK_MSG(y->i64 && *y->i64 == *x->i64, "%s differs after the round trip", x->name);
        else CHECK_MSG(y->tensor && mt_same_shape(x->tensor, y->tensor) &&
                           memcmp(x->tensor->data, y->tensor->data, (size_t)x->tensor->numel * sizeof(float)) == 0,
                       "%s differs after the round trip", x->name);
    }
    mt_state_dict_free(&sb);
    mt_safetensors_free(&st);
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);
    mt_state_dict_free(&sa);
    mt_module_free(a);
    mt_module_free(b);
}

/* mt_conv2d_bn_eval, the inference pass that folds BatchNorm's running statistics into
 * the convolution, against conv2d, batch_norm and relu one after the other: every way
 * the forward can go (stride 1 and 2 on the padded phases, a geometry that takes im2col,
 * groups, no bias), without and with the ReLU, and with a residual added before it
 * (mt_conv2d_bn_add_relu_eval). Close to the separate ops (float rounding apart), and bit
 * for bit conv2d with the weight and bias folded as ops.h says, then add and relu, which
 * shows the folded path ran. */
static mt_tensor *conv_bn_input(mt_ctx *ctx, const int64_t *shape) {
    mt_tensor *x = mt_tensor_empty(ctx, 4, shape);
    if (x)
        for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    return x;
}

MT_TEST(conv_bn_relu_in_one_pass_matches_the_three_ops) {
    const struct {
        int64_t N, C, H, W, O, K;
        int stride, pad, groups;
        bool bias;
    } cases[] = {{3, 4, 9, 9, 6, 3, 1, 1, 1, true},
                 {3, 4, 9, 10, 6, 3, 2, 1, 1, false},
                 {2, 2, 3, 3, 5, 3, 1, 0, 1, true}, /* OW = 1 of WP = 3: im2col */
                 {2, 4, 6, 6, 6, 3, 1, 1, 2, true}};
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = 0; mode < 3; mode++) { /* plain, ReLU, residual add + ReLU */
            const bool relu = mode > 0;
            const int64_t O = cases[c].O, K = cases[c].C / cases[c].groups * cases[c].K * cases[c].K;
            mt_ctx *ctx = mt_ctx_new();
            mt_set_grad_enabled(ctx, false);
            mt_tensor *w = mt_tensor_empty(ctx, 4, (int64_t[]){O, cases[c].C / cases[c].groups, cases[c].K, cases[c].K});
            mt_tensor *wf = mt_tensor_empty(ctx, 4, w ? w->shape : (int64_t[]){1, 1, 1, 1});
            mt_tensor *b = mt_tensor_zeros(ctx, 1, (int64_t[]){O}), *bf = mt_tensor_zeros(ctx, 1, (int64_t[]){O});
            mt_tensor *st[4];
            for (int k = 0; k < 4; k++) st[k] = mt_tensor_empty(ctx, 1, (int64_t[]){O});
            REQUIRE(w && wf && b && bf && st[0] && st[1] && st[2] && st[3]);
            for (int64_t i = 0; i < w->numel; i++) w->data[i] = mt_rng_uniform(&rng) - 0.5f;
            for (int64_t o = 0; o < O; o++) {
                if (cases[c].bias) b->data[o] = mt_rng_uniform(&rng) - 0.5f;
                st[0]->data[o] = 0.5f + mt_rng_uniform(&rng);  /* weight */
                st[1]->data[o] = mt_rng_uniform(&rng) - 0.5f;  /* bias */
                st[2]->data[o] = mt_rng_uniform(&rng) - 0.5f;  /* running_mean */
                st[3]->data[o] = 0.25f + mt_rng_uniform(&rng); /* running_var */
                /* The fold: batch_norm's scale and shift, applied to the weight and bias. */
                const float scale = (float)(1.0 / sqrt((double)st[3]->data[o] + 1e-5)) * st[0]->data[o];
                const float shift = st[1]->data[o] - st[2]->data[o] * scale;
                for (int64_t k = 0; k < K; k++) wf->data[o * K + k] = w->data[o * K + k] * scale;
                bf->data[o] = b->data[o] * scale + shift;
            }
            mt_tensor *bias = cases[c].bias ? b : NULL;
            const mt_conv2d_params p = {.stride = {cases[c].stride, cases[c].stride},
                                        .padding = {cases[c].pad, cases[c].pad}, .groups = cases[c].groups};
            const mt_batch_norm_params bn = {.running_mean = st[2], .running_var = st[3], .eps = 1e-5};
            const int64_t xs[4] = {cases[c].N, cases[c].C, cases[c].H, cases[c].W};
            mt_tensor *three = mt_batch_norm(ctx, mt_conv2d(ctx, conv_bn_input(ctx, xs), w, bias, p), st[0], st[1], bn);
            mt_tensor *folded = mt_conv2d(ctx, conv_bn_input(ctx, xs), wf, bf, p);
            REQUIRE(three);
            mt_tensor *res = mode == 2 ? conv_bn_input(ctx, three->shape) : NULL, *got;
            if (res) {
                for (int64_t i = 0; i < res->numel; i++) res->data[i] *= 0.75f; /* not the input's pattern */
                got = mt_conv2d_bn_add_relu_eval(ctx, conv_bn_input(ctx, xs), w, bias, p, st[0], st[1], bn, res);
                three = mt_add(ctx, three, res);
                folded = mt_add(ctx, folded, res);
            } else {
                got = mt_conv2d_bn_eval(ctx, conv_bn_input(ctx, xs), w, bias, p, st[0], st[1], bn, relu);
            }
            if (relu) {
                three = mt_relu(ctx, three);
                folded = mt_relu(ctx, folded);
            }
            REQUIRE(got && three && folded && got->numel == three->numel);
            int far = 0;
            for (int64_t i = 0; i < got->numel; i++)
                far += !(fabsf(got->data[i] - three->data[i]) <= 1e-5f + 1e-5f * fabsf(three->data[i]));
            CHECK_MSG(far == 0, "case %zu mode %d: %d values differ from the separate ops", c, mode, far);
            CHECK_MSG(memcmp(got->data, folded->data, (size_t)got->numel * sizeof(float)) == 0,
                      "case %zu mode %d: not conv2d with the folded weight and bias", c, mode);
            mt_ctx_free(ctx);
        }
}

/* The pair tests' convolutions (3x3, padding 1): at stride 2 (resnet8's blocks 2 and
 * 3), at stride 1 on the padded grid, and where one arm would take Winograd. */
typedef struct {
    int64_t N, C, H, W, Oa, Ob;
    int stride;
} pair_case;
static const pair_case pair_cases[] = {
    {3, 4, 9, 10, 6, 5, 2}, {2, 16, 28, 28, 32, 32, 2}, {2, 3, 7, 7, 4, 8, 1}, {2, 16, 14, 14, 16, 16, 1}};
#define PAIR_CASES (sizeof pair_cases / sizeof pair_cases[0])

/* One arm of mt_conv2d_bn_pair_eval: a random conv weight (O, C, k, k), bias when asked,
 * and BatchNorm weight, bias and running statistics. */
static mt_conv_bn_eval_arm pair_arm(mt_ctx *ctx, mt_rng *rng, int64_t O, int64_t C, int64_t k, bool bias, bool relu) {
    mt_conv_bn_eval_arm a = {.weight = mt_tensor_empty(ctx, 4, (int64_t[]){O, C, k, k}),
                             .bias = bias ? mt_tensor_empty(ctx, 1, (int64_t[]){O}) : NULL,
                             .bn_weight = mt_tensor_empty(ctx, 1, (int64_t[]){O}),
                             .bn_bias = mt_tensor_empty(ctx, 1, (int64_t[]){O}),
                             .bn = {.running_mean = mt_tensor_empty(ctx, 1, (int64_t[]){O}),
                                    .running_var = mt_tensor_empty(ctx, 1, (int64_t[]){O}), .eps = 1e-5},
                             .relu = relu};
    if (!a.weight || (bias && !a.bias) || !a.bn_weight || !a.bn_bias || !a.bn.running_mean || !a.bn.running_var)
        return (mt_conv_bn_eval_arm){0};
    for (int64_t i = 0; i < a.weight->numel; i++) a.weight->data[i] = mt_rng_uniform(rng) - 0.5f;
    for (int64_t o = 0; o < O; o++) {
        if (bias) a.bias->data[o] = mt_rng_uniform(rng) - 0.5f;
        a.bn_weight->data[o] = 0.5f + mt_rng_uniform(rng);
        a.bn_bias->data[o] = mt_rng_uniform(rng) - 0.5f;
        a.bn.running_mean->data[o] = mt_rng_uniform(rng) - 0.5f;
        a.bn.running_var->data[o] = 0.25f + mt_rng_uniform(rng);
    }
    return a;
}

/* mt_conv2d_bn_pair_eval, two folded convolutions of one input made as one (a residual
 * block's conv1 and projection shortcut in inference), gives each arm exactly what its own
 * mt_conv2d_bn_eval gives: at stride 2 (resnet8's blocks 2 and 3), at stride 1 on the
 * padded grid, and where one arm would take Winograd (then it is the two calls). The
 * first arm with its ReLU, the second without (and with a bias), and the other way round. */
MT_TEST(conv_bn_pair_matches_two_conv_bn_evals) {
    const pair_case *cases = pair_cases;
    mt_rng rng;
    mt_rng_seed(&rng, 12);
    for (size_t c = 0; c < PAIR_CASES; c++)
        for (int flip = 0; flip < 2; flip++) {
            mt_ctx *ctx = mt_ctx_new();
            mt_set_grad_enabled(ctx, false);
            const mt_conv_bn_eval_arm a = pair_arm(ctx, &rng, cases[c].Oa, cases[c].C, 3, flip, !flip);
            const mt_conv_bn_eval_arm b = pair_arm(ctx, &rng, cases[c].Ob, cases[c].C, 3, !flip, flip);
            REQUIRE(a.weight && b.weight);
            const mt_conv2d_params p = {.stride = {cases[c].stride, cases[c].stride}, .padding = {1, 1}};
            mt_tensor *x = conv_bn_input(ctx, (int64_t[]){cases[c].N, cases[c].C, cases[c].H, cases[c].W});
            mt_tensor *yb = NULL, *ya = mt_conv2d_bn_pair_eval(ctx, x, p, &a, &b, &yb);
            mt_tensor *wa = mt_conv2d_bn_eval(ctx, x, a.weight, a.bias, p, a.bn_weight, a.bn_bias, a.bn, a.relu);
            mt_tensor *wb = mt_conv2d_bn_eval(ctx, x, b.weight, b.bias, p, b.bn_weight, b.bn_bias, b.bn, b.relu);
            REQUIRE(ya && yb && wa && wb);
            CHECK_MSG(mt_same_shape(ya, wa) && memcmp(ya->data, wa->data, (size_t)wa->numel * sizeof(float)) == 0,
                      "case %zu flip %d: the first arm differs from its own conv2d_bn_eval", c, flip);
            CHECK_MSG(mt_same_shape(yb, wb) && memcmp(yb->data, wb->data, (size_t)wb->numel * sizeof(float)) == 0,
                      "case %zu flip %d: the second arm differs from its own conv2d_bn_eval", c, flip);
            mt_ctx_free(ctx);
        }
    /* Bad input: a missing out_b or arm is an error, not a crash. */
    mt_ctx *ctx = mt_ctx_new();
    mt_tensor *x = conv_bn_input(ctx, (int64_t[]){1, 1, 4, 4}), *yb = x;
    CHECK(mt_conv2d_bn_pair_eval(ctx, x, (mt_conv2d_params){0}, NULL, NULL, &yb) == NULL && yb == NULL);
    CHECK(mt_ctx_failed(ctx));
    mt_ctx_free(ctx);
}

/* mt_conv2d_pair, the training forward of two convolutions of one input as one product:
 * each output, and every gradient (x's, both weights' and biases') of a loss over both,
 * bit for bit what two mt_conv2d give, on the paths of the eval pair test above. */
MT_TEST(conv2d_pair_matches_two_conv2d_with_gradients) {
    const pair_case *cases = pair_cases;
    mt_rng rng;
    mt_rng_seed(&rng, 13);
    for (size_t c = 0; c < PAIR_CASES; c++) {
        mt_error err;
        const int64_t xs[4] = {cases[c].N, cases[c].C, cases[c].H, cases[c].W};
        mt_tensor *x = mt_tensor_new(4, xs, &err);
        mt_tensor *wa = mt_tensor_new(4, (int64_t[]){cases[c].Oa, cases[c].C, 3, 3}, &err);
        mt_tensor *wb = mt_tensor_new(4, (int64_t[]){cases[c].Ob, cases[c].C, 3, 3}, &err);
        mt_tensor *bb = mt_tensor_new(1, (int64_t[]){cases[c].Ob}, &err);
        REQUIRE(x && wa && wb && bb);
        mt_rng_fill_uniform(&rng, x, -1.0f, 1.0f);
        mt_rng_fill_uniform(&rng, wa, -0.3f, 0.3f);
        mt_rng_fill_uniform(&rng, wb, -0.3f, 0.3f);
        mt_rng_fill_uniform(&rng, bb, -1.0f, 1.0f);
        mt_tensor *params[4] = {x, wa, wb, bb};
        float *grads[2][4] = {{0}}, *outs[2][2] = {{0}};
        int64_t nout[2] = {0};
        const mt_conv2d_params p = {.stride = {cases[c].stride, cases[c].stride}, .padding = {1, 1}};
        mt_ctx *ctx = mt_ctx_new();
        for (int pass = 0; pass < 2; pass++) { /* 0: two conv2d, 1: the pair */
            for (int k = 0; k < 4; k++) params[k]->requires_grad = true;
            mt_tensor *ya, *yb = NULL;
            if (pass == 0) {
                ya = mt_conv2d(ctx, x, wa, NULL, p);
                yb = mt_conv2d(ctx, x, wb, bb, p);
            } else {
                ya = mt_conv2d_pair(ctx, x, wa, NULL, wb, bb, p, &yb);
            }
            REQUIRE(ya && yb);
            /* A loss that weighs the outputs unevenly: sum(ya * ya) + sum(yb). */
            mt_tensor *loss = mt_add(ctx, mt_sum(ctx, mt_mul(ctx, ya, ya)), mt_sum(ctx, yb));
            REQUIRE(loss && mt_backward(ctx, loss));
            mt_tensor *y[2] = {ya, yb};
            for (int o = 0; o < 2; o++) {
                nout[o] = y[o]->numel;
                outs[pass][o] = malloc((size_t)nout[o] * sizeof(float));
                REQUIRE(outs[pass][o]);
                memcpy(outs[pass][o], y[o]->data, (size_t)nout[o] * sizeof(float));
            }
            for (int k = 0; k < 4; k++) {
                REQUIRE(params[k]->grad);
                grads[pass][k] = malloc((size_t)params[k]->numel * sizeof(float));
                REQUIRE(grads[pass][k]);
                memcpy(grads[pass][k], params[k]->grad, (size_t)params[k]->numel * sizeof(float));
                mt_tensor_zero_grad(params[k]);
            }
            mt_ctx_reset(ctx); /* the next pass's tape starts empty */
        }
        for (int o = 0; o < 2; o++) {
            CHECK_MSG(memcmp(outs[0][o], outs[1][o], (size_t)nout[o] * sizeof(float)) == 0,
                      "case %zu: output %d differs from its own conv2d", c, o);
            free(outs[0][o]);
            free(outs[1][o]);
        }
        const char *names[4] = {"x", "weight_a", "weight_b", "bias_b"};
        for (int k = 0; k < 4; k++) {
            CHECK_MSG(memcmp(grads[0][k], grads[1][k], (size_t)params[k]->numel * sizeof(float)) == 0,
                      "case %zu: the gradient of %s differs", c, names[k]);
            free(grads[0][k]);
            free(grads[1][k]);
        }
        mt_ctx_free(ctx);
        for (int k = 0; k < 4; k++) mt_tensor_free(params[k]);
    }
}
