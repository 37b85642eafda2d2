/* The CLI under bad input: every mistake gets one clear line on stderr and a non-zero
 * exit, never a crash. (Training itself is tested in e2e_train.c.) */
#include "cli_run.h"
#include "test.h"

#include "mytorch/io.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_LENET MT_SOURCE_DIR "/../shared/reference-weights/lenet-reference.safetensors"

MT_TEST(cli_rejects_bad_flags_with_status_2) {
    cli_expect_error("train --bogus", 2, "unknown flag '--bogus'");
    cli_expect_error("train --epochs", 2, "--epochs needs a value");
    cli_expect_error("train --epochs 2x", 2, "expects a number");
    cli_expect_error("train --epochs 0", 2, "must be between");
    cli_expect_error("train --lr nan", 2, "expects a number");
    cli_expect_error("train --batch-size 1.5", 2, "whole number");
    cli_expect_error("train --model nope", 2, "unknown model 'nope'");
    cli_expect_error("train --optimizer rmsprop", 2, "unknown optimizer");
    cli_expect_error("train stray", 2, "unexpected argument");
    cli_expect_error("eval", 2, "--checkpoint FILE is required");
    cli_expect_error("frobnicate", 2, "unknown command");
}

MT_TEST(cli_reproduce_rejects_bad_lists) {
    char dir[256], path[300], args[700];
    cli_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/list.tsv", dir);
    const char *lists[][2] = {
        {"table\tt\tTitle\n", ":1: expected 4 tab-separated fields"},
        {"table\tt\tTitle\tNote\nx\tnope\t-\t--model cnn1\n", ":2: unknown table 'nope'"},
        {"table\tt\tTitle\tNote\nx\tt\t-\t--model cnn1 --out elsewhere\n", ":2: --out is set by mytorch reproduce"},
        {"table\tt\tTitle\tNote\nx\tt\t-\t--lr 0.1\n", ":2: the flags need --model"},
        {"table\tt\tTitle\tNote\nx\tt\t-\t--model cnn1\nx\tt\t-\t--model fcn\n", ":3: experiment 'x' is listed twice"},
    };
    for (int k = 0; k < 5; k++) {
        FILE *f = fopen(path, "w");
        REQUIRE(f);
        fputs(lists[k][0], f);
        fclose(f);
        snprintf(args, sizeof args, "reproduce --dry-run --list '%s'", path);
        cli_expect_error(args, 1, lists[k][1]);
    }
    snprintf(args, sizeof args, "reproduce --dry-run --list '%s/experiments/list.tsv' nope", MT_SOURCE_DIR);
    cli_expect_error(args, 2, "no experiment or table 'nope'");
    cli_expect_error("reproduce --list /nonexistent/list.tsv", 1, "/nonexistent/list.tsv");
    remove(path);
    rmdir(dir);
}

MT_TEST(cli_help_exits_0) {
    const char *cmds[] = {"--help", "train --help", "eval --help", "models --help", "reproduce --help"};
    for (int k = 0; k < 5; k++) {
        cli_result r;
        cli_run(&r, cmds[k]);
        CHECK_MSG(r.status == 0 && strstr(r.out, "usage: mytorch"), "mytorch %s: exit %d", cmds[k], r.status);
    }
}

