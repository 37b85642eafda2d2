/* Whole-or-nothing file writes (temporary name, flush, fsync, rename) and whole-file reads. */
#include "mytorch/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void atomic_release(mt_atomic_file *af) {
    free(af->path);
    free(af->tmp);
    *af = (mt_atomic_file){0};
}

mt_status mt_atomic_open(mt_atomic_file *af, const char *path, mt_error *err) {
    *af = (mt_atomic_file){0};
    if (!path || !*path) return mt_error_set(err, MT_ERR_ARG, "mt_atomic_open: empty path");
    size_t len = strlen(path);
    af->path = strdup(path);
    af->tmp = malloc(len + 5);
    if (!af->path || !af->tmp) {
        atomic_release(af);
        return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(af->tmp, path, len);
    memcpy(af->tmp + len, ".tmp", 5);
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        int e = errno;
        atomic_release(af);
        return mt_error_set(err, MT_ERR_IO, "%s: cannot create %s.tmp: %s", path, path, strerror(e));
    }
    return MT_OK;
}

mt_status mt_atomic_commit(mt_atomic_file *af, mt_error *err) {
    const char *step = "write";
    int e = errno;
    bool ok = !ferror(af->f);
    if (ok) {
        step = "flush";
        ok = fflush(af->f) == 0;
        e = errno;
    }
    if (ok) {
        step = "fsync";
        ok = fsync(fileno(af->f)) == 0;
        e = errno;
    }
    if (fclose(af->f) != 0 && ok) {
        step = "close";
        ok = false;
        e = errno;
    }
    if (ok && rename(af->tmp, af->path) != 0) {
        step = "rename";
        ok = false;
        e = errno;
    }
    if (!ok) {
        remove(af->tmp);
        /* A failed fwrite sets errno too; ENOSPC is the common one (a full disk). */
        mt_error_set(err, MT_ERR_IO, "%s: cannot %s %s: %s", af->path, step, af->tmp, strerror(e ? e : EIO));
    }
    atomic_release(af);
    return ok ? MT_OK : MT_ERR_IO;
}

void mt_atomic_abort(mt_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) remove(af->tmp);
    atomic_release(af);
}

mt_status mt_write_file_atomic(const char *path, const void *data, size_t len, mt_error *err) {
    mt_atomic_file af;
    mt_status s = mt_atomic_open(&af, path, err);
    if (s != MT_OK) return s;
    errno = 0;
    if (len && fwrite(data, 1, len, af.f) != len && !errno) errno = EIO;
    return mt_atomic_commit(&af, err);
}

FILE *mt_open_regular(const char *path, int64_t *size, mt_error *err) {
    *size = -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        mt_error_set(err, MT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        mt_error_set(err, MT_ERR_IO, "%s: not a regular file", path);
        return NULL;
    }
    *size = (int64_t)st.st_size;
    return f;
}

mt_status mt_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, mt_error *err) {
    *data = NULL;
    *len = 0;
    int64_t size;
    FILE *f = mt_open_regular(path, &size, err);
    if (!f) return MT_ERR_IO; /* both of mt_open_regular's failures are I/O */
    if ((uint64_t)size > (uint64_t)max_bytes) {
        fclose(f);
        return mt_error_set(err, MT_ERR_FORMAT, "%s: %lld bytes is more than the %zu this reader accepts", path,
                            (long long)size, max_bytes);
    }
    size_t n = (size_t)size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return mt_error_set(err, MT_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, n);
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return MT_OK;
}
