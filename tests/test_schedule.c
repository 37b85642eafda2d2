/* Learning-rate schedules and gradient clipping against torch.optim.lr_scheduler and
 * torch.nn.utils.clip_grad_norm_ (tests/fixtures/schedule.safetensors). */
#include "fixture.h"
#include "mytorch/optim.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void check_lrs(const char *what, const mt_schedule *s, double base, const mt_st_tensor *want) {
    REQUIRE(want);
    for (int64_t t = 0; t < want->numel; t++) {
        double lr = mt_schedule_lr(s, base, t), w = ((const float *)want->data)[t];
        CHECK_MSG(fabs(lr - w) <= 1e-7 + 1e-6 * fabs(w), "%s step %lld: lr %.9g, PyTorch %.9g", what, (long long)t, lr, w);
    }
}

MT_TEST(schedules_match_pytorch) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("schedule.safetensors", &st));
    mt_schedule step = mt_schedule_defaults(MT_SCHED_STEP);
    step.step_size = 3;
    step.gamma = 0.5;
    check_lrs("StepLR", &step, 0.1, fixture_get(&st, "step.lr"));

    mt_schedule cosine = mt_schedule_defaults(MT_SCHED_COSINE);
    cosine.total = 20;
    cosine.warmup = 5;
    cosine.min_lr = 1e-4;
    check_lrs("LinearLR + CosineAnnealingLR", &cosine, 0.1, fixture_get(&st, "cosine.lr"));

    mt_schedule one = mt_schedule_defaults(MT_SCHED_ONECYCLE);
    one.total = 20;
    check_lrs("OneCycleLR", &one, 0.01, fixture_get(&st, "onecycle.lr"));
    const mt_st_tensor *mom = fixture_get(&st, "onecycle.momentum");
    REQUIRE(mom);
    for (int64_t t = 0; t < mom->numel; t++)
        CHECK_NEAR(mt_schedule_momentum(&one, t), ((const float *)mom->data)[t], 1e-6);
    CHECK(mt_schedule_momentum(&cosine, 3) == -1.0);
    mt_safetensors_free(&st);
}

MT_TEST(clip_grad_norm_matches_pytorch) {
    mt_safetensors st = {0};
    REQUIRE(fixture_open("schedule.safetensors", &st));
    mt_tensor *p[2];
    for (int k = 0; k < 2; k++) {
        const mt_st_tensor *g = fixture_get(&st, "clip.g%d", k);
        REQUIRE(g);
        p[k] = mt_tensor_new(g->ndim, g->shape, NULL);
        p[k]->grad = malloc((size_t)g->numel * sizeof(float));
        memcpy(p[k]->grad, g->data, (size_t)g->numel * sizeof(float));
    }
    double norm = mt_clip_grad_norm(p, 2, 1.0);
    CHECK_NEAR(norm, *(const float *)fixture_get(&st, "clip.norm")->data, 1e-5);
    for (int k = 0; k < 2; k++) {
        char what[32];
        snprintf(what, sizeof what, "clipped grad %d", k);
        CHECK(fixture_close(what, p[k]->grad, p[k]->numel, fixture_get(&st, "clip.out%d", k), 1e-6, 1e-5));
        mt_tensor_free(p[k]);
    }
    mt_safetensors_free(&st);
}
