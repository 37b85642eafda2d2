/* Training reliability through the CLI on real MNIST, kept to a few seconds each: the same
 * seed gives the same bytes; a run stopped and resumed (--resume) ends with the same
 * bytes as one that was not; a non-finite loss stops the run with its last good
 * checkpoint kept; --detect-anomaly names the op. */
#include "cli_run.h"
#include "mytorch/checkpoint.h"
#include "mytorch/models.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Skips the test (returns false) when MNIST is not there. */
static bool have_mnist(void) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", mt_test_data_dir());
    if (stat(path, &st) == 0) return true;
    mt_test_skip("MNIST not found (make data)");
    return false;
}

MT_TEST(train_same_seed_same_bytes) {
    if (!have_mnist()) return;
    char a[256], b[256];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    cli_result r;
    const char *args = "--model fcn --batch-size 500 --max-steps 30 --threads 2 --seed 7";
    cli_train(a, args, 0, &r);
    cli_train(b, args, 0, &r);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "state.safetensors"};
    for (int k = 0; k < 4; k++) CHECK_MSG(cli_same_file(a, b, files[k]), "%s differs between two identical runs", files[k]);
    /* The clock is in timing.jsonl, not in metrics.jsonl. */
    char path[512], line[512] = "";
    snprintf(path, sizeof path, "%s/metrics.jsonl", a);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    CHECK(fgets(line, sizeof line, f) != NULL);
    fclose(f);
    CHECK_MSG(strncmp(line, "{\"epoch\":1,\"train_loss\":", 24) == 0 && !strstr(line, "seconds"), "metrics line: %s", line);
    CHECK(cli_exists(a, "timing.jsonl"));
    /* The epoch line shows the accuracy's standard error; the end says where the files are. */
    CHECK_MSG(strstr(r.out, "% ± ") && strstr(r.out, "metrics.jsonl"), "output: %s", r.out);
    cli_remove_dir(a);
    cli_remove_dir(b);
}

MT_TEST(resume_sgd_momentum_mid_epoch_is_exact) {
    if (!have_mnist()) return;
    cli_check_resume("--model fcn --batch-size 200 --max-steps 40 --threads 2", "--model fcn --batch-size 200 --max-steps 17 --threads 2",
                 "--max-steps 40");
}

MT_TEST(resume_at_epoch_boundary_extends_epochs) {
    if (!have_mnist()) return;
    /* 60 steps an epoch; momentum buffers, the step schedule and the loader's order cross the boundary. */
    cli_check_resume("--model fcn --batch-size 1000 --epochs 2 --schedule step --gamma 0.5 --threads 2",
                 "--model fcn --batch-size 1000 --epochs 1 --schedule step --gamma 0.5 --threads 2", "--epochs 2");
}

MT_TEST(resume_adam_dropout_vit_is_exact) {
    if (!have_mnist()) return;
    const char *vit = "--model vit --depth 1 --width 16 --heads 2 --mlp 32 --batch-size 32 --threads 2";
    char full[512], part[512];
    snprintf(full, sizeof full, "%s --max-steps 30", vit);
    snprintf(part, sizeof part, "%s --max-steps 12", vit);
    cli_check_resume(full, part, "--max-steps 30");
}

