/* libFuzzer target for the safetensors reader and the strict JSON parser under it.
 * Every input must give MT_OK with tensor buffers that hold numel elements, or an error
 * with a message and an empty *out; no crash, no out-of-bounds access, no leak.
 *
 * Build and run with tests/fuzz/run.sh SECONDS fuzz_safetensors (seeds:
 * tests/fuzz/corpus/fuzz_safetensors: small valid files, one with metadata, an I64, a
 * 0-dim and an empty tensor, and near-valid ones). */
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
