#include "cli_run.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

void cli_run(cli_result *r, const char *args) { cli_run_after(r, "", args); }

void cli_run_after(cli_result *r, const char *prefix, const char *args) {
    char dir[256], cmd[8192], out_path[300], err_path[300];
    cli_tempdir(dir, sizeof dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "(%s '%s' %s) >'%s' 2>'%s' </dev/null", prefix, MT_CLI_PATH, args, out_path, err_path);
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

void cli_train(const char *dir, const char *args, int status, cli_result *r) {
    char cmd[2048];
    if (dir) snprintf(cmd, sizeof cmd, "train --data '%s' --out '%s' %s", mt_test_data_dir(), dir, args);
    else snprintf(cmd, sizeof cmd, "train %s", args);
    cli_run(r, cmd);
    CHECK_MSG(r->status == status, "mytorch %s: exit %d, expected %d; stderr: %s", cmd, r->status, status, r->err);
}

bool cli_same_file(const char *a, const char *b, const char *name) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

bool cli_exists(const char *dir, const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

void cli_remove_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

void cli_check_resume(const char *full, const char *part, const char *resume_args) {
    char a[256], b[256], args[1024];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    cli_result r;
    cli_train(a, full, 0, &r);
    cli_train(b, part, 0, &r);
    CHECK(!cli_same_file(a, b, "last.safetensors"));     snprintf(args, sizeof args, "--resume '%s' %s", b, resume_args);
    cli_train(NULL, args, 0, &r);
    CHECK_MSG(strstr(r.out, "resuming"), "no 'resuming' line: %s", r.out);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "state.safetensors"};
    for (int k = 0; k < 4; k++)
        CHECK_MSG(cli_same_file(a, b, files[k]), "%s differs between the run and the resumed run (%s)", files[k], full);
    cli_remove_dir(a);
    cli_remove_dir(b);
}

pid_t cli_spawn(char *const *argv) {
    pid_t pid = fork();
    if (pid == 0) {
        FILE *null = freopen("/dev/null", "w", stdout);
        null = null ? freopen("/dev/null", "w", stderr) : NULL;
        (void)null;
        execv(MT_CLI_PATH, argv);
        _exit(127);
    }
    return pid;
}

void cli_expect_error(const char *args, int status, const char *needle) {
    cli_result r;
    cli_run(&r, args);
    CHECK_MSG(r.status == status, "mytorch %s: exit %d, expected %d (stderr: %s)", args, r.status, status, r.err);
    CHECK_MSG(cli_lines(r.err) == 1, "mytorch %s: expected one line on stderr, got: %s", args, r.err);
    CHECK_MSG(strstr(r.err, needle) != NULL, "mytorch %s: stderr lacks '%s': %s", args, needle, r.err);
}
