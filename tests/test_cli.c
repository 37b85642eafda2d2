/* The CLI under bad input: every mistake gets one clear line on stderr and a non-zero
 * exit, never a crash. (Training itself is tested in e2e_train.c.) */
#include "cli_run.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REF_LENET MT_SOURCE_DIR "/../shared/reference-weights/lenet-reference.safetensors"

/* One line on stderr that contains `needle`, and the given exit status. */
static void expect_error(const char *args, int status, const char *needle) {
    cli_result r;
    cli_run(&r, args);
    CHECK_MSG(r.status == status, "mytorch %s: exit %d, expected %d (stderr: %s)", args, r.status, status, r.err);
    CHECK_MSG(cli_lines(r.err) == 1, "mytorch %s: expected one line on stderr, got: %s", args, r.err);
    CHECK_MSG(strstr(r.err, needle) != NULL, "mytorch %s: stderr lacks '%s': %s", args, needle, r.err);
}

MT_TEST(cli_rejects_bad_flags_with_status_2) {
    expect_error("train --bogus", 2, "unknown flag '--bogus'");
    expect_error("train --epochs", 2, "--epochs needs a value");
    expect_error("train --epochs 2x", 2, "expects a number");
    expect_error("train --epochs 0", 2, "must be between");
    expect_error("train --lr nan", 2, "expects a number");
    expect_error("train --batch-size 1.5", 2, "whole number");
    expect_error("train --model nope", 2, "unknown model 'nope'");
    expect_error("train --optimizer rmsprop", 2, "unknown optimizer");
    expect_error("train stray", 2, "unexpected argument");
    expect_error("eval", 2, "--checkpoint FILE is required");
    expect_error("frobnicate", 2, "unknown command");
}

MT_TEST(cli_help_exits_0) {
    const char *cmds[] = {"--help", "train --help", "eval --help", "models --help"};
    for (int k = 0; k < 4; k++) {
        cli_result r;
        cli_run(&r, cmds[k]);
        CHECK_MSG(r.status == 0 && strstr(r.out, "usage: mytorch"), "mytorch %s: exit %d", cmds[k], r.status);
    }
}

MT_TEST(cli_missing_data_folder) {
    expect_error("train --data /nonexistent/mnist --epochs 1", 1, "MNIST folder '/nonexistent/mnist' not found");
}

MT_TEST(cli_corrupt_and_truncated_idx) {
    char dir[256], cmd[1024];
    cli_tempdir(dir, sizeof dir);
    /* Four files with the right names: valid labels, a truncated training-image file. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && printf '\\000\\000\\010\\003\\000\\000\\000\\002\\000\\000\\000\\034\\000\\000\\000\\034abc' > train-images-idx3-ubyte"
             " && printf '\\000\\000\\010\\001\\000\\000\\000\\002\\001\\002' > train-labels-idx1-ubyte"
             " && cp train-images-idx3-ubyte t10k-images-idx3-ubyte && cp train-labels-idx1-ubyte t10k-labels-idx1-ubyte",
             dir);
    REQUIRE(system(cmd) == 0);
    char args[1024];
    snprintf(args, sizeof args, "train --data '%s' --epochs 1 --out '%s/run'", dir, dir);
    expect_error(args, 1, "train-images-idx3-ubyte");
    /* Bad magic. */
    snprintf(cmd, sizeof cmd, "cd '%s' && printf 'garbage-not-idx-at-all' > train-images-idx3-ubyte", dir);
    REQUIRE(system(cmd) == 0);
    expect_error(args, 1, "magic");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

MT_TEST(cli_checkpoint_of_another_model) {
    expect_error("eval --model fcn --checkpoint '" REF_LENET "'", 1, "does not match");
    expect_error("eval --checkpoint /nonexistent.safetensors", 1, "/nonexistent.safetensors");
}

MT_TEST(cli_corrupt_checkpoint) {
    char dir[256], path[300], args[512];
    cli_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fputs("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", f);
    fclose(f);
    snprintf(args, sizeof args, "eval --checkpoint '%s'", path);
    expect_error(args, 1, "bad.safetensors");
    remove(path);
    rmdir(dir);
}
