/* Training reliability through the CLI on real MNIST, kept to a few seconds each: the same
 * seed gives the same bytes; a run stopped and resumed (--resume) ends with the same
 * bytes as one that was not; a non-finite loss stops the run with its last good
 * checkpoint kept; --detect-anomaly names the op. */
#include "cli_run.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Skips the test (returns false) when MNIST is not there. */
static bool have_mnist(void) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", mt_test_data_dir());
    if (stat(path, &st) == 0) return true;
    mt_test_skip("MNIST not found (make data)");
    return false;
}

/* Runs "mytorch train --data MNIST --out DIR ARGS" (or ARGS alone when dir is NULL) and
 * checks the exit status. */
static void train(const char *dir, const char *args, int status, cli_result *r) {
    char cmd[2048];
    if (dir) snprintf(cmd, sizeof cmd, "train --data '%s' --out '%s' %s", mt_test_data_dir(), dir, args);
    else snprintf(cmd, sizeof cmd, "train %s", args);
    cli_run(r, cmd);
    CHECK_MSG(r->status == status, "mytorch %s: exit %d, expected %d; stderr: %s", cmd, r->status, status, r->err);
}

/* True when DIR_A/name and DIR_B/name exist and hold the same bytes. */
static bool same_file(const char *a, const char *b, const char *name) {
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

static bool exists(const char *dir, const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static void remove_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Trains `full` in one go into A, and in B first `part` then `--resume B resume_args`;
 * the checkpoints, metrics and final state must be the same bytes. */
static void check_resume(const char *full, const char *part, const char *resume_args) {
    char a[256], b[256], args[1024];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    cli_result r;
    train(a, full, 0, &r);
    train(b, part, 0, &r);
    CHECK(!same_file(a, b, "last.safetensors")); /* the stop really was before the end */
    snprintf(args, sizeof args, "--resume '%s' %s", b, resume_args);
    train(NULL, args, 0, &r);
    CHECK_MSG(strstr(r.out, "resuming"), "no 'resuming' line: %s", r.out);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "state.safetensors"};
    for (int k = 0; k < 4; k++)
        CHECK_MSG(same_file(a, b, files[k]), "%s differs between the run and the resumed run (%s)", files[k], full);
    remove_dir(a);
    remove_dir(b);
}

MT_TEST(train_same_seed_same_bytes) {
    if (!have_mnist()) return;
    char a[256], b[256];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    cli_result r;
    const char *args = "--model fcn --batch-size 500 --max-steps 30 --threads 2 --seed 7";
    train(a, args, 0, &r);
    train(b, args, 0, &r);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "state.safetensors"};
    for (int k = 0; k < 4; k++) CHECK_MSG(same_file(a, b, files[k]), "%s differs between two identical runs", files[k]);
    /* The clock is in timing.jsonl, not in metrics.jsonl. */
    char path[512], line[512] = "";
    snprintf(path, sizeof path, "%s/metrics.jsonl", a);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    CHECK(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    CHECK_MSG(strncmp(line, "{\"epoch\":1,\"train_loss\":", 24) == 0 && !strstr(line, "seconds"), "metrics line: %s", line);
    CHECK(exists(a, "timing.jsonl"));
    /* The epoch line shows the accuracy's standard error; the end says where the files are. */
    CHECK_MSG(strstr(r.out, "% ± ") && strstr(r.out, "metrics.jsonl"), "output: %s", r.out);
    remove_dir(a);
    remove_dir(b);
}

MT_TEST(resume_sgd_momentum_mid_epoch_is_exact) {
    if (!have_mnist()) return;
    check_resume("--model fcn --batch-size 200 --max-steps 40 --threads 2", "--model fcn --batch-size 200 --max-steps 17 --threads 2",
                 "--max-steps 40");
}

MT_TEST(resume_at_epoch_boundary_extends_epochs) {
    if (!have_mnist()) return;
    /* 60 steps an epoch; momentum buffers, the step schedule and the loader's order cross the boundary. */
    check_resume("--model fcn --batch-size 1000 --epochs 2 --schedule step --gamma 0.5 --threads 2",
                 "--model fcn --batch-size 1000 --epochs 1 --schedule step --gamma 0.5 --threads 2", "--epochs 2");
}

MT_TEST(resume_adam_dropout_vit_is_exact) {
    if (!have_mnist()) return;
    const char *vit = "--model vit --depth 1 --width 16 --heads 2 --mlp 32 --batch-size 32 --threads 2";
    char full[512], part[512];
    snprintf(full, sizeof full, "%s --max-steps 30", vit);
    snprintf(part, sizeof part, "%s --max-steps 12", vit);
    check_resume(full, part, "--max-steps 30");
}

MT_TEST(resume_refuses_to_change_the_recipe) {
    if (!have_mnist()) return;
    char dir[256], args[1024];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    train(dir, "--model fcn --batch-size 1000 --max-steps 5 --schedule cosine", 0, &r);
    snprintf(args, sizeof args, "--resume '%s' --lr 0.5", dir);
    train(NULL, args, 2, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "--lr cannot be given with --resume"), "stderr: %s", r.err);
    snprintf(args, sizeof args, "--resume '%s' --model lenet", dir);
    train(NULL, args, 2, &r);
    snprintf(args, sizeof args, "--resume '%s' --max-steps 10", dir); /* cosine's rates depend on the length */
    train(NULL, args, 2, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "cosine schedule"), "stderr: %s", r.err);
    snprintf(args, sizeof args, "--resume '%s'", dir); /* finished: nothing to do */
    train(NULL, args, 0, &r);
    CHECK_MSG(strstr(r.out, "nothing to do"), "stdout: %s", r.out);
    train(NULL, "--resume /nonexistent/run", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "/nonexistent/run/state.safetensors"), "stderr: %s", r.err);
    /* A checkpoint is not a training state. */
    snprintf(args, sizeof args, "cp '%s/last.safetensors' '%s/state.safetensors'", dir, dir);
    REQUIRE(system(args) == 0);
    snprintf(args, sizeof args, "--resume '%s' --max-steps 10", dir);
    train(NULL, args, 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "not a mytorch training state"), "stderr: %s", r.err);
    remove_dir(dir);
}

