/* PNG decoding: any colour type, bit depth and interlace becomes 8-bit grey, grey+alpha,
 * RGB or RGBA.
 *
 * Two passes over the bytes. The first walks every chunk, checking lengths and CRCs,
 * reads IHDR, PLTE and tRNS, and adds up the IDAT bytes; only then is the inflated size
 * computed from the dimensions and one buffer of exactly that size allocated. The second
 * inflates the IDAT chunks into it; the stream must fill it exactly. Filters are undone
 * in place, pass by pass (Adam7 has seven), and the samples scaled to 8 bits. */
#include "io/png.h"
#include "mytorch/image.h"

#include <stdlib.h>
#include <string.h>

#define PNG_MAX_PIXELS ((int64_t)1 << 26)
/* deflate cannot expand data more than about 1032:1, so IDAT bytes below needed/1032
 * cannot hold the image: refused before the buffer is allocated. */
#define PNG_MAX_RATIO 1032

typedef struct {
    uint32_t width, height;
    int depth, color, interlace;
    int spp;                  /* samples per pixel in the file: 1, 2, 3 or 4 */
    uint8_t palette[256][4];  /* RGBA; alpha from tRNS, else 255 */
    int n_palette;
    bool has_trns;            /* PLTE alpha, or a grey/RGB key colour */
    uint16_t key[3];          /* the tRNS key colour at the file's bit depth */
    size_t idat_first, idat_bytes; /* offset of the first IDAT chunk; sum of IDAT lengths */
} png_info;

/* One Adam7 pass (the whole image when not interlaced): first pixel and step. */
typedef struct {
    int x0, y0, dx, dy;
} png_pass;

static const png_pass ADAM7[7] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                  {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
static const png_pass PLAIN = {0, 0, 1, 1};

static uint32_t pass_size(uint32_t n, int start, int step) {
    return n > (uint32_t)start ? (n - (uint32_t)start + (uint32_t)step - 1) / (uint32_t)step : 0;
}

static size_t row_bytes(const png_info *h, uint32_t w) {
    return ((size_t)w * (size_t)(h->spp * h->depth) + 7) / 8;
}

static bool chunk_is(const uint8_t *type, const char *name) { return memcmp(type, name, 4) == 0; }

static mt_status read_ihdr(png_info *h, const uint8_t *d, uint32_t len, mt_error *err) {
    if (len != 13) return mt_error_set(err, MT_ERR_FORMAT, "PNG: IHDR is %u bytes, not 13", len);
    h->width = mt_png_be32(d);
    h->height = mt_png_be32(d + 4);
    h->depth = d[8];
    h->color = d[9];
    h->interlace = d[12];
    if (h->width == 0 || h->height == 0 || h->width > INT32_MAX || h->height > INT32_MAX)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: bad dimensions %u x %u", h->width, h->height);
    if ((int64_t)h->width * h->height > PNG_MAX_PIXELS)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: %u x %u is more than the %lld pixels this reader accepts",
                            h->width, h->height, (long long)PNG_MAX_PIXELS);
    static const int spp[7] = {1, 0, 3, 1, 2, 0, 4};
    bool ok;
    switch (h->color) {
    case MT_PNG_GREY: ok = h->depth == 1 || h->depth == 2 || h->depth == 4 || h->depth == 8 || h->depth == 16; break;
    case MT_PNG_PALETTE: ok = h->depth == 1 || h->depth == 2 || h->depth == 4 || h->depth == 8; break;
    case MT_PNG_RGB:
    case MT_PNG_GREY_ALPHA:
    case MT_PNG_RGBA: ok = h->depth == 8 || h->depth == 16; break;
    default: return mt_error_set(err, MT_ERR_FORMAT, "PNG: unknown colour type %d", h->color);
    }
    if (!ok)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: bit depth %d is not allowed for colour type %d", h->depth,
                            h->color);
    if (d[10] != 0 || d[11] != 0)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: unknown compression (%d) or filter method (%d)", d[10], d[11]);
    if (h->interlace > 1) return mt_error_set(err, MT_ERR_FORMAT, "PNG: unknown interlace method %d", h->interlace);
    h->spp = spp[h->color];
    return MT_OK;
}

