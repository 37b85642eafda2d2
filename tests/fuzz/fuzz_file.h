/* For libFuzzer targets of readers that take a path: writes each input to one scratch
 * file per process (made on first use, removed at exit) and returns its path. */
#ifndef MYTORCH_FUZZ_FILE_H
#define MYTORCH_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_remove_file(void) { unlink(fuzz_path); }

/* Aborts only when the harness itself cannot run: never an input's fault. */
static const char *fuzz_write_file(const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/mt_fuzz_XXXXXX");
        int fd = mkstemp(fuzz_path);
        if (fd < 0) abort();
        close(fd);
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return fuzz_path;
}

#endif
