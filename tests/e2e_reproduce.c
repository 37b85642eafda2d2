/* End to end: `mytorch reproduce --quick` on two cheap experiments of the real list
 * trains them into a temporary runs folder and writes their rows; a second invocation
 * reuses both runs (and their figures) untouched; a changed flag makes a run stale; a failing run leaves
 * no results file. */
#include "cli_run.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LIST MT_SOURCE_DIR "/experiments/list.tsv"

static bool file_has(const char *path, const char *needle) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Modification time of a run's file, in nanoseconds. */
static long long mtime_ns(const char *dir, const char *file) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (stat(path, &st) != 0) return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

MT_TEST(e2e_reproduce_quick_trains_then_reuses) {
    char dir[256], args[2048], runs[300], results[300], fcn[400];
    cli_tempdir(dir, sizeof dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    snprintf(results, sizeof results, "%s/RESULTS.md", dir);
    snprintf(fcn, sizeof fcn, "%s/fcn", runs);
    snprintf(args, sizeof args, "reproduce --quick fcn cnn1 --list '%s' --runs '%s' --out '%s' --data '%s' --threads 2",
             LIST, runs, results, mt_test_data_dir());
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    CHECK_MSG(strstr(r.out, "trained 2, reused 0"), "first run: %s", r.out);
    CHECK(file_has(results, "| fcn | `--model fcn --epochs 10` | 1 | "));
    CHECK(file_has(results, "| cnn1 | `--model cnn1` | 1 | "));
    CHECK(file_has(results, "| cnn1_lr0.002 | `--model cnn1 --lr 0.002` | not run |"));
    CHECK(file_has(results, "Total training time of the 2 finished runs"));
    char record[512];
    snprintf(record, sizeof record, "%s/command.txt", fcn);
    CHECK(file_has(record, "train --model fcn --epochs 10 --epochs 1 --max-steps "));
    /* Figures: each run's beside the results file, linked from it. */
    char figures[400];
    snprintf(figures, sizeof figures, "%s/figures", dir);
    CHECK(mtime_ns(figures, "fcn/confusion.svg") > 0 && mtime_ns(figures, "fcn/misclassified.png") > 0);
    CHECK(mtime_ns(figures, "cnn1/accuracy.svg") > 0 && mtime_ns(figures, "cnn1/filters.png") > 0);
    CHECK(file_has(results, "[confusion](figures/fcn/confusion.svg)"));
    long long best = mtime_ns(fcn, "best.safetensors"), metrics = mtime_ns(fcn, "metrics.jsonl");
    long long drawn = mtime_ns(fcn, "figures/confusion.svg");
    REQUIRE(best > 0 && metrics > 0);

    /* Again: nothing is retrained, nothing in the runs changes, the results are rewritten. */
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    CHECK_MSG(strstr(r.out, "trained 0, reused 2"), "second run: %s", r.out);
    CHECK(!strstr(r.out, "== fcn") && !strstr(r.out, "figures fcn"));
    CHECK(mtime_ns(fcn, "best.safetensors") == best && mtime_ns(fcn, "metrics.jsonl") == metrics);
    CHECK(mtime_ns(fcn, "figures/confusion.svg") == drawn);
    CHECK(file_has(results, "| fcn | `--model fcn --epochs 10` | 1 | "));

    /* A list whose fcn line changed: the run is stale. */
    char list2[300], cmd[1024];
    snprintf(list2, sizeof list2, "%s/list.tsv", dir);
    snprintf(cmd, sizeof cmd, "sed 's/--model fcn --epochs 10/--model fcn --epochs 10 --lr 0.05/' '%s' > '%s'", LIST, list2);
    REQUIRE(system(cmd) == 0);
    snprintf(args, sizeof args, "reproduce --quick --dry-run fcn cnn1 --list '%s' --runs '%s'", list2, runs);
    cli_run(&r, args);
    CHECK(r.status == 0);
    CHECK_MSG(strstr(r.out, "train fcn") && strstr(r.out, "flags changed") && strstr(r.out, "reuse cnn1"),
              "dry run: %s", r.out);

    /* A run that fails: one line, exit 1, and the results file is not written. */
    FILE *f = fopen(list2, "w");
    REQUIRE(f);
    fputs("table\tt\tA table\tNothing.\nbroken\tt\t-\t--model cnn1 --epochs 1 --max-steps 2 --batch-size 0\n", f);
    fclose(f);
    snprintf(args, sizeof args, "reproduce --list '%s' --runs '%s' --out '%s/never.md' --data '%s'", list2, runs, dir,
             mt_test_data_dir());
    cli_run(&r, args);
    CHECK(r.status == 1);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "training broken failed"), "stderr: %s", r.err);
    snprintf(cmd, sizeof cmd, "%s/never.md", dir);
    struct stat st;
    CHECK(stat(cmd, &st) != 0);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}
