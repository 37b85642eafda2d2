/* IDX files of unsigned bytes (the MNIST format), plain or gzip.
 *
 * Layout: 4 magic bytes 00 00 08 NDIM, NDIM big-endian uint32 dims, then the product of
 * the dims in bytes. Every number in the header is hostile until checked: the dims are
 * bounded before anything is allocated, a plain file's size must match the header
 * exactly, and a gzip stream is read into a buffer that grows with the data actually
 * decompressed, so a tiny file that promises 2 GiB never gets 2 GiB of memory. */
#include "mytorch/data.h"
#include "mytorch/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_TYPE_U8 0x08
#define IDX_MAX_DIMS 4
#define IDX_MAX_BYTES ((uint64_t)1 << 31)   /* the largest payload we accept */
#define IDX_GZ_FIRST_CHUNK ((size_t)1 << 20) /* gzip: first buffer, doubled as data comes */

/* One open file: exactly one of f and gz is set. */
typedef struct {
    const char *path;
    FILE *f;
    gzFile gz;
} idx_src;

/* Reads up to n bytes into buf and sets *got; fewer than n only at the end of the data. */
static mt_status src_read(idx_src *s, void *buf, size_t n, size_t *got, mt_error *err) {
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (s->f) {
            size_t r = fread((char *)buf + *got, 1, want, s->f);
            *got += r;
            if (r == want) continue;
            if (ferror(s->f))
                return mt_error_set(err, MT_ERR_IO, "%s: read failed: %s", s->path,
                                    strerror(errno));
            return MT_OK;
        }
        /* gzread takes an unsigned int length: read in chunks of at most 1 GiB. */
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int r = gzread(s->gz, (char *)buf + *got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(s->gz, &zerr);
            size_t plen = strlen(s->path); /* zlib prefixes its message with the path */
            if (strncmp(msg, s->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
                msg += plen + 2;
            return mt_error_set(err, zerr == Z_ERRNO ? MT_ERR_IO : MT_ERR_FORMAT,
                                "%s: gzip data is corrupt: %s", s->path, msg);
        }
        *got += (size_t)r;
        if ((unsigned)r < chunk) return MT_OK;
    }
    return MT_OK;
}

static void src_close(idx_src *s) {
    if (s->f) fclose(s->f);
    if (s->gz) gzclose(s->gz);
    s->f = NULL;
    s->gz = NULL;
}

/* Opens path, as gzip when it starts with the gzip magic 1f 8b. Plain files must be
 * regular files (their size is checked against the header); *size gets it. */
static mt_status src_open(idx_src *s, const char *path, int64_t *size, mt_error *err) {
    *s = (idx_src){.path = path};
    *size = -1;
    int64_t file_size;
    FILE *f = mt_open_regular(path, &file_size, err);
    if (!f) return MT_ERR_IO;
    unsigned char m[2] = {0, 0};
    size_t nm = fread(m, 1, 2, f);
    if (nm == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        fclose(f);
        errno = 0;
        s->gz = gzopen(path, "rb");
        if (!s->gz)
            return mt_error_set(err, MT_ERR_IO, "%s: cannot open as gzip: %s", path,
                                errno ? strerror(errno) : "out of memory");
        gzbuffer(s->gz, 1 << 17);
        return MT_OK;
    }
    if (ferror(f) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return mt_error_set(err, MT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    }
    s->f = f;
    *size = file_size;
    return MT_OK;
}

/* Checks the 4 magic bytes; sets *ndim. */
static mt_status check_magic(const char *path, const unsigned char m[4], int *ndim,
                             mt_error *err) {
    uint32_t magic = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
    if (m[0] != 0 || m[1] != 0)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: bad IDX magic 0x%08x (expected 0x00000801 to 0x00000804 for "
                            "unsigned-byte data with 1 to 4 dims; is this an IDX file?)",
                            path, magic);
    if (m[2] != IDX_TYPE_U8)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: bad IDX magic 0x%08x: type code 0x%02x is not supported "
                            "(only 0x08, unsigned bytes)",
                            path, magic, m[2]);
    if (m[3] < 1 || m[3] > IDX_MAX_DIMS)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: bad IDX magic 0x%08x: %d dims (expected 1 to %d)", path, magic,
                            m[3], IDX_MAX_DIMS);
    *ndim = m[3];
    return MT_OK;
}

