#include "fixture.h"
#include "test.h"

#include <stdarg.h>
#include <string.h>

bool fixture_open(const char *name, mt_safetensors *st) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", mt_test_fixtures_dir(), name);
    mt_error err = {0};
    if (mt_safetensors_read(path, st, &err) != MT_OK) {
        mt_test_fail(__FILE__, __LINE__, "cannot read fixture: %s", err.msg);
        return false;
    }
    return true;
}

const mt_st_tensor *fixture_get(const mt_safetensors *st, const char *fmt, ...) {
    char key[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    const mt_st_tensor *t = mt_safetensors_get(st, key);
    if (!t || t->dtype != MT_DTYPE_F32) {
        mt_test_fail(__FILE__, __LINE__, "fixture has no F32 tensor '%s'", key);
        return NULL;
    }
    return t;
}

bool fixture_close(const char *what, const float *got, int64_t n, const mt_st_tensor *want,
                   double atol, double rtol) {
    if (!got || !want) {
        mt_test_fail(__FILE__, __LINE__, "%s: nothing to compare", what);
        return false;
    }
    if (n != want->numel) {
        mt_test_fail(__FILE__, __LINE__, "%s: %lld values, PyTorch has %lld", what, (long long)n,
                     (long long)want->numel);
        return false;
    }
    const float *w = want->data;
    int64_t worst = -1, bad = 0;
    double worst_excess = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - w[i]), limit = atol + rtol * fabs((double)w[i]);
        if (!(diff <= limit)) {
            bad++;
            if (worst < 0 || diff - limit > worst_excess || diff != diff) {
                worst = i;
                worst_excess = diff - limit;
            }
        }
    }
    if (bad)
        mt_test_fail(__FILE__, __LINE__, "%s: %lld of %lld values differ from PyTorch; worst [%lld] %.9g vs %.9g",
                     what, (long long)bad, (long long)n, (long long)worst, got[worst], w[worst]);
    return bad == 0;
}

mt_tensor *fixture_tensor(const mt_st_tensor *t) {
    if (!t) return NULL;
    mt_tensor *out = mt_tensor_new(t->ndim, t->shape, NULL);
    if (out) memcpy(out->data, t->data, (size_t)t->numel * sizeof(float));
    return out;
}
