/* Data: IDX files (plain and gzip, and hostile ones), MNIST folders, and the loader. */
#define _GNU_SOURCE
#include "mytorch/data.h"
#include "test.h"

#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ---- helpers: a scratch folder and files written into it ----------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

/* A fresh folder under $TMPDIR (or /tmp); remove it with rm_tree(). */
static bool make_tmpdir(char *dir, size_t n) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, n, "%s/mt_data_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) != NULL;
}

static void rm_tree(const char *dir) { nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

/* Writes n bytes to dir/name (gzip-compressed when gz); path gets the full name. */
static bool write_file(const char *dir, const char *name, const void *bytes, size_t n, bool gz,
                       char *path, size_t path_n) {
    snprintf(path, path_n, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb1");
        if (!f) return false;
        bool ok = n == 0 || gzwrite(f, bytes, (unsigned)n) == (int)n;
        return gzclose(f) == Z_OK && ok;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = n == 0 || fwrite(bytes, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* An IDX image in memory: header for dims, then the data (NULL: bytes 0, 1, 2, ...).
 * Returns a malloc'd buffer (caller frees) and its size in *n. */
static uint8_t *idx_bytes(int ndim, const uint32_t *dims, const uint8_t *data, size_t *n) {
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= dims[i];
    *n = 4 + 4 * (size_t)ndim + count;
    uint8_t *b = malloc(*n);
    if (!b) return NULL;
    b[0] = 0, b[1] = 0, b[2] = 0x08, b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++) b[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
    uint8_t *payload = b + 4 + 4 * ndim;
    for (size_t i = 0; i < count; i++) payload[i] = data ? data[i] : (uint8_t)i;
    return b;
}

/* Writes an IDX file of the given dims and data to dir/name. */
static bool write_idx(const char *dir, const char *name, int ndim, const uint32_t *dims,
                      const uint8_t *data, bool gz, char *path, size_t path_n) {
    size_t n;
    uint8_t *b = idx_bytes(ndim, dims, data, &n);
    bool ok = b && write_file(dir, name, b, n, gz, path, path_n);
    free(b);
    return ok;
}

/* ---- IDX: round trips ------------------------------------------------------------------ */

static void check_round_trip(bool gz, uint32_t items, uint32_t rows, uint32_t cols) {
    char dir[256], path[512];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    uint32_t dims[3] = {items, rows, cols};
    REQUIRE(write_idx(dir, "images", 3, dims, NULL, gz, path, sizeof path));

    mt_idx idx;
    mt_error err = {0};
    CHECK(mt_idx_read(path, &idx, &err) == MT_OK);
    CHECK_MSG(err.code == MT_OK, "unexpected error: %s", err.msg);
    CHECK(idx.ndim == 3);
    CHECK(idx.dims[0] == items && idx.dims[1] == rows && idx.dims[2] == cols);
    if (idx.data) {
        size_t n = (size_t)items * rows * cols, bad = 0;
        for (size_t i = 0; i < n; i++) bad += idx.data[i] != (uint8_t)i;
        CHECK_MSG(bad == 0, "%zu of %zu bytes differ", bad, n);
    }
    mt_idx_free(&idx);
    CHECK(idx.data == NULL);
    rm_tree(dir);
}

MT_TEST(idx_reads_plain_file) { check_round_trip(false, 3, 2, 5); }

MT_TEST(idx_reads_gzip_file) { check_round_trip(true, 3, 2, 5); }

/* Larger than the gzip reader's first buffer, so the buffer has to grow. */
MT_TEST(idx_reads_large_gzip_file) { check_round_trip(true, 5, 500, 1000); }

MT_TEST(idx_reads_1d_labels) {
    char dir[256], path[512];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    uint8_t labels[4] = {7, 2, 1, 0};
    REQUIRE(write_idx(dir, "labels", 1, (uint32_t[]){4}, labels, false, path, sizeof path));
    mt_idx idx;
    mt_error err = {0};
    CHECK(mt_idx_read(path, &idx, &err) == MT_OK);
    CHECK(idx.ndim == 1 && idx.dims[0] == 4);
    CHECK(idx.data && memcmp(idx.data, labels, 4) == 0);
    mt_idx_free(&idx);
    rm_tree(dir);
}

/* ---- IDX: hostile files ----------------------------------------------------------------- */

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t n;
    bool gz;
    const char *expect; /* a phrase the message must contain */
} hostile_case;

/* Reads a file that must be rejected: a non-OK status, a message that names the path and
 * says what is wrong, and nothing left allocated. */
static void check_rejected(const char *path, const char *expect) {
    mt_idx idx;
    mt_error err = {0};
    mt_status st = mt_idx_read(path, &idx, &err);
    CHECK_MSG(st != MT_OK, "%s: accepted", path);
    CHECK_MSG(err.code == st, "%s: status %d but err.code %d", path, st, err.code);
    CHECK_MSG(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
    CHECK_MSG(strstr(err.msg, expect) != NULL, "message lacks '%s': %s", expect, err.msg);
    CHECK(idx.data == NULL);
    mt_idx_free(&idx);
}

MT_TEST(idx_rejects_hostile_files) {
    char dir[256], path[512];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    size_t good_n;
    uint8_t *good = idx_bytes(3, (uint32_t[]){2, 3, 4}, NULL, &good_n);
    REQUIRE(good);
    uint8_t *trailing = malloc(good_n + 3);
    REQUIRE(trailing);
    memcpy(trailing, good, good_n);
    memset(trailing + good_n, 0xAB, 3);

    static const uint8_t bad_magic[] = {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9};
    static const uint8_t float_type[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    static const uint8_t zero_dims[] = {0, 0, 8, 0};
    static const uint8_t five_dims[] = {0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
                                        0, 0, 0, 1, 0, 0, 0, 1, 7};
    static const uint8_t zero_dim[] = {0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 5};
    /* 2^30 x 2^30 bytes promised by a 12-byte file: must fail before allocating. */
    static const uint8_t huge[] = {0, 0, 8, 2, 0x40, 0, 0, 0, 0x40, 0, 0, 0};
    static const uint8_t max_dims[] = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF,
                                       0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    static const uint8_t short_header[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0};
    static const uint8_t two_bytes[] = {0, 0};

    const hostile_case cases[] = {
        {"truncated", good, good_n - 5, false, "truncated: expected 24 bytes of data, file has 19"},
        {"truncated.gz", good, good_n - 5, true, "truncated"},
        {"trailing", trailing, good_n + 3, false, "3 trailing bytes"},
        {"trailing.gz", trailing, good_n + 3, true, "trailing bytes"},
        {"bad_magic", bad_magic, sizeof bad_magic, false, "bad IDX magic 0x12345678"},
        {"float_type", float_type, sizeof float_type, false, "type code 0x0d"},
        {"zero_dims", zero_dims, sizeof zero_dims, false, "0 dims"},
        {"five_dims", five_dims, sizeof five_dims, false, "5 dims"},
        {"zero_dim", zero_dim, sizeof zero_dim, false, "dim 0 is 0"},
        {"huge", huge, sizeof huge, false, "refusing to allocate"},
        {"huge.gz", huge, sizeof huge, true, "refusing to allocate"},
        {"max_dims", max_dims, sizeof max_dims, false, "refusing to allocate"},
        {"short_header", short_header, sizeof short_header, false, "truncated header"},
        {"two_bytes", two_bytes, sizeof two_bytes, false, "truncated header"},
        {"empty", NULL, 0, false, "empty file"},
        {"empty.gz", NULL, 0, true, "empty after decompression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const hostile_case *c = &cases[i];
        if (!write_file(dir, c->name, c->bytes, c->n, c->gz, path, sizeof path)) {
            CHECK_MSG(false, "could not write %s", c->name);
            continue;
        }
        check_rejected(path, c->expect);
    }
    free(good);
    free(trailing);

    snprintf(path, sizeof path, "%s/no-such-file", dir);
    check_rejected(path, "cannot open");
    check_rejected(dir, "not a regular file");
    rm_tree(dir);
}

/* A gzip stream whose compressed bytes were damaged must fail, not return garbage. */
MT_TEST(idx_rejects_corrupt_gzip) {
    char dir[256], path[512];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    REQUIRE(write_idx(dir, "ok.gz", 3, (uint32_t[]){4, 8, 8}, NULL, true, path, sizeof path));
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, -6, SEEK_END); /* inside the CRC-32 of the gzip trailer */
    fputc(0x5A ^ 0xFF, f);
    fclose(f);
    check_rejected(path, "gzip");
    rm_tree(dir);
}

/* Caps the address space of this process at what it maps now plus extra bytes, so that a
 * large allocation fails. Not under AddressSanitizer or valgrind, which map terabytes or
 * their own tools' memory; there the messages alone are checked. */
static bool cap_address_space(size_t extra) {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) return false;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    bool ok = f && fscanf(f, "%lu", &pages) == 1;
    if (f) fclose(f);
    if (!ok) return false;
    rlim_t now = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
    struct rlimit rl = {now + extra, now + extra};
    return setrlimit(RLIMIT_AS, &rl) == 0;
#endif
}

/* Headers that promise up to 2^31 bytes of data in files of a few bytes must be refused
 * before the data buffer is allocated: the reads run in a child whose address space is
 * capped 64 MiB above what it already maps, so a reader that allocated first would fail
 * with "out of memory" instead of the message checked here. */
MT_TEST(idx_refuses_absurd_counts_before_allocating) {
    char dir[256];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    typedef struct {
        const char *name;
        uint32_t dims[3];
        int ndim;
        bool gz;
        const char *expect;
    } absurd_case;
    static const absurd_case cases[] = {
        {"2^31-images", {1u << 31, 28, 28}, 3, false, "dims promise more than 2147483648 bytes (dim 1 is 28)"},
        {"2^31-images.gz", {1u << 31, 28, 28}, 3, true, "refusing to allocate"},
        {"1M-images", {1000000, 28, 28}, 3, false, "truncated: expected 784000000 bytes of data, file has 4"},
        {"1M-images.gz", {1000000, 28, 28}, 3, true, "expected 784000000 bytes of data, gzip stream has 4"},
        {"2^31-labels", {1u << 31}, 1, false, "truncated: expected 2147483648 bytes of data, file has 4"},
        {"2^31-labels.gz", {1u << 31}, 1, true, "expected 2147483648 bytes of data, gzip stream has 4"},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    char paths[N][512];
    for (int i = 0; i < N; i++) {
        /* The header and 4 bytes of data: 20 bytes for 3 dims. */
        uint8_t b[4 + 12 + 4] = {0, 0, 8, (uint8_t)cases[i].ndim};
        for (int d = 0; d < cases[i].ndim; d++)
            for (int k = 0; k < 4; k++) b[4 + 4 * d + k] = (uint8_t)(cases[i].dims[d] >> (24 - 8 * k));
        size_t n = 4 + 4 * (size_t)cases[i].ndim + 4;
        REQUIRE(write_file(dir, cases[i].name, b, n, cases[i].gz, paths[i], sizeof paths[i]));
    }
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cap_address_space(64u << 20);
        int bad = 0;
        for (int i = 0; i < N; i++) {
            mt_idx idx;
            mt_error err = {0};
            mt_status st = mt_idx_read(paths[i], &idx, &err);
            if (st != MT_ERR_FORMAT || !strstr(err.msg, cases[i].expect)) {
                printf("    %s: status %d, message \"%s\", expected \"%s\"\n", cases[i].name, (int)st, err.msg,
                       cases[i].expect);
                bad++;
            }
            mt_idx_free(&idx);
        }
        fflush(stdout);
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a refusal went wrong (status 0x%x)", status);
    rm_tree(dir);
}

/* ---- MNIST folders ------------------------------------------------------------------------ */

/* Writes a tiny MNIST split (n images of 2x3, labels given) into dir. */
static bool write_split(const char *dir, const char *split, uint32_t n_images,
                        const uint8_t *labels, uint32_t n_labels, bool gz) {
    char name[64], path[512];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", split, gz ? ".gz" : "");
    if (!write_idx(dir, name, 3, (uint32_t[]){n_images, 2, 3}, NULL, gz, path, sizeof path))
        return false;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", split, gz ? ".gz" : "");
    return write_idx(dir, name, 1, (uint32_t[]){n_labels}, labels, gz, path, sizeof path);
}

MT_TEST(mnist_loads_plain_and_gzip_folders) {
    char dir[256];
    REQUIRE(make_tmpdir(dir, sizeof dir));
    const uint8_t labels[4] = {3, 1, 4, 1};
    REQUIRE(write_split(dir, "train", 4, labels, 4, false));
    REQUIRE(write_split(dir, "t10k", 4, labels, 4, true));
    for (int train = 0; train <= 1; train++) {
        mt_dataset ds;
        mt_error err = {0};
        CHECK_MSG(mt_mnist_load(dir, train, &ds, &err) == MT_OK, "%s", err.msg);
        CHECK(ds.n == 4 && ds.rows == 2 && ds.cols == 3);
        CHECK(ds.labels && memcmp(ds.labels, labels, 4) == 0);
        CHECK(ds.images && ds.images[7] == 7);
        mt_dataset_free(&ds);
        CHECK(ds.images == NULL && ds.labels == NULL);
    }
    rm_tree(dir);
}

/* Loads the training split of dir, which must fail with a message containing both phrases. */
static void check_mnist_rejected(const char *dir, const char *phrase1, const char *phrase2) {
    mt_dataset ds;
    mt_error err = {0};
    CHECK_MSG(mt_mnist_load(dir, true, &ds, &err) != MT_OK, "%s: accepted", dir);
    CHECK_MSG(strstr(err.msg, phrase1), "message lacks '%s': %s", phrase1, err.msg);
    CHECK_MSG(strstr(err.msg, phrase2), "message lacks '%s': %s", phrase2, err.msg);
    CHECK(ds.images == NULL && ds.labels == NULL);
}

MT_TEST(mnist_rejects_bad_folders) {
    char dir[256], path[512];
    REQUIRE(make_tmpdir(dir, sizeof dir));

    snprintf(path, sizeof path, "%s/nowhere", dir);
    check_mnist_rejected(path, "MNIST folder", "scripts/fetch-mnist.sh");
    check_mnist_rejected(dir, "train-images-idx3-ubyte'", "train-images-idx3-ubyte.gz'");

    const uint8_t bad_label[3] = {1, 12, 3};
    REQUIRE(write_split(dir, "train", 3, bad_label, 3, false));
    check_mnist_rejected(dir, "train-labels-idx1-ubyte", "label 12 at index 1");

    const uint8_t labels[3] = {1, 2, 3};
    REQUIRE(write_split(dir, "train", 4, labels, 3, false));
    check_mnist_rejected(dir, "holds 4 images but", "holds 3 labels");

    REQUIRE(write_idx(dir, "train-images-idx3-ubyte", 2, (uint32_t[]){3, 6}, NULL, false, path,
                      sizeof path));
    check_mnist_rejected(dir, "train-images-idx3-ubyte", "must have 3 dims");
    rm_tree(dir);
}

/* The real data set, when scripts/fetch-mnist.sh has put it in place. */
MT_TEST(mnist_loads_real_data) {
    const char *dir = mt_test_data_dir();
    mt_dataset train, test;
    mt_error err = {0};
    if (mt_mnist_load(dir, true, &train, &err) != MT_OK) {
        mt_test_skip("MNIST not present (scripts/fetch-mnist.sh)");
        return;
    }
    CHECK(train.n == 60000 && train.rows == 28 && train.cols == 28);
    CHECK(train.labels[0] == 5 && train.labels[1] == 0 && train.labels[2] == 4);
    CHECK_MSG(mt_mnist_load(dir, false, &test, &err) == MT_OK, "%s", err.msg);
    CHECK(test.n == 10000 && test.rows == 28 && test.cols == 28);
    CHECK(test.labels && test.labels[0] == 7 && test.labels[1] == 2 && test.labels[2] == 1);

    /* One shuffled epoch in batches of 64: 937 full batches and one of 32. */
    mt_loader l;
    mt_ctx *ctx = mt_ctx_new();
    REQUIRE(mt_loader_init(&l, &train, 64, true, 7, 0.1307f, 0.3081f, &err) == MT_OK);
    CHECK(mt_loader_num_batches(&l) == 938);
    int64_t batches = 0, items = 0, B;
    mt_tensor *x;
    int32_t *y;
    while ((B = mt_loader_next(&l, ctx, &x, &y)) > 0) {
        batches++;
        items += B;
        if (B != 64) CHECK(B == 32 && items == 60000);
        mt_ctx_reset(ctx);
    }
    CHECK(B == 0 && batches == 938 && items == 60000);
    mt_loader_free(&l);
    mt_ctx_free(ctx);
    mt_dataset_free(&train);
    mt_dataset_free(&test);
}

/* ---- the loader -------------------------------------------------------------------------- */

/* n images of 2x2: image i has pixels {i, 0, 128, 255}, label i % 10. Caller frees. */
static mt_dataset toy_dataset(int64_t n) {
    mt_dataset ds = {.n = n, .rows = 2, .cols = 2};
    ds.images = malloc((size_t)n * 4);
    ds.labels = malloc((size_t)n);
    for (int64_t i = 0; ds.images && ds.labels && i < n; i++) {
        uint8_t *im = ds.images + 4 * i;
        im[0] = (uint8_t)i, im[1] = 0, im[2] = 128, im[3] = 255;
        ds.labels[i] = (uint8_t)(i % 10);
    }
    return ds;
}

/* Runs one epoch of a loader over toy_dataset with mean 0, std 1 (so pixel 0 of each
 * image, times 255, is its item number) and writes the items in order into seen.
 * Checks each label on the way; returns the size of the last batch, or -1 on error. */
static int64_t run_epoch(mt_loader *l, mt_ctx *ctx, int32_t *seen) {
    mt_loader_start_epoch(l);
    int64_t count = 0, last = -1, B;
    mt_tensor *x;
    int32_t *y;
    while ((B = mt_loader_next(l, ctx, &x, &y)) > 0) {
        CHECK(x->ndim == 4 && x->shape[0] == B && x->shape[1] == 1 && x->shape[2] == 2 &&
              x->shape[3] == 2);
        for (int64_t b = 0; b < B && count + b < l->ds->n; b++) {
            int32_t item = (int32_t)lroundf(x->data[4 * b] * 255.0f);
            CHECK(y[b] == item % 10);
            seen[count + b] = item;
        }
        count += B;
        last = B;
        mt_ctx_reset(ctx);
    }
    return B == 0 && count == l->ds->n ? last : -1;
}

/* True when seen[0..n) holds each of 0..n-1 exactly once. */
static bool is_permutation(const int32_t *seen, int64_t n) {
    bool ok = true;
    char *hit = calloc((size_t)n, 1);
    for (int64_t i = 0; hit && i < n; i++) {
        if (seen[i] < 0 || seen[i] >= n || hit[seen[i]]) ok = false;
        else hit[seen[i]] = 1;
    }
    free(hit);
    return hit != NULL && ok;
}

MT_TEST(loader_batches_cover_every_item_once) {
    enum { N = 10 };
    mt_dataset ds = toy_dataset(N);
    REQUIRE(ds.images && ds.labels);
    mt_ctx *ctx = mt_ctx_new();
    mt_loader l;
    mt_error err = {0};
    REQUIRE(mt_loader_init(&l, &ds, 4, false, 1, 0.0f, 1.0f, &err) == MT_OK);
    CHECK(mt_loader_num_batches(&l) == 3);
    int32_t seen[N];
    CHECK(run_epoch(&l, ctx, seen) == 2); /* 4 + 4 + 2 */
    for (int i = 0; i < N; i++) CHECK(seen[i] == i); /* no shuffle: in order */
    mt_loader_free(&l);

    REQUIRE(mt_loader_init(&l, &ds, 5, true, 1, 0.0f, 1.0f, &err) == MT_OK);
    CHECK(mt_loader_num_batches(&l) == 2);
    for (int epoch = 0; epoch < 3; epoch++) {
        CHECK(run_epoch(&l, ctx, seen) == 5);
        CHECK(is_permutation(seen, N));
    }
    mt_loader_free(&l);
    mt_ctx_free(ctx);
    mt_dataset_free(&ds);
}

MT_TEST(loader_shuffle_is_seeded) {
    enum { N = 200 };
    mt_dataset ds = toy_dataset(N);
    REQUIRE(ds.images && ds.labels);
    mt_ctx *ctx = mt_ctx_new();
    mt_loader a, b, c;
    mt_error err = {0};
    REQUIRE(mt_loader_init(&a, &ds, 32, true, 42, 0.0f, 1.0f, &err) == MT_OK);
    REQUIRE(mt_loader_init(&b, &ds, 32, true, 42, 0.0f, 1.0f, &err) == MT_OK);
    REQUIRE(mt_loader_init(&c, &ds, 32, true, 43, 0.0f, 1.0f, &err) == MT_OK);
    int32_t a1[N], a2[N], b1[N], b2[N], c1[N];
    CHECK(run_epoch(&a, ctx, a1) == 8 && run_epoch(&a, ctx, a2) == 8);
    CHECK(run_epoch(&b, ctx, b1) == 8 && run_epoch(&b, ctx, b2) == 8);
    CHECK(run_epoch(&c, ctx, c1) == 8);
    CHECK(is_permutation(a1, N) && is_permutation(a2, N));
    CHECK(memcmp(a1, b1, sizeof a1) == 0); /* same seed, same orders */
    CHECK(memcmp(a2, b2, sizeof a2) == 0);
    CHECK(memcmp(a1, a2, sizeof a1) != 0); /* a new order each epoch */
    CHECK(memcmp(a1, c1, sizeof a1) != 0); /* another seed, another order */
    mt_loader_free(&a);
    mt_loader_free(&b);
    mt_loader_free(&c);
    mt_ctx_free(ctx);
    mt_dataset_free(&ds);
}

MT_TEST(loader_normalises_pixels) {
    mt_dataset ds = toy_dataset(3);
    REQUIRE(ds.images && ds.labels);
    mt_ctx *ctx = mt_ctx_new();
    mt_loader l;
    mt_error err = {0};
    const float mean = 0.1307f, std = 0.3081f;
    REQUIRE(mt_loader_init(&l, &ds, 8, false, 0, mean, std, &err) == MT_OK);
    mt_tensor *x;
    int32_t *y;
    REQUIRE(mt_loader_next(&l, ctx, &x, &y) == 3); /* one partial batch */
    const int pixels[4] = {2, 0, 128, 255};        /* image 2 */
    for (int k = 0; k < 4; k++)
        CHECK_NEAR(x->data[2 * 4 + k], (pixels[k] / 255.0 - mean) / std, 1e-5);
    CHECK(y[2] == 2);
    CHECK(mt_loader_next(&l, ctx, &x, &y) == 0); /* the epoch is over */
    mt_loader_free(&l);
    mt_ctx_free(ctx);
    mt_dataset_free(&ds);
}

MT_TEST(loader_rejects_bad_arguments) {
    mt_dataset ds = toy_dataset(3);
    REQUIRE(ds.images && ds.labels);
    mt_loader l;
    mt_error err = {0};
    CHECK(mt_loader_init(&l, &ds, 0, false, 0, 0.0f, 1.0f, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "batch_size") != NULL);
    mt_error_clear(&err);
    CHECK(mt_loader_init(&l, &ds, 4, false, 0, 0.0f, 0.0f, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "std") != NULL);
    mt_dataset_free(&ds);
}
