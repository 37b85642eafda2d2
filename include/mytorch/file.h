/* Files written whole or not at all: the bytes go to "path.tmp", are flushed and synced,
 * and only then renamed over path, so a crash or a full disk never leaves a half-written
 * file under the real name (checkpoints, metrics, figures, reports). */
#ifndef MYTORCH_FILE_H
#define MYTORCH_FILE_H

#include "mytorch/core.h"

#include <stdio.h>

/* A file being written. f is open for writing ("wb") until commit or abort. */
typedef struct {
    FILE *f;
    char *path; /* owned copies, freed by commit or abort */
    char *tmp;
} mt_atomic_file;

/* Opens "path.tmp" for writing. On failure err names the path and the reason. */
mt_status mt_atomic_open(mt_atomic_file *af, const char *path, mt_error *err);
/* Flushes, syncs, closes and renames the temporary file over path. If any write
 * through af->f failed, or any of these steps fails, the temporary file is removed,
 * path is left as it was, and err names the step. Frees af either way. */
mt_status mt_atomic_commit(mt_atomic_file *af, mt_error *err);
/* Closes and removes the temporary file; path is left as it was. Frees af. */
void mt_atomic_abort(mt_atomic_file *af);

/* Writes len bytes to path atomically (mt_atomic_open + fwrite + mt_atomic_commit). */
mt_status mt_write_file_atomic(const char *path, const void *data, size_t len, mt_error *err);

/* Opens path for reading, if it is a regular file (not a folder, a device or a pipe);
 * *size gets its length. NULL with "PATH: cannot open: REASON" or "PATH: not a regular
 * file" in err. The caller fcloses it. */
FILE *mt_open_regular(const char *path, int64_t *size, mt_error *err);

/* Reads a whole file into a malloc'd buffer (*data, freed by the caller; NUL-terminated
 * one byte past *len, so text can be parsed in place). Refuses files over max_bytes. */
mt_status mt_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, mt_error *err);

#endif
