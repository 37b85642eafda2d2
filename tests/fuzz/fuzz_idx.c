/* libFuzzer target for the IDX reader: each input is written to a file and read back.
 * Every input must give MT_OK with dims that account for exactly the bytes returned, or
 * an error whose message names the path and an empty *out; no crash, no out-of-bounds
 * access, no leak.
 *
 * Build and run from the repository root (clang with libFuzzer):
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_idx.c src/data/idx.c src/core/error.c -lz -o /tmp/fuzz_idx
 *   mkdir -p /tmp/idx_corpus && /tmp/fuzz_idx -max_total_time=60 /tmp/idx_corpus
 * A few small IDX files in the corpus, plain and gzipped, speed up coverage. */
#include "mytorch/data.h"
#include "fuzz_file.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size);
    mt_idx idx;
    mt_error err = {0};
    if (mt_idx_read(path, &idx, &err) == MT_OK) {
        if (idx.ndim < 1 || idx.ndim > 4 || !idx.data || err.code != MT_OK) abort();
        int64_t n = 1;
        for (int i = 0; i < idx.ndim; i++) n *= idx.dims[i];
        volatile uint8_t sum = 0;
        for (int64_t i = 0; i < n; i++) sum += idx.data[i]; /* ASan checks the length */
        (void)sum;
    } else if (idx.data || err.code == MT_OK || !strstr(err.msg, path)) {
        abort();
    }
    mt_idx_free(&idx);
    return 0;
}
