/* A small test harness: MT_TEST(name) { ... } registers a test; CHECK* record failures
 * without stopping the test. tests/main.c runs them and prints "N passed, N failed". */
#ifndef MYTORCH_TEST_H
#define MYTORCH_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

typedef void (*mt_test_fn)(void);
void mt_test_register(const char *name, const char *file, mt_test_fn fn);
/* Records a failure of the running test with a message. */
void mt_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Skips the running test (e.g. MNIST not present outside CI), with a reason. */
void mt_test_skip(const char *why);
/* Path of the fixtures folder (tests/fixtures of the source tree). */
const char *mt_test_fixtures_dir(void);
/* Path of the MNIST folder (MYTORCH_DATA, else data/mnist of the source tree). */
const char *mt_test_data_dir(void);

#define MT_TEST(name)                                                              \
    static void name(void);                                                        \
    __attribute__((constructor)) static void name##_register(void) {              \
        mt_test_register(#name, __FILE__, name);                                   \
    }                                                                              \
    static void name(void)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) mt_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                       \
    do {                                                                           \
        if (!(cond)) mt_test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                      \
    do {                                                                           \
        double a_ = (a), b_ = (b);                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                             \
            mt_test_fail(__FILE__, __LINE__, "%s = %.9g, %s = %.9g, |diff| > %g",  \
                         #a, a_, #b, b_, (double)(tol));                           \
    } while (0)

/* Stops the test when cond is false (for preconditions that later checks rely on). */
#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            mt_test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                \
            return;                                                                \
        }                                                                          \
    } while (0)

#endif