MT_TEST(cli_missing_data_folder) {
    cli_expect_error("train --data /nonexistent/mnist --epochs 1", 1, "MNIST folder '/nonexistent/mnist' not found");
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
    cli_expect_error(args, 1, "train-images-idx3-ubyte");
    /* Bad magic. */
    snprintf(cmd, sizeof cmd, "cd '%s' && printf 'garbage-not-idx-at-all' > train-images-idx3-ubyte", dir);
    REQUIRE(system(cmd) == 0);
    cli_expect_error(args, 1, "magic");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

MT_TEST(cli_checkpoint_of_another_model) {
    cli_expect_error("eval --model fcn --checkpoint '" REF_LENET "'", 1, "does not match");
    cli_expect_error("eval --checkpoint /nonexistent.safetensors", 1, "/nonexistent.safetensors");
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
    cli_expect_error(args, 1, "bad.safetensors");
    remove(path);
    rmdir(dir);
}

/* ---- every flag, and flags that need another ------------------------------------------ */

MT_TEST(cli_validates_every_flag) {
    static const struct {
        const char *args, *needle;
    } cases[] = {
        /* types and ranges, one or two per flag */
        {"train --epochs -1", "--epochs must be between 1 and 100000"},
        {"train --epochs 100001", "--epochs must be between"},
        {"train --epochs 1e3", "--epochs expects a whole number"},
        {"train --epochs=", "--epochs expects a number, got ''"},
        {"train --batch-size 0", "--batch-size must be between 1 and"},
        {"train --batch-size 0x10", "--batch-size expects a number, got '0x10'"},
        {"train --lr .", "--lr expects a number"},
        {"train --lr 1e", "--lr expects a number"},
        {"train --lr -0.1", "--lr must be between 0 and"},
        {"train --lr inf", "--lr expects a number, got 'inf'"},
        {"train --lr 1e999", "--lr expects a number"},
        {"train --momentum -1", "--momentum must be between"},
        {"train --weight-decay abc", "--weight-decay expects a number"},
        {"train --seed 4294967296", "--seed must be between 0 and 4294967295"},
        {"train --seed -1", "--seed must be between"},
        {"train --threads 2000", "--threads must be between 0 and 1024"},
        {"train --data ''", "--data needs a non-empty value"},
        {"train --out ''", "--out needs a non-empty value"},
        {"train --model ''", "--model needs a non-empty value"},
        {"train --act swish --model cnn2", "unknown activation 'swish'"},
        {"train --no-bn=1 --model lenet", "--no-bn takes no value"},
        {"train --loss hinge", "unknown loss 'hinge'"},
        {"train --max-steps -1", "--max-steps must be between 0 and"},
        {"train --checkpoint-every 0", "--checkpoint-every must be between 1 and"},
        {"train --resume ''", "--resume needs a non-empty value"},
        {"train --detect-anomaly=no", "--detect-anomaly takes no value"},
        {"train --augment=yes", "--augment takes no value"},
        {"train --augment-copies 11", "--augment-copies must be between 0 and 10"},
        {"train --schedule linear", "unknown schedule 'linear'"},
        {"train --schedule step --step-size 0", "--step-size must be between 1 and"},
        {"train --schedule step --gamma 1.5", "--gamma must be between 0 and 1"},
        {"train --schedule cosine --warmup -5", "--warmup must be between 0 and"},
        {"train --schedule cosine --min-lr nan", "--min-lr expects a number"},
        {"train --clip-grad -1", "--clip-grad must be between 0 and"},
        {"train --label-smoothing 1.5", "--label-smoothing must be between 0 and 1"},
        {"train --best-by f1", "--best-by takes 'accuracy' or 'loss', not 'f1'"},
        {"train --model vit --depth 0", "--depth must be between 1 and 64"},
        {"train --model vit --width 5000", "--width must be between 1 and 4096"},
        {"train --model vit --heads 0", "--heads must be between 1 and 256"},
        {"train --model vit --mlp 2.5", "--mlp expects a whole number"},
        {"train --model vit --patch 29", "--patch must be between 1 and 28"},
        {"train --model vit --dropout 1", "--dropout must be between 0 and 0.999"},
        /* combinations */
        {"train --model fcn --act relu", "--act applies to cnn2 and --no-bn to lenet only"},
        {"train --model cnn2 --no-bn", "--act applies to cnn2 and --no-bn to lenet only"},
        {"train --loss mse --label-smoothing 0.1", "--label-smoothing applies to the ce loss only"},
        {"train --model fcn --depth 4", "--depth applies to the vit model only"},
        {"train --model vit --width 60 --heads 8", "--width must be a multiple of --heads"},
        {"train --model vit --patch 5", "--patch must divide 28"},
        {"train --optimizer adam --momentum 0.9", "--momentum applies with --optimizer sgd only"},
        {"train --step-size 2", "--step-size applies with --schedule step only"},
        {"train --schedule cosine --gamma 0.5", "--gamma applies with --schedule step only"},
        {"train --warmup 10", "--warmup applies with --schedule cosine only"},
        {"train --schedule step --min-lr 0.001", "--min-lr applies with --schedule cosine only"},
        /* eval */
        {"eval --checkpoint x --batch-size 0", "--batch-size must be between 1 and"},
        {"eval --checkpoint x --threads -1", "--threads must be between 0 and 1024"},
        {"eval --checkpoint ''", "--checkpoint needs a non-empty value"},
        {"eval --checkpoint x --json=1", "--json takes no value"},
        {"eval --checkpoint x --dump-count 5", "--dump-count applies with --dump-logits only"},
        {"eval --checkpoint x --dump-logits y --dump-count 0", "--dump-count must be between 1 and"},
        {"eval --checkpoint x --model nope", "unknown model 'nope'"},
        {"eval --checkpoint x extra", "unexpected argument 'extra'"},
        {"models --all", "unexpected argument '--all'"},
    };
    /* A case accepted by mistake fails fast on the missing folder instead of training. */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[256];
        snprintf(args, sizeof args, "%s%s", cases[k].args,
                 strncmp(cases[k].args, "train", 5) == 0 ? " --data /nonexistent-mnist" : "");
        cli_expect_error(args, 2, cases[k].needle);
    }
}

