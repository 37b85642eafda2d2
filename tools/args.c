/* Strict flag parsing: every value is checked in full (no "12abc"), numbers must be
 * finite and in range, and every problem is one clear line. */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *command, const char *positional, const char *summary, const arg_spec *specs, int n) {
    printf("usage: mytorch %s%s%s [flags]\n\n%s\n\nflags:\n", command, positional ? " " : "",
           positional ? positional : "", summary);
    for (int k = 0; k < n; k++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", specs[k].flag, specs[k].kind == ARG_SWITCH ? "" : " ",
                 specs[k].kind == ARG_SWITCH ? "" : specs[k].metavar);
        printf("  %-24s %s\n", left, specs[k].help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

/* Plain decimal: [+-]digits, and for a real also .digits and an exponent. strtod alone
 * would take "0x10", "inf" and "nan". */
static bool decimal(const char *s, bool integer) {
    int digits = 0;
    if (*s == '+' || *s == '-') s++;
    for (; isdigit((unsigned char)*s); s++) digits++;
    if (!integer && *s == '.')
        for (s++; isdigit((unsigned char)*s); s++) digits++;
    if (!integer && digits && (*s == 'e' || *s == 'E')) {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return false;
        while (isdigit((unsigned char)*s)) s++;
    }
    return digits > 0 && *s == '\0';
}

static bool set_value(const char *command, arg_spec *s, const char *value) {
    char *end = NULL;
    errno = 0;
    if (s->kind == ARG_STR) {
        if (!*value) {
            fprintf(stderr, "mytorch %s: %s needs a non-empty value\n", command, s->flag);
            return false;
        }
        *(const char **)s->dst = value;
        return true;
    }
    double v = decimal(value, false) ? strtod(value, &end) : NAN;
    if (!isfinite(v) || *end || errno == ERANGE) {
        fprintf(stderr, "mytorch %s: %s expects a number, got '%s'\n", command, s->flag, value);
        return false;
    }
    if (s->kind == ARG_INT && !decimal(value, true)) {
        fprintf(stderr, "mytorch %s: %s expects a whole number, got '%s'\n", command, s->flag, value);
        return false;
    }
    if (v < s->min || v > s->max) {
        if (s->kind == ARG_INT) /* whole numbers in full: 4294967295, not 4.29497e+09 */
            fprintf(stderr, "mytorch %s: %s must be between %.0f and %.0f, got %s\n", command, s->flag, s->min,
                    s->max, value);
        else
            fprintf(stderr, "mytorch %s: %s must be between %g and %g, got %s\n", command, s->flag, s->min, s->max,
                    value);
        return false;
    }
    if (s->kind == ARG_INT) *(long *)s->dst = (long)v;
    else *(double *)s->dst = v;
    return true;
}

args_result args_parse(const char *command, const char *summary, int argc, char **argv, int first,
                       arg_spec *specs, int n) {
    return args_parse_positional(command, NULL, summary, argc, argv, first, specs, n, NULL, NULL);
}

args_result args_parse_positional(const char *command, const char *positional, const char *summary, int argc,
                                  char **argv, int first, arg_spec *specs, int n, const char **pos, int *n_pos) {
    if (n_pos) *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(command, positional, summary, specs, n);
            return ARGS_HELP;
        }
        if (strncmp(arg, "--", 2) != 0 && pos) {
            pos[(*n_pos)++] = arg;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "mytorch %s: unexpected argument '%s' (see mytorch %s --help)\n", command, arg, command);
            return ARGS_ERROR;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        arg_spec *s = NULL;
        for (int k = 0; k < n && !s; k++)
            if (strlen(specs[k].flag) == len && strncmp(specs[k].flag, arg, len) == 0) s = &specs[k];
        if (!s) {
            fprintf(stderr, "mytorch %s: unknown flag '%.*s' (see mytorch %s --help)\n", command, (int)len, arg, command);
            return ARGS_ERROR;
        }
        s->seen = true;
        if (s->kind == ARG_SWITCH) {
            if (eq) {
                fprintf(stderr, "mytorch %s: %s takes no value\n", command, s->flag);
                return ARGS_ERROR;
            }
            *(bool *)s->dst = true;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "mytorch %s: %s needs a value (%s)\n", command, s->flag, s->metavar);
            return ARGS_ERROR;
        }
        if (!set_value(command, s, value)) return ARGS_ERROR;
    }
    return ARGS_OK;
}

bool args_set(const char *command, arg_spec *s, const char *value) {
    s->seen = true;
    if (s->kind != ARG_SWITCH) return set_value(command, s, value);
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
        fprintf(stderr, "mytorch %s: %s takes 0 or 1 here, got '%s'\n", command, s->flag, value);
        return false;
    }
    *(bool *)s->dst = value[0] == '1';
    return true;
}

void args_format(const arg_spec *s, char *buf, size_t n) {
    switch (s->kind) {
    case ARG_INT: snprintf(buf, n, "%ld", *(const long *)s->dst); break;
    case ARG_REAL: snprintf(buf, n, "%.17g", *(const double *)s->dst); break; /* round-trips exactly */
    case ARG_STR: snprintf(buf, n, "%s", *(const char *const *)s->dst ? *(const char *const *)s->dst : ""); break;
    case ARG_SWITCH: snprintf(buf, n, "%d", *(const bool *)s->dst ? 1 : 0); break;
    }
}

const arg_spec *args_find(const arg_spec *specs, int n, const char *flag) {
    for (int k = 0; k < n; k++)
        if (strcmp(specs[k].flag, flag) == 0) return &specs[k];
    return NULL;
}
