/* Command-line flags for the mytorch CLI: a table per command, strict parsing. */
#ifndef MT_TOOLS_ARGS_H
#define MT_TOOLS_ARGS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { ARG_INT, ARG_REAL, ARG_STR, ARG_SWITCH } arg_kind;

typedef struct {
    const char *flag;    /* "--epochs" */
    arg_kind kind;
    void *dst;           /* long*, double*, const char**, bool* */
    double min, max;     /* allowed range for numbers */
    const char *metavar; /* "N", "LR", "DIR" */
    const char *help;
    bool seen;           /* set when the flag was given */
} arg_spec;

typedef enum { ARGS_OK, ARGS_HELP, ARGS_ERROR } args_result;

/* Parses argv[first..argc) as "--flag value", "--flag=value" or "--switch". On an
 * unknown flag, a missing or bad value, or a stray argument it prints one line naming
 * the problem to stderr and returns ARGS_ERROR (exit status 2). "--help"/"-h" prints
 * usage (summary + the table) to stdout and returns ARGS_HELP. */
args_result args_parse(const char *command, const char *summary, int argc, char **argv, int first,
                       arg_spec *specs, int n);
/* Sets s from value exactly as the command line would ("0"/"1" for a switch) and marks it
 * seen; false, with one line on stderr, when the value is bad. (Restoring a saved run.) */
bool args_set(const char *command, arg_spec *s, const char *value);
/* The current value of s as text that args_set reads back to the same value (reals with
 * 17 significant digits; "" for an unset string). */
void args_format(const arg_spec *s, char *buf, size_t n);
/* args_parse that also accepts arguments which are not flags: they are stored in order
 * in pos (room for argc entries) and counted in *n_pos. positional names them in the
 * usage line ("RUN_DIR..."). */
args_result args_parse_positional(const char *command, const char *positional, const char *summary, int argc,
                                  char **argv, int first, arg_spec *specs, int n, const char **pos, int *n_pos);
/* The spec for flag, to ask whether it was given. */
const arg_spec *args_find(const arg_spec *specs, int n, const char *flag);

#endif
