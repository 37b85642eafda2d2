/* libFuzzer target for the safetensors reader and the strict JSON parser under it.
 * Every input must give MT_OK with tensor buffers that hold numel elements, or an error
 * with a message and an empty *out; no crash, no out-of-bounds access, no leak.
 *
 * Build and run from the repository root (clang with libFuzzer):
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       tests/fuzz/fuzz_safetensors.c src/io/safetensors.c src/io/json.c src/core/error.c \
 *       -o /tmp/fuzz_st
 *   mkdir -p /tmp/st_corpus && /tmp/fuzz_st -max_total_time=60 -max_len=4096 /tmp/st_corpus
 * A few small valid files in the corpus (one with metadata, an I64 and a 0-dim tensor)
 * speed up coverage; the reference checkpoints are large, so slow as seeds. */
#include "mytorch/io.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size);
    mt_safetensors st;
    mt_error err = {0};
    if (mt_safetensors_read(path, &st, &err) == MT_OK) {
        volatile unsigned char sink = 0;
        for (int i = 0; i < st.n_tensors; i++) {
            const mt_st_tensor *t = &st.tensors[i];
            size_t bytes = (size_t)t->numel * (t->dtype == MT_DTYPE_I64 ? 8 : 4);
            for (size_t b = 0; b < bytes; b++) sink ^= ((const unsigned char *)t->data)[b]; /* ASan checks */
        }
        (void)sink;
        mt_safetensors_free(&st);
    } else if (err.msg[0] == '\0' || st.tensors || st.n_tensors || st.meta_keys || st.n_meta) {
        abort(); /* a failure must explain itself and leave *out empty */
    }
    return 0;
}
