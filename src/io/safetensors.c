/* safetensors reader and writer (the format is described in include/mytorch/io.h).
 *
 * The reader trusts nothing: the header length is checked against the file size and a
 * 100 MB cap, the JSON is parsed strictly (src/io/json.c), and every tensor's dtype,
 * shape and byte range is checked, and the ranges must tile the data section, before a
 * byte of data is read. Each tensor's data is
 * copied into its own 64-byte aligned buffer. Every error names the path and, where one
 * applies, the byte offset in the file.
 *
 * The writer pads the header with spaces so the data starts at a multiple of 8 bytes,
 * as the official writer does, and goes through mt_atomic_file (include/mytorch/file.h). */
#include "mytorch/io.h"
#include "mytorch/file.h"

#include "io/json.h"
#include "io/textbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Tensor bytes are copied to and from memory as they are, and the format is
 * little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mytorch's safetensors I/O assumes a little-endian machine"
#endif

#define ST_MAX_HEADER (100ull * 1024 * 1024) /* the official reader's cap */
#define ST_DATA_ALIGN 8                      /* data starts at a multiple of this */
#define ST_BUF_ALIGN 64                      /* alignment of each tensor's buffer */
#define NO_OFFSET UINT64_MAX

static const char *const META_KEY = "__metadata__";

static size_t dtype_size(mt_dtype d) { return d == MT_DTYPE_I64 ? 8 : 4; }
static const char *dtype_name(mt_dtype d) { return d == MT_DTYPE_I64 ? "I64" : "F32"; }

/* Product of a shape's dims, or -1 when it overflows int64 (dims are >= 0). */
static int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) return 0;
    for (int i = 0; i < ndim; i++) {
        if (numel > INT64_MAX / shape[i]) return -1;
        numel *= shape[i];
    }
    return numel;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

/* ---- reader ------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    mt_error *err;
    uint64_t header_len; /* N: the JSON starts at byte 8 and the data at byte 8 + N */
    uint64_t data_size;  /* bytes after the header */
} reader;