static mt_status read_trns(png_info *h, const uint8_t *d, uint32_t len, mt_error *err) {
    if (h->color == MT_PNG_PALETTE) {
        if (h->n_palette == 0) return mt_error_set(err, MT_ERR_FORMAT, "PNG: tRNS before PLTE");
        if ((int)len > h->n_palette)
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: tRNS has %u entries for a palette of %d", len, h->n_palette);
        for (uint32_t i = 0; i < len; i++) h->palette[i][3] = d[i];
    } else if (h->color == MT_PNG_GREY || h->color == MT_PNG_RGB) {
        uint32_t want = h->color == MT_PNG_GREY ? 2 : 6;
        if (len != want) return mt_error_set(err, MT_ERR_FORMAT, "PNG: tRNS is %u bytes, not %u", len, want);
        for (uint32_t i = 0; i < want / 2; i++) h->key[i] = (uint16_t)(d[2 * i] << 8 | d[2 * i + 1]);
    } else {
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: tRNS in an image that has an alpha channel");
    }
    h->has_trns = true;
    return MT_OK;
}

/* Pass 1: every chunk's length, type and CRC; IHDR first, PLTE and tRNS in their place,
 * IDATs consecutive, IEND last. */
static mt_status walk_chunks(const uint8_t *data, size_t len, png_info *h, mt_error *err) {
    size_t pos = 8;
    bool seen_idat = false, idat_done = false, seen_plte = false;
    for (int index = 0;; index++) {
        if (len - pos < 12)
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: truncated: %s at offset %zu", pos == len ? "no IEND chunk" :
                                "a chunk header runs past the end", pos);
        uint32_t n = mt_png_be32(data + pos);
        const uint8_t *type = data + pos + 4, *body = data + pos + 8;
        char name[5];
        for (int i = 0; i < 4; i++) name[i] = (type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z') ?
                                                  (char)type[i] : '?';
        name[4] = 0;
        if (strchr(name, '?'))
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: bad chunk type at offset %zu", pos);
        if (n > INT32_MAX || n > len - pos - 12)
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: truncated: chunk %s at offset %zu claims %u bytes, %zu remain",
                                name, pos, n, len - pos - 12);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* as libpng: lets a fuzzer's mutations reach the rest */
        if (mt_png_chunk_crc(type, n) != mt_png_be32(body + n))
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: CRC mismatch in chunk %s at offset %zu", name, pos);
#endif
        if (index == 0 && !chunk_is(type, "IHDR"))
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: the first chunk is %s, not IHDR", name);
        if (seen_idat && !chunk_is(type, "IDAT")) idat_done = true;
        if (chunk_is(type, "IHDR")) {
            if (index != 0) return mt_error_set(err, MT_ERR_FORMAT, "PNG: a second IHDR at offset %zu", pos);
            if (read_ihdr(h, body, n, err) != MT_OK) return err->code;
        } else if (chunk_is(type, "PLTE")) {
            if (seen_plte || seen_idat)
                return mt_error_set(err, MT_ERR_FORMAT, "PNG: PLTE repeated or after IDAT");
            if (h->color == MT_PNG_GREY || h->color == MT_PNG_GREY_ALPHA)
                return mt_error_set(err, MT_ERR_FORMAT, "PNG: PLTE in a greyscale image");
            if (n == 0 || n % 3 != 0 || n / 3 > 256 || (h->color == MT_PNG_PALETTE && n / 3 > (1u << h->depth)))
                return mt_error_set(err, MT_ERR_FORMAT, "PNG: PLTE of %u bytes is not 1-%d RGB entries", n,
                                    h->color == MT_PNG_PALETTE ? 1 << h->depth : 256);
            seen_plte = true;
            h->n_palette = (int)(n / 3);
            for (int i = 0; i < h->n_palette; i++) {
                memcpy(h->palette[i], body + 3 * i, 3);
                h->palette[i][3] = 255;
            }
        } else if (chunk_is(type, "tRNS")) {
            if (h->has_trns || seen_idat) return mt_error_set(err, MT_ERR_FORMAT, "PNG: tRNS repeated or after IDAT");
            if (read_trns(h, body, n, err) != MT_OK) return err->code;
        } else if (chunk_is(type, "IDAT")) {
            if (idat_done) return mt_error_set(err, MT_ERR_FORMAT, "PNG: IDAT chunks are not consecutive");
            if (!seen_idat) h->idat_first = pos;
            seen_idat = true;
            h->idat_bytes += n;
        } else if (chunk_is(type, "IEND")) {
            if (!seen_idat) return mt_error_set(err, MT_ERR_FORMAT, "PNG: no IDAT chunk before IEND");
            if (h->color == MT_PNG_PALETTE && !seen_plte)
                return mt_error_set(err, MT_ERR_FORMAT, "PNG: palette image without a PLTE chunk");
            return MT_OK;
        } else if (!(type[0] & 0x20)) {
            return mt_error_set(err, MT_ERR_FORMAT, "PNG: unknown critical chunk %s", name);
        }
        pos += 12 + (size_t)n;
    }
}

