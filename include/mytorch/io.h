/* mytorch file formats: safetensors (checkpoints and test fixtures).
 *
 * safetensors: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the raw little-endian data.
 * The reader validates everything before it trusts it, and refuses with a message that
 * names the path, the problem and its byte offset:
 *   - a file under 8 bytes, a header length over 100 MB or beyond the file;
 *   - a header that is not strict JSON (RFC 8259: UTF-8, no trailing commas, no NUL
 *     escapes or lone surrogates, nesting under MT_JSON_MAX_DEPTH), not an object, or
 *     with a key twice in one object;
 *   - a dtype other than F32 and I64; a shape with more than MT_MAX_DIMS dims, a negative
 *     or fractional dim, or an element count that overflows;
 *   - data_offsets that are not two non-negative integers [begin, end] with begin <= end
 *     inside the data section, or whose length is not numel x the dtype's size;
 *   - byte ranges that do not tile the data section, as the official safetensors reader
 *     requires: sorted by offset, the first begins at 0, each begins where the one before
 *     ends (no gap, no overlap) and the last ends at the end of the file. The header may
 *     list tensors in any order.
 * It accepts F32 and I64 tensors; "__metadata__" must map strings to strings. Names and
 * shapes against a model are checked by mt_module_load_state_dict (checkpoint.h), which lists
 * every missing, unexpected and mis-shaped tensor. */
#ifndef MYTORCH_IO_H
#define MYTORCH_IO_H

#include "mytorch/core.h"

typedef enum { MT_DTYPE_F32, MT_DTYPE_I64 } mt_dtype;

/* One named tensor of a safetensors file. */
typedef struct {
    char *name;
    mt_dtype dtype;
    int ndim;
    int64_t shape[MT_MAX_DIMS];
    int64_t numel;
    void *data; /* float* for F32, int64_t* for I64; numel elements */
} mt_st_tensor;

/* A whole file in memory. Owned by the caller: mt_safetensors_free(). */
typedef struct {
    mt_st_tensor *tensors;
    int n_tensors;
    char **meta_keys;
    char **meta_values;
    int n_meta;
} mt_safetensors;

/* Reads and validates path. On failure returns the status, fills err with a message
 * naming the path and, where it applies, the byte offset, and leaves *out empty. */
mt_status mt_safetensors_read(const char *path, mt_safetensors *out, mt_error *err);
/* Frees everything the reader allocated; the struct is zeroed. */
void mt_safetensors_free(mt_safetensors *st);
/* The tensor with this name, or NULL. */
const mt_st_tensor *mt_safetensors_get(const mt_safetensors *st, const char *name);
/* The metadata value for key, or NULL. */
const char *mt_safetensors_meta(const mt_safetensors *st, const char *key);

/* Writes n tensors (names unique) and n_meta metadata pairs to path: first to
 * "path.tmp", flushed and synced, then renamed over path, so a crash never leaves a
 * half-written file under the real name. The caller keeps ownership of everything. */
mt_status mt_safetensors_write(const char *path, const mt_st_tensor *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values,
                               int n_meta, mt_error *err);

#endif