static mt_status fail(const reader *r, mt_status code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records "path: message (offset N)" and returns code. */
static mt_status fail(const reader *r, mt_status code, uint64_t offset, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (offset == NO_OFFSET) return mt_error_set(r->err, code, "%s: %s", r->path, msg);
    return mt_error_set(r->err, code, "%s: %s (offset %llu)", r->path, msg, (unsigned long long)offset);
}

/* File offset of a JSON value of the header. */
static uint64_t at(size_t json_offset) { return 8 + (uint64_t)json_offset; }

/* A field of a tensor entry that must be there and be of the given kind. */
static const mt_json *field(const reader *r, const mt_json_member *m, const char *key,
                            mt_json_kind kind, mt_status *st) {
    const mt_json *v = mt_json_get(&m->value, key);
    if (!v) {
        *st = fail(r, MT_ERR_FORMAT, at(m->value.offset), "tensor '%s' has no \"%s\"", m->key, key);
    } else if (v->kind != kind) {
        *st = fail(r, MT_ERR_FORMAT, at(v->offset), "tensor '%s': \"%s\" must be %s, found %s",
                   m->key, key, mt_json_kind_name(kind), mt_json_kind_name(v->kind));
        v = NULL;
    }
    return v;
}

/* A non-negative integer, or -1 after recording an error naming what it is. */
static int64_t nonneg_int(const reader *r, const mt_json *v, const char *tensor, const char *what) {
    if (v->kind == MT_JSON_INT && v->integer >= 0) return v->integer;
    if (v->kind == MT_JSON_INT)
        fail(r, MT_ERR_FORMAT, at(v->offset), "tensor '%s': %s is negative (%lld)", tensor, what,
             (long long)v->integer);
    else
        fail(r, MT_ERR_FORMAT, at(v->offset), "tensor '%s': %s must be a non-negative integer, found %s",
             tensor, what, mt_json_kind_name(v->kind));
    return -1;
}

/* Validates one tensor entry and fills t (except name and data) and its byte range. */
static mt_status parse_tensor(const reader *r, const mt_json_member *m, mt_st_tensor *t,
                              uint64_t range[2]) {
    mt_status st = MT_OK;
    if (m->value.kind != MT_JSON_OBJECT)
        return fail(r, MT_ERR_FORMAT, at(m->value.offset), "tensor '%s' must be an object, found %s",
                    m->key, mt_json_kind_name(m->value.kind));
    const mt_json *dtype = field(r, m, "dtype", MT_JSON_STRING, &st);
    const mt_json *shape = dtype ? field(r, m, "shape", MT_JSON_ARRAY, &st) : NULL;
    const mt_json *offs = shape ? field(r, m, "data_offsets", MT_JSON_ARRAY, &st) : NULL;
    if (!offs) return st;

    if (strcmp(dtype->string, "F32") == 0) t->dtype = MT_DTYPE_F32;
    else if (strcmp(dtype->string, "I64") == 0) t->dtype = MT_DTYPE_I64;
    else
        return fail(r, MT_ERR_FORMAT, at(dtype->offset),
                    "tensor '%s' has dtype \"%s\", which mytorch does not read (only F32 and I64)",
                    m->key, dtype->string);

    if (shape->n_items > MT_MAX_DIMS)
        return fail(r, MT_ERR_FORMAT, at(shape->offset), "tensor '%s' has %zu dims, more than %d",
                    m->key, shape->n_items, MT_MAX_DIMS);
    t->ndim = (int)shape->n_items;
    for (int i = 0; i < t->ndim; i++) {
        char what[32];
        snprintf(what, sizeof what, "shape[%d]", i);
        t->shape[i] = nonneg_int(r, &shape->items[i], m->key, what);
        if (t->shape[i] < 0) return MT_ERR_FORMAT;
    }
    char sbuf[160];
    shape_str(t->ndim, t->shape, sbuf, sizeof sbuf);
    t->numel = shape_numel(t->ndim, t->shape);
    if (t->numel < 0)
        return fail(r, MT_ERR_FORMAT, at(shape->offset), "tensor '%s': shape %s has too many elements",
                    m->key, sbuf);

    if (offs->n_items != 2)
        return fail(r, MT_ERR_FORMAT, at(offs->offset),
                    "tensor '%s': data_offsets must be [begin, end], found %zu numbers", m->key, offs->n_items);
    int64_t begin = nonneg_int(r, &offs->items[0], m->key, "data_offsets[0]");
    int64_t end = begin < 0 ? -1 : nonneg_int(r, &offs->items[1], m->key, "data_offsets[1]");
    if (end < 0) return MT_ERR_FORMAT;
    if (begin > end)
        return fail(r, MT_ERR_FORMAT, at(offs->offset), "tensor '%s': data_offsets [%lld, %lld] end before they begin",
                    m->key, (long long)begin, (long long)end);
    if ((uint64_t)end > r->data_size)
        return fail(r, MT_ERR_FORMAT, at(offs->offset),
                    "tensor '%s': data_offsets [%lld, %lld] run past the end of the data (%llu bytes)", m->key,
                    (long long)begin, (long long)end, (unsigned long long)r->data_size);
    uint64_t esize = dtype_size(t->dtype);
    if ((uint64_t)t->numel > UINT64_MAX / esize || (uint64_t)t->numel * esize != (uint64_t)(end - begin))
        return fail(r, MT_ERR_FORMAT, at(offs->offset),
                    "tensor '%s': shape %s of %s needs %lld x %llu bytes but data_offsets [%lld, %lld] hold %lld",
                    m->key, sbuf, dtype_name(t->dtype), (long long)t->numel, (unsigned long long)esize,
                    (long long)begin, (long long)end, (long long)(end - begin));
    range[0] = (uint64_t)begin;
    range[1] = (uint64_t)end;
    return MT_OK;
}

static mt_status parse_metadata(const reader *r, const mt_json *meta, mt_safetensors *out) {
    if (meta->kind != MT_JSON_OBJECT)
        return fail(r, MT_ERR_FORMAT, at(meta->offset), "\"%s\" must be an object, found %s", META_KEY,
                    mt_json_kind_name(meta->kind));
    out->meta_keys = calloc(meta->n_members + 1, sizeof *out->meta_keys);
    out->meta_values = calloc(meta->n_members + 1, sizeof *out->meta_values);
    if (!out->meta_keys || !out->meta_values) return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory");
    for (size_t i = 0; i < meta->n_members; i++) {
        const mt_json_member *m = &meta->members[i];
        if (m->value.kind != MT_JSON_STRING)
            return fail(r, MT_ERR_FORMAT, at(m->value.offset), "metadata \"%s\" must be a string, found %s",
                        m->key, mt_json_kind_name(m->value.kind));
        out->meta_keys[i] = strdup(m->key);
        out->meta_values[i] = strdup(m->value.string);
        out->n_meta++; /* counted now so a failure below still frees both */
        if (!out->meta_keys[i] || !out->meta_values[i]) return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory");
    }
    return MT_OK;
}

typedef struct {
    uint64_t begin, end;
    int index;
} byte_range;

static int cmp_range(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* As the official reader: the header may list tensors in any order, but their byte
 * ranges, sorted, must tile the data section exactly (no gap, no shared byte, nothing
 * after the last tensor). */
static mt_status check_layout(const reader *r, const mt_safetensors *st, byte_range *ranges) {
    qsort(ranges, (size_t)st->n_tensors, sizeof *ranges, cmp_range);
    const byte_range *prev = NULL;
    uint64_t expected = 0, base = 8 + r->header_len;
    for (int i = 0; i < st->n_tensors; i++) {
        const byte_range *cur = &ranges[i];
        const char *name = st->tensors[cur->index].name;
        if (cur->begin < expected)
            return fail(r, MT_ERR_FORMAT, base + cur->begin,
                        "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", st->tensors[prev->index].name,
                        (unsigned long long)prev->begin, (unsigned long long)prev->end, name,
                        (unsigned long long)cur->begin, (unsigned long long)cur->end);
        if (cur->begin > expected)
            return fail(r, MT_ERR_FORMAT, base + expected,
                        "%llu unused bytes before tensor '%s' [%llu, %llu]: data_offsets must be contiguous",
                        (unsigned long long)(cur->begin - expected), name, (unsigned long long)cur->begin,
                        (unsigned long long)cur->end);
        prev = cur;
        expected = cur->end;
    }
    if (expected != r->data_size)
        return fail(r, MT_ERR_FORMAT, base + expected,
                    "%llu bytes after the last tensor's data: data_offsets must cover the whole data section",
                    (unsigned long long)(r->data_size - expected));
    return MT_OK;
}

/* Copies each tensor's bytes from the file into a fresh buffer it owns. */
static mt_status read_data(const reader *r, FILE *f, mt_safetensors *st, const byte_range *ranges) {
    for (int k = 0; k < st->n_tensors; k++) {
        const byte_range *rg = &ranges[k];
        mt_st_tensor *t = &st->tensors[rg->index];
        uint64_t bytes = rg->end - rg->begin, pos = 8 + r->header_len + rg->begin;
        if (bytes > SIZE_MAX - ST_BUF_ALIGN)
            return fail(r, MT_ERR_NOMEM, pos, "tensor '%s' is too large for memory", t->name);
        size_t cap = ((size_t)bytes + ST_BUF_ALIGN - 1) / ST_BUF_ALIGN * ST_BUF_ALIGN;
        t->data = aligned_alloc(ST_BUF_ALIGN, cap ? cap : ST_BUF_ALIGN);
        if (!t->data)
            return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory for tensor '%s' (%llu bytes)", t->name,
                        (unsigned long long)bytes);
        if (bytes == 0) continue;
        if ((off_t)pos < 0 || fseeko(f, (off_t)pos, SEEK_SET) != 0 || fread(t->data, 1, (size_t)bytes, f) != bytes)
            return fail(r, MT_ERR_IO, pos, "cannot read the %llu bytes of tensor '%s': %s",
                        (unsigned long long)bytes, t->name, ferror(f) ? strerror(errno) : "file ended early");
    }
    return MT_OK;
}

/* Checks the 8-byte length prefix against the file size; fills r->header_len/data_size. */
static mt_status read_prefix(reader *r, FILE *f, uint64_t size) {
    if (size < 8)
        return fail(r, MT_ERR_FORMAT, 0, "file is %llu bytes, too short for the 8-byte header length",
                    (unsigned long long)size);
    unsigned char b[8];
    if (fread(b, 1, 8, f) != 8) return fail(r, MT_ERR_IO, 0, "cannot read the header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    if (n > ST_MAX_HEADER)
        return fail(r, MT_ERR_FORMAT, 0, "header length %llu exceeds the %llu-byte limit", (unsigned long long)n,
                    ST_MAX_HEADER);
    if (n > size - 8)
        return fail(r, MT_ERR_FORMAT, 0, "header length %llu exceeds file size %llu", (unsigned long long)n,
                    (unsigned long long)size);
    r->header_len = n;
    r->data_size = size - 8 - n;
    return MT_OK;
}

/* Parses the JSON header (already checked against the file) into *root. */
static mt_status read_header(const reader *r, FILE *f, mt_json *root) {
    char *text = malloc(r->header_len ? (size_t)r->header_len : 1);
    if (!text) return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory for a %llu-byte header",
                           (unsigned long long)r->header_len);
    if (fread(text, 1, (size_t)r->header_len, f) != r->header_len) {
        free(text);
        return fail(r, MT_ERR_IO, 8, "cannot read the %llu-byte header", (unsigned long long)r->header_len);
    }
    mt_json_error jerr;
    bool ok = mt_json_parse(text, (size_t)r->header_len, root, &jerr);
    free(text);
    if (!ok)
        return fail(r, jerr.nomem ? MT_ERR_NOMEM : MT_ERR_FORMAT, at(jerr.offset), "invalid JSON header: %s",
                    jerr.msg);
    if (root->kind != MT_JSON_OBJECT)
        return fail(r, MT_ERR_FORMAT, at(root->offset), "the header must be a JSON object, found %s",
                    mt_json_kind_name(root->kind));
    return MT_OK;
}

/* Turns the parsed header into *st (names, shapes, metadata) and the tensors' ranges. */
static mt_status build(const reader *r, const mt_json *root, mt_safetensors *st, byte_range **ranges) {
    size_t n = root->n_members - (mt_json_get(root, META_KEY) != NULL);
    if (n > INT32_MAX) return fail(r, MT_ERR_FORMAT, 8, "too many tensors (%zu)", n);
    st->tensors = calloc(n + 1, sizeof *st->tensors);
    *ranges = calloc(n + 1, sizeof **ranges);
    if (!st->tensors || !*ranges) return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory");
    for (size_t i = 0; i < root->n_members; i++) {
        const mt_json_member *m = &root->members[i];
        if (strcmp(m->key, META_KEY) == 0) {
            mt_status s = parse_metadata(r, &m->value, st);
            if (s != MT_OK) return s;
            continue;
        }
        mt_st_tensor *t = &st->tensors[st->n_tensors];
        uint64_t range[2] = {0, 0};
        mt_status s = parse_tensor(r, m, t, range);
        if (s != MT_OK) return s;
        t->name = strdup(m->key);
        if (!t->name) return fail(r, MT_ERR_NOMEM, NO_OFFSET, "out of memory");
        (*ranges)[st->n_tensors] = (byte_range){range[0], range[1], st->n_tensors};
        st->n_tensors++;
    }
    return MT_OK;
}

mt_status mt_safetensors_read(const char *path, mt_safetensors *out, mt_error *err) {
    if (!out) return mt_error_set(err, MT_ERR_ARG, "mt_safetensors_read: out is NULL");
    *out = (mt_safetensors){0};
    if (!path) return mt_error_set(err, MT_ERR_ARG, "mt_safetensors_read: path is NULL");
    reader r = {.path = path, .err = err};
    int64_t file_size;
    FILE *f = mt_open_regular(path, &file_size, err);
    if (!f) return MT_ERR_IO;
    mt_safetensors st = {0};
    mt_json root = {.kind = MT_JSON_NULL};
    byte_range *ranges = NULL;
    mt_status s = read_prefix(&r, f, (uint64_t)file_size);
    if (s == MT_OK) s = read_header(&r, f, &root);
    if (s == MT_OK) s = build(&r, &root, &st, &ranges);
    if (s == MT_OK) s = check_layout(&r, &st, ranges);
    if (s == MT_OK) s = read_data(&r, f, &st, ranges); /* in file order, after the sort */
    mt_json_free(&root);
    free(ranges);
    fclose(f);
    if (s != MT_OK) {
        mt_safetensors_free(&st);
        return s;
    }
    *out = st;
    return MT_OK;
}

void mt_safetensors_free(mt_safetensors *st) {
    if (!st) return;
    for (int i = 0; st->tensors && i < st->n_tensors; i++) {
        free(st->tensors[i].name);
        free(st->tensors[i].data);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    *st = (mt_safetensors){0};
}

const mt_st_tensor *mt_safetensors_get(const mt_safetensors *st, const char *name) {
    for (int i = 0; st && name && i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *mt_safetensors_meta(const mt_safetensors *st, const char *key) {
    for (int i = 0; st && key && i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

/* ---- writer ------------------------------------------------------------------------ */

/* Appends s as a JSON string (quoted and escaped). */
static void tb_quote(textbuf *b, const char *s) {
    size_t n = mt_json_quote(NULL, 0, s);
    char *q = malloc(n + 1);
    if (!q) {
        b->failed = true;
        return;
    }
    mt_json_quote(q, n + 1, s);
    textbuf_append(b, q, n);
    free(q);
}

/* Names must be present, UTF-8 and unique; what is "tensor" or "metadata key". */
static mt_status check_names(const char *path, const char *const *names, int n, const char *what,
                             mt_error *err) {
    for (int i = 0; i < n; i++) {
        if (!names[i]) return mt_error_set(err, MT_ERR_ARG, "%s: %s %d has a NULL name", path, what, i);
        if (!mt_json_utf8_valid(names[i], strlen(names[i])))
            return mt_error_set(err, MT_ERR_ARG, "%s: %s %d's name is not valid UTF-8", path, what, i);
    }
    size_t dup;
    int r = mt_json_find_duplicate(names, (size_t)n, &dup);
    if (r < 0) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    if (r > 0) return mt_error_set(err, MT_ERR_ARG, "%s: duplicate %s name '%s'", path, what, names[dup]);
    return MT_OK;
}

static mt_status check_tensor(const char *path, const mt_st_tensor *t, mt_error *err) {
    if (strcmp(t->name, META_KEY) == 0)
        return mt_error_set(err, MT_ERR_ARG, "%s: '%s' is reserved for metadata, not a tensor name", path, META_KEY);
    if (t->dtype != MT_DTYPE_F32 && t->dtype != MT_DTYPE_I64)
        return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' has an unknown dtype %d", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > MT_MAX_DIMS)
        return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' has %d dims (0..%d allowed)", path, t->name, t->ndim,
                            MT_MAX_DIMS);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0)
            return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' has a negative dim %d", path, t->name, d);
    char sbuf[160];
    shape_str(t->ndim, t->shape, sbuf, sizeof sbuf);
    int64_t numel = shape_numel(t->ndim, t->shape);
    if (numel < 0 || numel > INT64_MAX / (int64_t)dtype_size(t->dtype))
        return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' of shape %s is too large", path, t->name, sbuf);
    if (numel != t->numel)
        return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' has numel %lld but shape %s holds %lld", path,
                            t->name, (long long)t->numel, sbuf, (long long)numel);
    if (!t->data && numel > 0)
        return mt_error_set(err, MT_ERR_ARG, "%s: tensor '%s' has NULL data", path, t->name);
    return MT_OK;
}

static mt_status check_args(const char *path, const mt_st_tensor *tensors, int n, const char *const *keys,
                            const char *const *values, int n_meta, mt_error *err) {
    if (!path) return mt_error_set(err, MT_ERR_ARG, "mt_safetensors_write: path is NULL");
    if (n < 0 || n_meta < 0 || (n > 0 && !tensors) || (n_meta > 0 && (!keys || !values)))
        return mt_error_set(err, MT_ERR_ARG, "%s: bad tensor or metadata arrays (n=%d, n_meta=%d)", path, n, n_meta);
    const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    if (!names) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    mt_status s = check_names(path, names, n, "tensor", err);
    free(names);
    for (int i = 0; s == MT_OK && i < n; i++) s = check_tensor(path, &tensors[i], err);
    if (s == MT_OK) s = check_names(path, keys, n_meta, "metadata key", err);
    for (int i = 0; s == MT_OK && i < n_meta; i++) {
        if (!values[i] || !mt_json_utf8_valid(values[i], strlen(values[i])))
            s = mt_error_set(err, MT_ERR_ARG, "%s: metadata '%s' has a NULL or non-UTF-8 value", path, keys[i]);
    }
    return s;
}

/* The JSON header, tensors in the given order with contiguous offsets, padded with
 * spaces so that 8 + its length is a multiple of ST_DATA_ALIGN. */
static mt_status build_header(const char *path, const mt_st_tensor *tensors, int n, const char *const *keys,
                              const char *const *values, int n_meta, textbuf *b, mt_error *err) {
    textbuf_printf(b, "{");
    if (n_meta > 0) {
        tb_quote(b, META_KEY);
        textbuf_printf(b, ":{");
        for (int i = 0; i < n_meta; i++) {
            textbuf_printf(b, "%s", i ? "," : "");
            tb_quote(b, keys[i]);
            textbuf_printf(b, ":");
            tb_quote(b, values[i]);
        }
        textbuf_printf(b, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const mt_st_tensor *t = &tensors[i];
        uint64_t bytes = (uint64_t)t->numel * dtype_size(t->dtype);
        if (bytes > (uint64_t)INT64_MAX - offset)
            return mt_error_set(err, MT_ERR_ARG, "%s: the tensors hold more than 2^63 bytes", path);
        textbuf_printf(b, "%s", i || n_meta ? "," : "");
        tb_quote(b, t->name);
        textbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) textbuf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        textbuf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                  (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    textbuf_printf(b, "}");
    while ((8 + b->len) % ST_DATA_ALIGN) textbuf_printf(b, " ");
    if (b->failed) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory for the header", path);
    return MT_OK;
}

/* Writes the length prefix, the header and the data through an atomic file. */
static mt_status write_file(const char *path, const textbuf *header, const mt_st_tensor *tensors, int n,
                            mt_error *err) {
    mt_atomic_file af;
    mt_status s = mt_atomic_open(&af, path, err);
    if (s != MT_OK) return s;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header->len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(header->data, 1, header->len, af.f) == header->len;
    for (int i = 0; ok && i < n; i++) {
        size_t bytes = (size_t)tensors[i].numel * dtype_size(tensors[i].dtype);
        if (bytes) ok = fwrite(tensors[i].data, 1, bytes, af.f) == bytes;
    }
    return mt_atomic_commit(&af, err); /* sees the stream's error flag if a write failed */
}

mt_status mt_safetensors_write(const char *path, const mt_st_tensor *tensors, int n,
                               const char *const *meta_keys, const char *const *meta_values,
                               int n_meta, mt_error *err) {
    mt_status s = check_args(path, tensors, n, meta_keys, meta_values, n_meta, err);
    if (s != MT_OK) return s;
    textbuf header = {0};
    s = build_header(path, tensors, n, meta_keys, meta_values, n_meta, &header, err);
    if (s == MT_OK) s = write_file(path, &header, tensors, n, err);
    textbuf_free(&header);
    return s;
}