/* ---- bad folders, files and disks ------------------------------------------------------ */

/* Writes an IDX file of unsigned bytes: header for dims, then (i * 7 + salt) % 10 for
 * each byte (valid labels and dim pixels). */
static bool write_idx(const char *path, int ndim, const uint32_t *dims, int salt) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    uint8_t head[4 + 16] = {0, 0, 8, (uint8_t)ndim};
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        for (int k = 0; k < 4; k++) head[4 + 4 * d + k] = (uint8_t)(dims[d] >> (24 - 8 * k));
        n *= dims[d];
    }
    bool ok = fwrite(head, 1, 4 + 4 * (size_t)ndim, f) == 4 + 4 * (size_t)ndim;
    for (size_t i = 0; ok && i < n; i++) ok = fputc((int)((i * 7 + (size_t)salt) % 10), f) != EOF;
    return fclose(f) == 0 && ok;
}

/* A small MNIST folder in dir/name: 8 training and 8 test images of 28 x 28. */
static bool write_mnist(const char *dir, const char *name, char *path, size_t n) {
    char p[512];
    snprintf(path, n, "%s/%s", dir, name);
    if (mkdir(path, 0700) != 0) return false;
    const char *split[2] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", path, split[s]);
        if (!write_idx(p, 3, (uint32_t[]){8, 28, 28}, s)) return false;
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", path, split[s]);
        if (!write_idx(p, 1, (uint32_t[]){8}, s + 1)) return false;
    }
    return true;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Runs a shell command in dir (for setting up a case); a failure fails the test. */
static void sh_in(const char *dir, const char *command) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, command);
    CHECK_MSG(system(cmd) == 0, "setup failed: %s", cmd);
}