MT_TEST(resume_refuses_to_change_the_recipe) {
    if (!have_mnist()) return;
    char dir[256], args[1024];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    cli_train(dir, "--model fcn --batch-size 1000 --max-steps 5 --schedule cosine", 0, &r);
    snprintf(args, sizeof args, "--resume '%s' --lr 0.5", dir);
    cli_train(NULL, args, 2, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "--lr cannot be given with --resume"), "stderr: %s", r.err);
    snprintf(args, sizeof args, "--resume '%s' --model lenet", dir);
    cli_train(NULL, args, 2, &r);
    snprintf(args, sizeof args, "--resume '%s' --max-steps 10", dir); /* cosine's rates depend on the length */
    cli_train(NULL, args, 2, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "cosine schedule"), "stderr: %s", r.err);
    snprintf(args, sizeof args, "--resume '%s'", dir); /* finished: nothing to do */
    cli_train(NULL, args, 0, &r);
    CHECK_MSG(strstr(r.out, "nothing to do"), "stdout: %s", r.out);
    cli_train(NULL, "--checkpoint-every 0", 2, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "--checkpoint-every must be between 1"), "stderr: %s", r.err);
    cli_train(NULL, "--resume /nonexistent/run", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "/nonexistent/run/state.safetensors"), "stderr: %s", r.err);
    /* A checkpoint is not a training state. */
    snprintf(args, sizeof args, "cp '%s/last.safetensors' '%s/state.safetensors'", dir, dir);
    REQUIRE(system(args) == 0);
    snprintf(args, sizeof args, "--resume '%s' --max-steps 10", dir);
    cli_train(NULL, args, 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "not a mytorch training state"), "stderr: %s", r.err);
    cli_remove_dir(dir);
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
    cli_train(dir, "--model fcn --lr 1e6 --max-steps 50 --checkpoint-every 1", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "mytorch: training diverged at epoch 1, step ") &&
                  strstr(r.err, "checkpoint and state are kept") &&
                  strstr(r.err, "--lr") && strstr(r.err, "--clip-grad") && strstr(r.err, "--detect-anomaly"),
              "stderr: %s", r.err);
    int step = (int)cli_number_after(r.err, ", step ");
    CHECK_MSG(step >= 2, "diverged at step %d: expected a good step first", step);
    CHECK_MSG(finite_fcn_checkpoint(dir), "last.safetensors in %s is missing, not finite or not an fcn", dir);
    CHECK(cli_exists(dir, "state.safetensors") && !cli_exists(dir, "last.safetensors.tmp"));
    cli_remove_dir(dir);
}

MT_TEST(detect_anomaly_names_the_op_on_the_command_line) {
    if (!have_mnist()) return;
    char dir[256];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    cli_train(dir, "--model fcn --lr 1e6 --max-steps 50 --detect-anomaly", 1, &r);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, "mytorch: epoch 1, step ") && strstr(r.err, ": anomaly: ") &&
                  strstr(r.err, " produced ") && strstr(r.err, "(input"),
              "stderr: %s", r.err);
    CHECK(!cli_exists(dir, "last.safetensors"));
    cli_remove_dir(dir);
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
    cli_train(a, "--model fcn --batch-size 500 --max-steps 20 --threads 1", 0, &r);
    cli_train(b, "--model fcn --batch-size 500 --max-steps 20 --threads 2", 0, &r);
    unsetenv("MYTORCH_BLAS");
    CHECK(cli_same_file(a, b, "last.safetensors") && cli_same_file(a, b, "metrics.jsonl"));
    cli_remove_dir(a);
    cli_remove_dir(b);
}

MT_TEST(resume_after_sigkill_with_onecycle_is_exact) {
    /* OneCycle's rates and Adam's beta1 follow the step count over a fixed length, so this
     * run cannot be stopped early with --max-steps: it is killed after its first save. */
    if (!have_mnist()) return;
    char a[256], b[256], data[512], args[1024];
    cli_tempdir(a, sizeof a);
    cli_tempdir(b, sizeof b);
    snprintf(data, sizeof data, "%s", mt_test_data_dir());
    const char *flags = "--model vit --depth 1 --width 16 --heads 2 --mlp 32 --batch-size 32 --threads 2 "
                        "--schedule onecycle --max-steps 40";
    cli_result r;
    cli_train(a, flags, 0, &r);
    char *argv[] = {"mytorch", "train", "--model", "vit", "--depth", "1", "--width", "16", "--heads", "2", "--mlp", "32",
                    "--batch-size", "32", "--threads", "2", "--schedule", "onecycle", "--max-steps", "40",
                    "--checkpoint-every", "4", "--data", data, "--out", b, NULL};
    pid_t pid = cli_spawn(argv);
    REQUIRE(pid > 0);
    for (int k = 0; k < 30000 && !cli_exists(b, "state.safetensors"); k++) usleep(2000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status), "the run finished before it was killed (status %d)", status);
    snprintf(args, sizeof args, "--resume '%s'", b);
    cli_train(NULL, args, 0, &r);
    const char *files[] = {"last.safetensors", "best.safetensors", "metrics.jsonl", "state.safetensors"};
    for (int k = 0; k < 4; k++) CHECK_MSG(cli_same_file(a, b, files[k]), "%s differs after kill and resume", files[k]);
    cli_remove_dir(a);
    cli_remove_dir(b);
}
