/* Runs the built mytorch CLI from tests and captures what it prints. */
#ifndef MYTORCH_TESTS_CLI_RUN_H
#define MYTORCH_TESTS_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    int status;        /* exit status, or -1 if it did not exit normally (crash, signal) */
    char out[8192];    /* the end of stdout */
    char err[8192];    /* the end of stderr */
} cli_result;

/* Runs "mytorch ARGS" (ARGS is passed to /bin/sh: quote paths) and fills r. */
void cli_run(cli_result *r, const char *args);
/* The same after the shell commands in prefix, e.g. "ulimit -f 8;" (a subshell: the
 * limit applies to mytorch only). */
void cli_run_after(cli_result *r, const char *prefix, const char *args);
/* The number printed right after key in s (e.g. "test accuracy "), or -1 if key is absent. */
double cli_number_after(const char *s, const char *key);
/* Runs mytorch with args and checks what bad input must get: the exit status given and
 * exactly one line on stderr, containing needle. */
void cli_expect_error(const char *args, int status, const char *needle);
/* Number of non-empty lines in s. */
int cli_lines(const char *s);
/* A fresh temporary folder (mkdtemp); path written into buf. */
const char *cli_tempdir(char *buf, size_t n);

/* Runs "mytorch train --data MNIST --out DIR ARGS" (ARGS alone when dir is NULL) into r
 * and CHECKs the exit status. */
void cli_train(const char *dir, const char *args, int status, cli_result *r);
/* True when a/name and b/name both exist and hold the same bytes. */
bool cli_same_file(const char *a, const char *b, const char *name);
/* True when dir/name exists. */
bool cli_exists(const char *dir, const char *name);
/* rm -rf dir (CHECKed). */
void cli_remove_dir(const char *dir);
/* Trains `full` in one go into one folder, and `part` then `--resume DIR resume_args` into
 * another; CHECKs that the part really stopped earlier and that last.safetensors,
 * best.safetensors, metrics.jsonl and state.safetensors end up the same bytes. */
void cli_check_resume(const char *full, const char *part, const char *resume_args);
/* Starts mytorch with argv (argv[0] "mytorch", NULL-terminated) in the background, its
 * output to /dev/null; returns its pid (for kill and waitpid), or -1. */
pid_t cli_spawn(char *const *argv);

#endif
