/* Runs the built mytorch CLI from tests and captures what it prints. */
#ifndef MYTORCH_TESTS_CLI_RUN_H
#define MYTORCH_TESTS_CLI_RUN_H

#include <stddef.h>

typedef struct {
    int status;        /* exit status, or -1 if it did not exit normally (crash, signal) */
    char out[8192];    /* the end of stdout */
    char err[8192];    /* the end of stderr */
} cli_result;

/* Runs "mytorch ARGS" (ARGS is passed to /bin/sh: quote paths) and fills r. */
void cli_run(cli_result *r, const char *args);
/* The number printed right after key in s (e.g. "test accuracy "), or -1 if key is absent. */
double cli_number_after(const char *s, const char *key);
/* Number of non-empty lines in s. */
int cli_lines(const char *s);
/* A fresh temporary folder (mkdtemp); path written into buf. */
const char *cli_tempdir(char *buf, size_t n);

#endif