/* Every value of the file's tensors is finite and it loads strictly into fcn. */
static bool finite_fcn_checkpoint(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    mt_safetensors st = {0};
    mt_error err = {0};
    if (mt_safetensors_read(path, &st, &err) != MT_OK) return false;
    bool finite = true;
    for (int k = 0; k < st.n_tensors; k++)
        if (st.tensors[k].dtype == MT_DTYPE_F32)
            for (int64_t i = 0; i < st.tensors[k].numel; i++) finite = finite && isfinite(((float *)st.tensors[k].data)[i]);
    mt_rng rng;
    mt_rng_seed(&rng, 0);
    mt_module *m = mt_model_find("fcn")->build(&rng, NULL);
    bool loads = m && mt_module_load_state_dict(m, &st, true, &err) == MT_OK;
    mt_module_free(m);
    mt_safetensors_free(&st);
    return finite && loads;
}

MT_TEST(nonfinite_loss_stops_and_keeps_the_last_good_checkpoint) {
    if (!have_mnist()) return;
    char dir[256];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    /* lr 1e6: the first step is finite, the weights it makes are huge, a later loss is not finite. */
    train(dir, "--model fcn --lr 1e6 --max-steps 50 --checkpoint-every 1", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "mytorch: training diverged at epoch 1, step ") &&
                  strstr(r.err, "--lr") && strstr(r.err, "--clip-grad") && strstr(r.err, "--detect-anomaly"),
              "stderr: %s", r.err);
    int step = (int)cli_number_after(r.err, ", step ");
    CHECK_MSG(step >= 2, "diverged at step %d: expected a good step first", step);
    CHECK_MSG(finite_fcn_checkpoint(dir), "last.safetensors in %s is missing, not finite or not an fcn", dir);
    CHECK(exists(dir, "state.safetensors") && !exists(dir, "last.safetensors.tmp"));
    remove_dir(dir);
}

MT_TEST(detect_anomaly_names_the_op_on_the_command_line) {
    if (!have_mnist()) return;
    char dir[256];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    train(dir, "--model fcn --lr 1e6 --max-steps 50 --detect-anomaly", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "mytorch: epoch 1, step ") && strstr(r.err, ": anomaly: ") &&
                  strstr(r.err, " produced ") && strstr(r.err, "(input"),
              "stderr: %s", r.err);
    CHECK(!exists(dir, "last.safetensors"));
    remove_dir(dir);
}

MT_TEST(train_without_blas_thread_count_does_not_matter) {
    /* mytorch's own kernels give every output element to one thread with a fixed order of
     * summation, so only the BLAS can make the thread count matter (docs/ARCHITECTURE.md). */
    if (!have_mnist()) return;
    char a[256], b[256];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    cli_result r;
    setenv("MYTORCH_BLAS", "none", 1);
    train(a, "--model fcn --batch-size 500 --max-steps 20 --threads 1", 0, &r);
    train(b, "--model fcn --batch-size 500 --max-steps 20 --threads 2", 0, &r);
    unsetenv("MYTORCH_BLAS");
    CHECK(same_file(a, b, "last.safetensors") && same_file(a, b, "metrics.jsonl"));
    remove_dir(a);
    remove_dir(b);
}
