/* Anomaly mode (mt_set_detect_anomaly, as torch.autograd.detect_anomaly): the first op
 * whose forward output or backward gradient holds a NaN or Inf is named with its shapes. */
#include "mytorch/ops.h"
#include "test.h"

#include <string.h>

MT_TEST(anomaly_is_off_by_default_and_nan_flows_through) {
    mt_ctx *ctx = mt_ctx_new();
    CHECK(!mt_is_anomaly_enabled(ctx));
    mt_tensor *x = mt_tensor_from(ctx, 1, (int64_t[]){2}, (float[]){-1.0f, 1.0f});
    mt_tensor *y = mt_log(ctx, x);
    REQUIRE(y);
    CHECK(isnan(y->data[0]) && y->data[1] == 0.0f);
    CHECK(!mt_ctx_failed(ctx));
    mt_ctx_free(ctx);
}

MT_TEST(anomaly_names_the_forward_that_made_nan) {
    mt_ctx *ctx = mt_ctx_new();
    CHECK(!mt_set_detect_anomaly(ctx, true));
    CHECK(mt_is_anomaly_enabled(ctx));
    float v[6] = {1, 2, 3, 4, -5, 6};
    mt_tensor *x = mt_tensor_from(ctx, 2, (int64_t[]){2, 3}, v);
    /* relu is fine; log(0) = -Inf stops the step, so sum sees the error and gives NULL. */
    CHECK(mt_sum(ctx, mt_log(ctx, mt_relu(ctx, x))) == NULL);
    CHECK_MSG(strcmp(mt_ctx_error(ctx)->msg, "anomaly: forward of log produced -Inf (input 2x3; output 2x3)") == 0,
              "got: %s", mt_ctx_error(ctx)->msg);
    mt_ctx_free(ctx);

    /* NaN, and two inputs: 0/0 in div. */
    ctx = mt_ctx_new();
    mt_set_detect_anomaly(ctx, true);
    mt_tensor *a = mt_tensor_zeros(ctx, 2, (int64_t[]){4, 1});
    mt_tensor *b = mt_tensor_zeros(ctx, 1, (int64_t[]){5});
    mt_div(ctx, a, b);
    CHECK_MSG(strcmp(mt_ctx_error(ctx)->msg, "anomaly: forward of div produced NaN (inputs 4x1, 5; output 4x5)") == 0,
              "got: %s", mt_ctx_error(ctx)->msg);
    mt_ctx_free(ctx);
}

MT_TEST(anomaly_names_the_backward_that_made_inf) {
    /* sqrt(x) at 0 is 0, but its derivative 0.5 / sqrt(x) is Inf there. */
    mt_ctx *ctx = mt_ctx_new();
    mt_set_detect_anomaly(ctx, true);
    mt_tensor *w = mt_tensor_new(1, (int64_t[]){3}, NULL);
    w->data[0] = 4.0f;
    w->data[1] = 0.0f;
    w->data[2] = 1.0f;
    w->requires_grad = true;
    mt_tensor *loss = mt_sum(ctx, mt_mul_scalar(ctx, mt_pow(ctx, w, 0.5f), 2.0f));
    REQUIRE(loss && !mt_ctx_failed(ctx));
    CHECK(!mt_backward(ctx, loss));
    CHECK_MSG(strcmp(mt_ctx_error(ctx)->msg,
                     "anomaly: backward of pow produced Inf in the gradient of input 0 (input 3; output 3)") == 0,
              "got: %s", mt_ctx_error(ctx)->msg);
    mt_ctx_free(ctx);

    /* The same graph without anomaly mode: backward succeeds and the Inf reaches w.grad. */
    ctx = mt_ctx_new();
    mt_tensor_zero_grad(w);
    CHECK(mt_backward(ctx, mt_sum(ctx, mt_mul_scalar(ctx, mt_pow(ctx, w, 0.5f), 2.0f))));
    CHECK(isinf(w->grad[1]) && fabsf(w->grad[0] - 0.5f) < 1e-6f);
    mt_tensor_free(w);
    mt_ctx_free(ctx);
}
