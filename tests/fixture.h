/* Helpers for tests that compare against PyTorch fixtures (tests/fixtures/). */
#ifndef MYTORCH_TESTS_FIXTURE_H
#define MYTORCH_TESTS_FIXTURE_H

#include "mytorch/io.h"

/* Reads tests/fixtures/NAME; on failure records a test failure and returns false. */
bool fixture_open(const char *name, mt_safetensors *st);
/* The F32 tensor KEY (printf-style), or NULL (and a test failure) when missing. */
const mt_st_tensor *fixture_get(const mt_safetensors *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Compares n floats against a fixture tensor with |got - want| <= atol + rtol*|want|;
 * records a failure naming what and the worst element. Returns true when all match. */
bool fixture_close(const char *what, const float *got, int64_t n, const mt_st_tensor *want,
                   double atol, double rtol);
/* A persistent tensor holding a copy of the fixture tensor (caller frees). */
mt_tensor *fixture_tensor(const mt_st_tensor *t);

#endif
