/* Runs the registered tests. Usage: mytorch_tests [--all] [--list] [SUBSTRING ...]
 * A test runs when its name or file contains any SUBSTRING (all unit tests when none).
 * End-to-end tests (files e2e_*.c: real MNIST, seconds each) run with --all or when
 * named. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef MT_SOURCE_DIR
#define MT_SOURCE_DIR "."
#endif

typedef struct {
    const char *name;
    const char *file;
    mt_test_fn fn;
} test_case;

static test_case tests[1024];
static int n_tests;
static int cur_failures;
static const char *cur_skip;

void mt_test_register(const char *name, const char *file, mt_test_fn fn) {
    if (n_tests < (int)(sizeof tests / sizeof tests[0]))
        tests[n_tests++] = (test_case){name, file, fn};
}

void mt_test_fail(const char *file, int line, const char *fmt, ...) {
    if (cur_failures < 5) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "    %s:%d: ", file, line);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
    }
    cur_failures++;
}

void mt_test_skip(const char *why) { cur_skip = why; }

const char *mt_test_fixtures_dir(void) {
    const char *env = getenv("MYTORCH_FIXTURES");
    return env ? env : MT_SOURCE_DIR "/tests/fixtures";
}

const char *mt_test_data_dir(void) {
    const char *env = getenv("MYTORCH_DATA");
    return env ? env : MT_SOURCE_DIR "/data/mnist";
}

static bool selected(const test_case *t, int argc, char **argv, bool all) {
    bool e2e = strstr(t->file, "e2e_") != NULL;
    bool any_filter = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        any_filter = true;
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i])) return true;
    }
    return !any_filter && (all || !e2e);
}

int main(int argc, char **argv) {
    bool list = false, all = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) list = true;
        else if (strcmp(argv[i], "--all") == 0) all = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "mytorch_tests: unknown flag '%s' (--all, --list, or name substrings)\n", argv[i]);
            return 2;
        }
    }
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        const test_case *t = &tests[i];
        if (!selected(t, argc, argv, all)) continue;
        if (list) {
            printf("%s (%s)\n", t->name, t->file);
            continue;
        }
        cur_failures = 0;
        cur_skip = NULL;
        fflush(stdout);
        t->fn();
        if (cur_failures) {
            printf("FAIL %s (%d checks failed)\n", t->name, cur_failures);
            failed++;
        } else if (cur_skip) {
            printf("SKIP %s: %s\n", t->name, cur_skip);
            skipped++;
        } else {
            printf("ok   %s\n", t->name);
            passed++;
        }
        fflush(stdout);
    }
    if (!list) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
