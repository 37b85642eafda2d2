#include "cli_run.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MT_CLI_PATH
#define MT_CLI_PATH "mytorch"
#endif

static void slurp(const char *path, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size > (long)n - 1) fseek(f, size - (long)(n - 1), SEEK_SET);
    else fseek(f, 0, SEEK_SET);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = '\0';
    fclose(f);
}

void cli_run(cli_result *r, const char *args) {
    char dir[256], cmd[8192], out_path[300], err_path[300];
    cli_tempdir(dir, sizeof dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s' </dev/null", MT_CLI_PATH, args, out_path, err_path);
    int raw = system(cmd);
    r->status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    slurp(out_path, r->out, sizeof r->out);
    slurp(err_path, r->err, sizeof r->err);
    remove(out_path);
    remove(err_path);
    rmdir(dir);
}

double cli_number_after(const char *s, const char *key) {
    const char *p = strstr(s, key);
    return p ? atof(p + strlen(key)) : -1.0;
}

int cli_lines(const char *s) {
    int n = 0;
    for (const char *p = s; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) n++;
        p += len + (nl ? 1 : 0);
    }
    return n;
}

const char *cli_tempdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/mytorch-test-XXXXXX");
    if (!mkdtemp(buf)) mt_test_fail(__FILE__, __LINE__, "mkdtemp failed");
    return buf;
}
