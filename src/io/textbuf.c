/* A growable text buffer: appends double the capacity as needed; failures are sticky. */
#include "io/textbuf.h"
#include "mytorch/file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes and the NUL; false (and failed set) if memory runs out. */
static bool reserve(textbuf *b, size_t n) {
    if (b->failed) return false;
    if (b->len + n + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void textbuf_append(textbuf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void textbuf_puts(textbuf *b, const char *s) { textbuf_append(b, s, strlen(s)); }

void textbuf_printf(textbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void textbuf_xml(textbuf *b, const char *s) {
    for (const char *p = s; *p; p++) {
        const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '"' ? "&quot;"
                      : *p == '\'' ? "&#39;" : NULL;
        if (e) textbuf_puts(b, e);
        else textbuf_append(b, p, 1);
    }
}

void textbuf_base64(textbuf *b, const uint8_t *data, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!reserve(b, (n + 2) / 3 * 4)) return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0) | (i + 2 < n ? data[i + 2] : 0);
        *o++ = digits[v >> 18 & 63];
        *o++ = digits[v >> 12 & 63];
        *o++ = i + 1 < n ? digits[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? digits[v & 63] : '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

mt_status textbuf_write(const textbuf *b, const char *path, mt_error *err) {
    if (b->failed) return mt_error_set(err, MT_ERR_NOMEM, "out of memory composing %s", path);
    return mt_write_file_atomic(path, b->data ? b->data : "", b->len, err);
}

void textbuf_free(textbuf *b) {
    free(b->data);
    *b = (textbuf){0};
}
