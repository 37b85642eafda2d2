/* mytorch file formats: safetensors (checkpoints and test fixtures).
 *
 * safetensors: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the raw little-endian data.
 * The reader validates everything before it trusts it: header length against the file
 * size, JSON syntax, dtypes, shapes against byte ranges, ranges inside the data and not
 * overlapping. It accepts F32 and I64 tensors. */
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
