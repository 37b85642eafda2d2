/* PGM decoding: binary (P5) and ASCII (P2), comments in the header, maxval 1-65535
 * (two big-endian bytes per sample above 255), scaled to 8-bit grey. */
#include "mytorch/image.h"

#include <string.h>

#define PGM_MAX_PIXELS ((int64_t)1 << 26)

typedef struct {
    const uint8_t *d;
    size_t len, pos;
} pgm_reader;

static bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skips whitespace and, when comments is set, '#' comments up to the end of their line. */
static void skip_space(pgm_reader *r, bool comments) {
    while (r->pos < r->len) {
        if (is_space(r->d[r->pos])) {
            r->pos++;
        } else if (comments && r->d[r->pos] == '#') {
            while (r->pos < r->len && r->d[r->pos] != '\n' && r->d[r->pos] != '\r') r->pos++;
        } else {
            break;
        }
    }
}

/* A decimal number in [0, max] after optional whitespace; false if there is none, it is
 * too big, or it runs into a character that is neither a digit nor whitespace. */
static bool read_number(pgm_reader *r, bool comments, long max, long *out) {
    skip_space(r, comments);
    size_t start = r->pos;
    long v = 0;
    while (r->pos < r->len && r->d[r->pos] >= '0' && r->d[r->pos] <= '9') {
        v = v * 10 + (r->d[r->pos] - '0');
        if (v > max) return false;
        r->pos++;
    }
    if (r->pos == start) return false;
    if (r->pos < r->len && !is_space(r->d[r->pos]) && !(comments && r->d[r->pos] == '#')) return false;
    *out = v;
    return true;
}

mt_status mt_pgm_decode(const uint8_t *data, size_t len, mt_image *out, mt_error *err) {
    *out = (mt_image){0};
    if (len < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '2'))
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: bad magic (expected P5 or P2)");
    bool binary = data[1] == '5';
    pgm_reader r = {data, len, 2};
    long w, h, maxval;
    if (!read_number(&r, true, INT32_MAX, &w) || !read_number(&r, true, INT32_MAX, &h))
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: missing or bad width/height in the header");
    if (!read_number(&r, true, 65535, &maxval))
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: missing or bad maxval (must be 1-65535)");
    if (w < 1 || h < 1 || (int64_t)w * h > PGM_MAX_PIXELS)
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: bad dimensions %ld x %ld (at most %lld pixels)", w, h,
                            (long long)PGM_MAX_PIXELS);
    if (maxval < 1) return mt_error_set(err, MT_ERR_FORMAT, "PGM: maxval 0 (must be 1-65535)");
    if (r.pos >= len || !is_space(data[r.pos]))
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: the header ends without the pixel data");
    r.pos++; /* exactly one whitespace byte before binary data */

    size_t n = (size_t)w * (size_t)h, bytes = maxval > 255 ? 2 : 1;
    if (binary && len - r.pos != n * bytes)
        return mt_error_set(err, MT_ERR_FORMAT, "PGM: %zu bytes of pixel data, a %ld x %ld image with maxval %ld needs %zu",
                            len - r.pos, w, h, maxval, n * bytes);
    mt_image img;
    if (mt_image_new(&img, (int)w, (int)h, 1, err) != MT_OK) return err->code;
    for (size_t i = 0; i < n; i++) {
        long v;
        if (binary) {
            const uint8_t *p = data + r.pos + i * bytes;
            v = bytes == 2 ? (long)(p[0] << 8 | p[1]) : p[0];
            if (v > maxval) {
                mt_image_free(&img);
                return mt_error_set(err, MT_ERR_FORMAT, "PGM: pixel %zu is %ld, above maxval %ld", i, v, maxval);
            }
        } else if (!read_number(&r, false, maxval, &v)) {
            mt_image_free(&img);
            return mt_error_set(err, MT_ERR_FORMAT, "PGM: pixel %zu of %zu is missing, not a number or above maxval %ld",
                                i, n, maxval);
        }
        img.pixels[i] = (uint8_t)((v * 255 + maxval / 2) / maxval);
    }
    if (!binary) {
        skip_space(&r, false);
        if (r.pos != len) {
            mt_image_free(&img);
            return mt_error_set(err, MT_ERR_FORMAT, "PGM: %zu bytes after the %zu pixels", len - r.pos, n);
        }
    }
    *out = img;
    return MT_OK;
}