/* Reads the header: magic and dims. Sets the dims of out and *bytes (their product). */
static mt_status read_header(idx_src *s, mt_idx *out, uint64_t *bytes, mt_error *err) {
    unsigned char h[4 + 4 * IDX_MAX_DIMS];
    size_t got;
    mt_status st = src_read(s, h, 4, &got, err);
    if (st != MT_OK) return st;
    if (got == 0)
        return mt_error_set(err, MT_ERR_FORMAT, "%s: empty%s (not an IDX file)", s->path,
                            s->gz ? " after decompression" : " file");
    if (got < 4)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: truncated header: %zu bytes, an IDX header needs at least 8",
                            s->path, got);
    int ndim = 0;
    st = check_magic(s->path, h, &ndim, err);
    if (st != MT_OK) return st;
    st = src_read(s, h + 4, 4 * (size_t)ndim, &got, err);
    if (st != MT_OK) return st;
    if (got < 4 * (size_t)ndim)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: truncated header: %d dims need %d bytes, file has %zu",
                            s->path, ndim, 4 + 4 * ndim, 4 + got);
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *d = h + 4 + 4 * i;
        uint64_t dim = (uint64_t)d[0] << 24 | (uint64_t)d[1] << 16 | (uint64_t)d[2] << 8 | d[3];
        if (dim == 0)
            return mt_error_set(err, MT_ERR_FORMAT, "%s: dim %d is 0 (every dim must be > 0)",
                                s->path, i);
        /* total <= 2^31 and dim < 2^32 before the multiply, so it cannot overflow. */
        total *= dim;
        if (total > IDX_MAX_BYTES)
            return mt_error_set(err, MT_ERR_FORMAT,
                                "%s: dims promise more than %llu bytes (dim %d is %llu); "
                                "refusing to allocate",
                                s->path, (unsigned long long)IDX_MAX_BYTES, i,
                                (unsigned long long)dim);
        out->dims[i] = (int64_t)dim;
    }
    out->ndim = ndim;
    *bytes = total;
    return MT_OK;
}

/* Plain file: checks the size against the header, then reads exactly n bytes. */
static mt_status read_plain(idx_src *s, int64_t size, int ndim, size_t n, uint8_t **data,
                            mt_error *err) {
    int64_t header = 4 + 4 * (int64_t)ndim, have = size - header, want = (int64_t)n;
    if (have < want)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: truncated: expected %lld bytes of data, file has %lld", s->path,
                            (long long)want, (long long)have);
    if (have > want)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: %lld trailing bytes: expected a file of %lld bytes, it has %lld",
                            s->path, (long long)(have - want), (long long)(header + want),
                            (long long)size);
    uint8_t *buf = malloc(n);
    if (!buf) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory for %zu bytes", s->path, n);
    size_t got, extra_got;
    unsigned char extra;
    mt_status st = src_read(s, buf, n, &got, err);
    if (st == MT_OK) st = src_read(s, &extra, 1, &extra_got, err);
    if (st == MT_OK && (got != n || extra_got != 0))
        st = mt_error_set(err, MT_ERR_IO, "%s: the file changed while it was read", s->path);
    if (st != MT_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return MT_OK;
}

/* gzip stream: its length is unknown until decompressed, so the buffer grows with the
 * data, and the stream must end right after n bytes. */
static mt_status read_gzip(idx_src *s, size_t n, uint8_t **data, mt_error *err) {
    size_t cap = n < IDX_GZ_FIRST_CHUNK ? n : IDX_GZ_FIRST_CHUNK, have = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory for %zu bytes", s->path, cap);
    mt_status st = MT_OK;
    while (st == MT_OK) {
        size_t got;
        st = src_read(s, buf + have, cap - have, &got, err);
        if (st != MT_OK) break;
        have += got;
        if (have < cap) {
            st = mt_error_set(err, MT_ERR_FORMAT,
                              "%s: truncated: expected %zu bytes of data, gzip stream has %zu",
                              s->path, n, have);
            break;
        }
        if (have == n) break;
        cap = cap > n / 2 ? n : 2 * cap;
        uint8_t *bigger = realloc(buf, cap);
        if (!bigger) {
            st = mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory for %zu bytes", s->path, cap);
            break;
        }
        buf = bigger;
    }
    if (st == MT_OK) {
        unsigned char extra[256];
        size_t got;
        st = src_read(s, extra, sizeof extra, &got, err);
        if (st == MT_OK && got > 0)
            st = mt_error_set(err, MT_ERR_FORMAT,
                              "%s: trailing bytes: the gzip stream holds more than the %zu "
                              "bytes of data its header promises",
                              s->path, n);
    }
    if (st != MT_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return MT_OK;
}

mt_status mt_idx_read(const char *path, mt_idx *out, mt_error *err) {
    *out = (mt_idx){0};
    idx_src s;
    int64_t size;
    mt_status st = src_open(&s, path, &size, err);
    if (st != MT_OK) return st;
    uint64_t bytes = 0;
    mt_idx idx = {0};
    st = read_header(&s, &idx, &bytes, err);
    if (st == MT_OK)
        st = s.f ? read_plain(&s, size, idx.ndim, (size_t)bytes, &idx.data, err)
                 : read_gzip(&s, (size_t)bytes, &idx.data, err);
    src_close(&s);
    if (st == MT_OK) *out = idx;
    return st;
}

void mt_idx_free(mt_idx *idx) {
    if (!idx) return;
    free(idx->data);
    *idx = (mt_idx){0};
}