MT_TEST(cli_rejects_wrong_data_folders) {
    char dir[256], good[320], args[1024], run[320];
    cli_tempdir(dir, sizeof dir);
    REQUIRE(write_mnist(dir, "good", good, sizeof good));
    snprintf(run, sizeof run, "%s/run", dir);
    static const struct {
        const char *setup; /* in a copy of the good folder */
        const char *needle;
    } cases[] = {
        {"mv train-images-idx3-ubyte x && mv train-labels-idx1-ubyte train-images-idx3-ubyte && "
         "mv x train-labels-idx1-ubyte",
         "train-images-idx3-ubyte: images must have 3 dims (count, rows, cols), this file has 1"},
        {"cp t10k-labels-idx1-ubyte train-labels-idx1-ubyte && head -c 20 t10k-labels-idx1-ubyte > t10k-labels-idx1-ubyte."
         "new && printf '\\000\\000\\010\\001\\000\\000\\000\\007' > t10k-labels-idx1-ubyte && "
         "tail -c +9 t10k-labels-idx1-ubyte.new | head -c 7 >> t10k-labels-idx1-ubyte && rm t10k-labels-idx1-ubyte.new",
         "t10k-images-idx3-ubyte holds 8 images but"},
        {"cp train-images-idx3-ubyte t10k-images-idx3-ubyte && cp train-labels-idx1-ubyte t10k-labels-idx1-ubyte",
         "the test files (t10k-*) hold the same images and labels as the training files"},
        {": > train-labels-idx1-ubyte", "train-labels-idx1-ubyte: empty file (not an IDX file)"},
        {"rm t10k-images-idx3-ubyte && mkdir t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte: not a regular file"},
        {"rm t10k-labels-idx1-ubyte", "MNIST file missing: neither"},
        {"head -c 100 train-images-idx3-ubyte > x && mv x train-images-idx3-ubyte",
         "truncated: expected 6272 bytes of data, file has 84"},
        {"gzip train-images-idx3-ubyte && printf 'x' | dd of=train-images-idx3-ubyte.gz bs=1 seek=40 conv=notrunc "
         "2>/dev/null",
         "train-images-idx3-ubyte.gz: gzip data is corrupt"},
        {"printf '\\000\\000\\010\\003\\000\\000\\000\\010\\000\\000\\000\\002\\000\\000\\000\\003' > t10k-images-idx3-ubyte"
         " && head -c 48 train-images-idx3-ubyte | tail -c 48 >> t10k-images-idx3-ubyte",
         "the test images are 2 x 3 pixels; the models take 28 x 28"},
        {"printf 'not an idx file at all' > train-images-idx3-ubyte", "bad IDX magic"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char copy[320], cmd[1024];
        snprintf(copy, sizeof copy, "%s/case%zu", dir, k);
        snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", good, copy);
        REQUIRE(system(cmd) == 0);
        sh_in(copy, cases[k].setup);
        snprintf(args, sizeof args, "train --data '%s' --out '%s' --epochs 1 --batch-size 4", copy, run);
        cli_expect_error(args, 1, cases[k].needle);
        CHECK_MSG(!exists(run), "case %zu: the output folder was made before the data was checked", k);
    }
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
}

/* The end of stderr is one "mytorch: ..." line (progress lines may come before it). */
static void expect_last_error(const cli_result *r, const char *what, const char *needle) {
    CHECK_MSG(r->status == 1, "%s: exit %d, expected 1 (stderr: %s)", what, r->status, r->err);
    const char *line = strstr(r->err, "mytorch: ");
    CHECK_MSG(line && !strstr(line + 1, "mytorch: ") && cli_lines(line) == 1, "%s: not one error line at the end: %s",
              what, r->err);
    CHECK_MSG(line && strstr(line, needle), "%s: stderr lacks '%s': %s", what, needle, r->err);
}

/* No leftover temporary file in run, every .safetensors there loads, and every .jsonl
 * ends with a whole line. */
static void expect_no_partial_files(const char *run, const char *what) {
    DIR *d = opendir(run);
    if (!d) return; /* nothing written at all */
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[600];
        size_t len = strlen(e->d_name);
        snprintf(path, sizeof path, "%s/%s", run, e->d_name);
        CHECK_MSG(len < 4 || strcmp(e->d_name + len - 4, ".tmp") != 0, "%s: %s left behind", what, path);
        if (len > 12 && strcmp(e->d_name + len - 12, ".safetensors") == 0) {
            mt_safetensors st;
            mt_error err = {0};
            CHECK_MSG(mt_safetensors_read(path, &st, &err) == MT_OK, "%s: %s", what, err.msg);
            mt_safetensors_free(&st);
        }
        if (len > 6 && strcmp(e->d_name + len - 6, ".jsonl") == 0) {
            FILE *f = fopen(path, "rb");
            int last = '\n';
            if (f && fseek(f, -1, SEEK_END) == 0) last = fgetc(f);
            if (f) fclose(f);
            CHECK_MSG(last == '\n', "%s: %s ends inside a line", what, path);
        }
    }
    closedir(d);
}

MT_TEST(cli_unwritable_output_and_full_disk) {
    char dir[256], data[320], args[1024], run[320];
    cli_tempdir(dir, sizeof dir);
    REQUIRE(write_mnist(dir, "mnist", data, sizeof data));

    /* --out under a regular file, an existing file, and somewhere nothing can be made. */
    sh_in(dir, ": > file");
    snprintf(args, sizeof args, "train --data '%s' --out '%s/file/run' --epochs 1", data, dir);
    cli_expect_error(args, 1, "/file/run': Not a directory");
    snprintf(args, sizeof args, "train --data '%s' --out '%s/file' --epochs 1", data, dir);
    cli_expect_error(args, 1, "cannot create output folder");
    snprintf(args, sizeof args, "train --data '%s' --out /proc/mytorch-run --epochs 1", data);
    cli_expect_error(args, 1, "cannot create output folder '/proc/mytorch-run'");
    snprintf(args, sizeof args, "eval --checkpoint '" REF_LENET "' --data '%s' --dump-logits '%s/file/x'", data, dir);
    if (exists(REF_LENET)) cli_expect_error(args, 1, "/file/x: cannot create");

    /* A full disk, as a file-size limit: the checkpoint write fails with EFBIG. The
     * process must say so and leave no temporary or half-written checkpoint. */
    cli_result r;
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(args, sizeof args, "train --data '%s' --out '%s' --epochs 2 --batch-size 4", data, run);
    cli_run_after(&r, "ulimit -f 16;", args);
    expect_last_error(&r, "ulimit -f 16", "last.safetensors.tmp: File too large");
    expect_no_partial_files(run, "ulimit -f 16");

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
}