/* Pass 2: the IDAT chunks' data, inflated into raw[0..n); exactly n bytes must come out.
 * (n < 2^32: at most 2^26 pixels of 8 bytes, plus a filter byte per row.) */
static mt_status inflate_idat(const uint8_t *data, const png_info *h, uint8_t *raw, size_t n, mt_error *err) {
    z_stream z = {0};
    if (inflateInit(&z) != Z_OK) return mt_error_set(err, MT_ERR_NOMEM, "PNG: zlib could not start");
    z.next_out = raw;
    z.avail_out = (uInt)n;
    /* One spare byte past the end lets "more data than the image needs" show itself. */
    uint8_t spare;
    bool spare_used = false;
    size_t pos = h->idat_first;
    mt_status s = MT_OK;
    for (;;) {
        if (z.avail_in == 0 && chunk_is(data + pos + 4, "IDAT")) {
            z.next_in = (Bytef *)(data + pos + 8);
            z.avail_in = mt_png_be32(data + pos);
            pos += 12 + (size_t)z.avail_in;
            continue;
        }
        if (z.avail_out == 0) {
            if (spare_used) break;
            z.next_out = &spare;
            z.avail_out = 1;
            spare_used = true;
        }
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END || (spare_used && z.avail_out == 0)) break;
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && !chunk_is(data + pos + 4, "IDAT")) {
            s = mt_error_set(err, MT_ERR_FORMAT, "PNG: the IDAT zlib stream is truncated (%zu of %zu bytes)",
                             spare_used ? n : n - z.avail_out, n);
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s = mt_error_set(err, MT_ERR_FORMAT, "PNG: the IDAT data is not valid zlib (%s)", z.msg ? z.msg : "corrupt");
            break;
        }
    }
    size_t done = spare_used ? n + 1 - z.avail_out : n - z.avail_out;
    inflateEnd(&z);
    if (s != MT_OK) return s;
    if (done > n)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: the IDAT data inflates to more than the %zu bytes a %u x %u image "
                            "needs", n, h->width, h->height);
    if (done < n)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: the IDAT data inflates to %zu bytes, a %u x %u image needs %zu",
                            done, h->width, h->height, n);
    return MT_OK;
}

static uint8_t paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Undoes the filters of rows x (1 + stride) bytes at raw, in place. bpp: bytes per
 * complete pixel (at least 1). */
static mt_status unfilter(uint8_t *raw, uint32_t rows, size_t stride, size_t bpp, mt_error *err) {
    const uint8_t *prev = NULL;
    for (uint32_t y = 0; y < rows; y++) {
        uint8_t *line = raw + (size_t)y * (stride + 1), *cur = line + 1;
        int filter = line[0];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0, c = prev && i >= bpp ? prev[i - bpp] : 0;
            switch (filter) {
            case 0: break;
            case 1: cur[i] = (uint8_t)(cur[i] + a); break;
            case 2: cur[i] = (uint8_t)(cur[i] + b); break;
            case 3: cur[i] = (uint8_t)(cur[i] + ((a + b) >> 1)); break;
            case 4: cur[i] = (uint8_t)(cur[i] + paeth(a, b, c)); break;
            default: return mt_error_set(err, MT_ERR_FORMAT, "PNG: bad filter type %d in row %u", filter, y);
            }
        }
        prev = cur;
    }
    return MT_OK;
}

/* Sample i of an unfiltered row, at the file's bit depth. */
static unsigned sample(const uint8_t *row, size_t i, int depth) {
    if (depth == 8) return row[i];
    if (depth == 16) return (unsigned)row[2 * i] << 8 | row[2 * i + 1];
    size_t bit = i * (size_t)depth;
    return (row[bit / 8] >> (8 - depth - (int)(bit % 8))) & ((1u << depth) - 1);
}

