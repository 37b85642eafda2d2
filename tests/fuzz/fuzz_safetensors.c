/* libFuzzer target for the safetensors reader and the JSON parser under it.
 * Build: clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc src/core/error.c src/io/json.c src/io/safetensors.c tests/fuzz/fuzz_safetensors.c -o fuzz_st && ./fuzz_st CORPUS_DIR
 * Every input must give MT_OK or an error with a message and an empty *out, with no
 * crash, no out-of-bounds access and no leak. */
#include "mytorch/io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One temp file for the whole run, made on the first input and removed at exit. */
static char tmp_path[64];

static void remove_tmp(void) { unlink(tmp_path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tmp_path[0]) {
        snprintf(tmp_path, sizeof tmp_path, "/tmp/mt_fuzz_st_XXXXXX");
        int fd = mkstemp(tmp_path);
        if (fd < 0) abort(); /* the harness itself cannot run: not an input's fault */
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    mt_safetensors st;
    mt_error err = {0};
    mt_status s = mt_safetensors_read(tmp_path, &st, &err);
    if (s == MT_OK) {
        for (int i = 0; i < st.n_tensors; i++) {
            const mt_st_tensor *t = &st.tensors[i];
            size_t bytes = (size_t)t->numel * (t->dtype == MT_DTYPE_I64 ? 8 : 4);
            volatile unsigned char sink = 0;
            for (size_t b = 0; b < bytes; b++) sink ^= ((const unsigned char *)t->data)[b]; /* ASan checks */
            (void)sink;
        }
        mt_safetensors_free(&st);
    } else if (err.msg[0] == '\0' || st.tensors || st.n_tensors || st.n_meta) {
        abort(); /* a failure must explain itself and leave *out empty */
    }
    return 0;
}
