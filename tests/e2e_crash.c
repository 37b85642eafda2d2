/* Crash safety on real MNIST (run with `mytorch_tests e2e_crash`, about a minute): a
 * training run that saves after every step (--checkpoint-every 1) is killed with SIGKILL
 * at random moments, again and again, each time resumed from what the last one left.
 * After every kill the checkpoint on disk loads strictly into the model, the state file
 * reads, and the logs hold whole lines: a write is never seen half done under the real
 * name (the writer goes to NAME.tmp and renames). At the end the resumed run is taken to a
 * fixed step and its weights are the same bytes as those of a run that was never killed. */
#include "cli_run.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILLS 40

/* dir/last.safetensors loads strictly into fcn; returns false with a reason otherwise. */
static bool checkpoint_loads(const char *dir, char *why, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    mt_safetensors st = {0};
    mt_error err = {0};
    bool ok = mt_safetensors_read(path, &st, &err) == MT_OK;
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = ok ? mt_model_find("fcn")->build(&rng, NULL) : NULL;
    ok = ok && m && mt_module_load_state_dict(m, &st, true, &err) == MT_OK;
    if (!ok) snprintf(why, n, "%s", err.msg);
    mt_module_free(m);
    mt_safetensors_free(&st);
    return ok;
}

/* The state file reads as a training state; its total_steps, or -1. */
static long long state_steps(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    mt_safetensors st = {0};
    mt_error err = {0};
    if (mt_safetensors_read(path, &st, &err) != MT_OK) return -1;
    const char *format = mt_safetensors_meta(&st, "format"), *steps = mt_safetensors_meta(&st, "total_steps");
    long long v = format && strcmp(format, "mytorch-train-state-1") == 0 && steps ? atoll(steps) : -1;
    mt_safetensors_free(&st);
    return v;
}

/* Every line of dir/metrics.jsonl is whole: starts with {"epoch": and ends in }\n. */
static bool log_whole(const char *dir) {
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return true; /* not written yet */
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        ok = strncmp(line, "{\"epoch\":", 9) == 0 && len >= 2 && line[len - 1] == '\n' && line[len - 2] == '}';
    }
    fclose(f);
    return ok;
}

MT_TEST(e2e_crash_sigkill_during_saves_never_costs_a_checkpoint) {
    char dir[256], ref[256], data[512];
    cli_tempdir(dir, sizeof dir);
    cli_tempdir(ref, sizeof ref);
    snprintf(data, sizeof data, "%s", mt_test_data_dir());
    srand((unsigned)time(NULL));
    int during_write = 0, with_checkpoint = 0;
    long long last_steps = 0;
    for (int k = 0; k < KILLS; k++) {
        bool resume = cli_exists(dir, "state.safetensors");
        char *fresh[] = {"mytorch", "train", "--model", "fcn", "--epochs", "100", "--checkpoint-every", "1",
                         "--threads", "1", "--data", data, "--out", dir, NULL};
        char *again[] = {"mytorch", "train", "--resume", dir, "--checkpoint-every", "1", "--threads", "1", NULL};
        pid_t pid = cli_spawn(resume ? again : fresh);
        REQUIRE(pid > 0);
        /* Loading MNIST takes a few tenths of a second; then a save follows every step. */
        usleep((useconds_t)(300000 + rand() % 900000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "kill %d: the run ended by itself (status %d) before the kill", k, status);
        during_write += cli_exists(dir, "last.safetensors.tmp") || cli_exists(dir, "state.safetensors.tmp");
        if (!cli_exists(dir, "last.safetensors")) continue;
        with_checkpoint++;
        char why[1100];
        CHECK_MSG(checkpoint_loads(dir, why, sizeof why), "kill %d: last.safetensors does not load: %s", k, why);
        long long steps = state_steps(dir);
        CHECK_MSG(steps >= last_steps, "kill %d: state.safetensors unreadable or went back (%lld < %lld steps)", k, steps,
                  last_steps);
        last_steps = steps;
        CHECK_MSG(log_whole(dir), "kill %d: metrics.jsonl holds a partial line", k);
    }
    printf("    %d kills, %d with a checkpoint on disk, %d landed during a write (a .tmp was left); state at step %lld\n",
           KILLS, with_checkpoint, during_write, last_steps);
    CHECK_MSG(with_checkpoint >= KILLS / 2 && last_steps > 0, "too few kills came after the first save");

    /* Finish at a fixed step, and compare with a run that was never interrupted. */
    long long target = last_steps + 5;
    char args[1024];
    snprintf(args, sizeof args, "train --resume '%s' --threads 1 --max-steps %lld", dir, target);
    cli_result r;
    cli_run(&r, args);
    CHECK_MSG(r.status == 0, "resume after the kills: exit %d: %s", r.status, r.err);
    snprintf(args, sizeof args, "train --model fcn --epochs 100 --threads 1 --max-steps %lld --data '%s' --out '%s'",
             target, data, ref);
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    snprintf(args, sizeof args, "cmp -s '%s/last.safetensors' '%s/last.safetensors'", dir, ref);
    CHECK_MSG(system(args) == 0, "after %d kills and resumes, the weights at step %lld differ from an uninterrupted run's",
              KILLS, target);
    snprintf(args, sizeof args, "rm -rf '%s' '%s'", dir, ref);
    CHECK(system(args) == 0);
}
