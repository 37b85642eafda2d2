/* A growable text buffer for the text files mytorch composes (safetensors headers, SVG
 * charts, HTML reports):
 * printf-style appends, XML escaping, base64, and an atomic write. An allocation failure
 * is sticky (failed), so a caller appends freely and checks once, at textbuf_write. */
#ifndef MT_IO_TEXTBUF_H
#define MT_IO_TEXTBUF_H

#include "mytorch/core.h"

typedef struct {
    char *data; /* NUL-terminated, malloc'd; textbuf_free() */
    size_t len, cap;
    bool failed; /* an append ran out of memory; data holds what fitted before */
} textbuf;

/* Appends n bytes of s. */
void textbuf_append(textbuf *b, const char *s, size_t n);
/* Appends a NUL-terminated string. */
void textbuf_puts(textbuf *b, const char *s);
/* Appends printf-style formatted text. */
void textbuf_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' escaped for XML/HTML text and attribute values. */
void textbuf_xml(textbuf *b, const char *s);
/* Appends n bytes of data in base64 (RFC 4648, with padding). */
void textbuf_base64(textbuf *b, const uint8_t *data, size_t n);
/* Writes the text to path through mt_write_file_atomic; MT_ERR_NOMEM if an append failed. */
mt_status textbuf_write(const textbuf *b, const char *path, mt_error *err);
/* Frees the text; b is empty and reusable. */
void textbuf_free(textbuf *b);

#endif
