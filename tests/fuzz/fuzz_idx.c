/* libFuzzer target for the IDX reader, plain and gzip. The first byte of each input picks
 * how the rest reaches the reader: odd, gzip-compressed by the harness (so mutations of
 * the IDX bytes reach the gzip path through a valid stream); even, written as it is (so
 * raw gzip files, corrupt or not, are fuzzed too). Every input must give MT_OK with dims
 * that account for exactly the bytes returned, or an error whose message names the path
 * and an empty *out; no crash, no out-of-bounds access, no leak.
 *
 * Build and run with tests/fuzz/run.sh SECONDS fuzz_idx (seeds: tests/fuzz/corpus/fuzz_idx,
 * each a mode byte and a small IDX file, valid or nearly). */
#include "mytorch/data.h"
#include "fuzz_file.h"

#include <string.h>
#include <zlib.h>

/* Writes data gzip-compressed to the scratch file; aborts only if the harness cannot. */
static const char *write_gzip(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(NULL, 0);
    gzFile gz = gzopen(path, "wb");
    if (!gz || (size && gzwrite(gz, data, (unsigned)size) != (int)size) || gzclose(gz) != Z_OK) abort();
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *path = data[0] & 1 ? write_gzip(data + 1, size - 1) : fuzz_write_file(data + 1, size - 1);
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