static uint8_t to8(unsigned v, int depth) {
    if (depth == 8) return (uint8_t)v;
    unsigned max = (1u << depth) - 1;
    return (uint8_t)((v * 255 + max / 2) / max);
}

/* Writes the pixels of one unfiltered pass into out. */
static mt_status emit_pass(const png_info *h, const png_pass *p, const uint8_t *raw, uint32_t pw, uint32_t ph,
                           mt_image *out, mt_error *err) {
    size_t stride = row_bytes(h, pw);
    int oc = out->channels;
    for (uint32_t y = 0; y < ph; y++) {
        const uint8_t *row = raw + (size_t)y * (stride + 1) + 1;
        size_t oy = (size_t)p->y0 + (size_t)y * (size_t)p->dy;
        for (uint32_t x = 0; x < pw; x++) {
            size_t ox = (size_t)p->x0 + (size_t)x * (size_t)p->dx;
            uint8_t *o = out->pixels + (oy * (size_t)out->width + ox) * (size_t)oc;
            size_t s0 = (size_t)x * (size_t)h->spp;
            if (h->color == MT_PNG_PALETTE) {
                unsigned idx = sample(row, s0, h->depth);
                if ((int)idx >= h->n_palette)
                    return mt_error_set(err, MT_ERR_FORMAT, "PNG: palette index %u out of range (%d entries) at (%zu, %zu)",
                                        idx, h->n_palette, ox, oy);
                memcpy(o, h->palette[idx], (size_t)oc);
                continue;
            }
            bool keyed = h->has_trns;
            for (int c = 0; c < h->spp; c++) {
                unsigned v = sample(row, s0 + (size_t)c, h->depth);
                o[c] = to8(v, h->depth);
                if (keyed && c < 3 && v != h->key[c]) keyed = false;
            }
            if (h->has_trns) o[oc - 1] = keyed ? 0 : 255;
        }
    }
    return MT_OK;
}

mt_status mt_png_decode(const uint8_t *data, size_t len, mt_image *out, mt_error *err) {
    *out = (mt_image){0};
    if (len < 8 || memcmp(data, MT_PNG_SIGNATURE, 8) != 0)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: bad signature (not a PNG file)");
    png_info h = {0};
    if (walk_chunks(data, len, &h, err) != MT_OK) return err->code;

    /* The inflated size, pass by pass, from the dimensions alone. */
    int n_pass = h.interlace ? 7 : 1;
    const png_pass *passes = h.interlace ? ADAM7 : &PLAIN;
    size_t need = 0;
    for (int k = 0; k < n_pass; k++) {
        uint32_t pw = pass_size(h.width, passes[k].x0, passes[k].dx), ph = pass_size(h.height, passes[k].y0, passes[k].dy);
        if (pw && ph) need += (size_t)ph * (row_bytes(&h, pw) + 1);
    }
    if (h.idat_bytes < need / PNG_MAX_RATIO)
        return mt_error_set(err, MT_ERR_FORMAT, "PNG: %zu bytes of IDAT data cannot hold a %u x %u image",
                            h.idat_bytes, h.width, h.height);
    int channels = h.color == MT_PNG_PALETTE ? (h.has_trns ? 4 : 3) : h.spp + (h.has_trns ? 1 : 0);
    uint8_t *raw = malloc(need);
    if (!raw) return mt_error_set(err, MT_ERR_NOMEM, "PNG: out of memory for %zu bytes", need);
    mt_image img;
    if (inflate_idat(data, &h, raw, need, err) != MT_OK ||
        mt_image_new(&img, (int)h.width, (int)h.height, channels, err) != MT_OK) {
        free(raw);
        return err->code;
    }
    size_t bpp = (size_t)(h.spp * h.depth + 7) / 8;
    uint8_t *at = raw;
    for (int k = 0; k < n_pass; k++) {
        uint32_t pw = pass_size(h.width, passes[k].x0, passes[k].dx), ph = pass_size(h.height, passes[k].y0, passes[k].dy);
        if (!pw || !ph) continue;
        size_t stride = row_bytes(&h, pw);
        if (unfilter(at, ph, stride, bpp, err) != MT_OK || emit_pass(&h, &passes[k], at, pw, ph, &img, err) != MT_OK) {
            free(raw);
            mt_image_free(&img);
            return err->code;
        }
        at += (size_t)ph * (stride + 1);
    }
    free(raw);
    *out = img;
    return MT_OK;
}
