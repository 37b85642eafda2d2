/* The PNG writer: signature, IHDR, one IDAT (zlib), IEND, each chunk with its CRC-32.
 * Each row gets the filter (None, Sub or Up) whose output has the smallest sum of
 * absolute values, the usual cheap heuristic that helps zlib on smooth images. */
#include "io/png.h"
#include "mytorch/file.h"
#include "mytorch/image.h"

#include <stdlib.h>
#include <string.h>

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC over type and data) at out + *pos. */
static void put_chunk(uint8_t *out, size_t *pos, const char type[4], const uint8_t *data, size_t len) {
    uint8_t *p = out + *pos;
    put_u32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    if (len && data != p + 8) memcpy(p + 8, data, len);
    put_u32(p + 8 + len, mt_png_chunk_crc(p + 4, len));
    *pos += len + 12;
}

/* Writes filter byte + filtered row into dst (1 + stride bytes). prev is NULL for row 0. */
static void filter_row(uint8_t *dst, const uint8_t *row, const uint8_t *prev, size_t stride, int bpp) {
    uint64_t best_cost = UINT64_MAX;
    for (uint8_t f = 0; f <= 2; f++) {
        uint64_t cost = 0;
        for (size_t i = 0; i < stride; i++) {
            uint8_t left = i >= (size_t)bpp ? row[i - (size_t)bpp] : 0, up = prev ? prev[i] : 0;
            uint8_t v = (uint8_t)(row[i] - (f == 1 ? left : f == 2 ? up : 0));
            cost += v < 128 ? v : 256 - v;
        }
        if (cost < best_cost) {
            best_cost = cost;
            dst[0] = f;
        }
    }
    for (size_t i = 0; i < stride; i++) {
        uint8_t left = i >= (size_t)bpp ? row[i - (size_t)bpp] : 0, up = prev ? prev[i] : 0;
        dst[1 + i] = (uint8_t)(row[i] - (dst[0] == 1 ? left : dst[0] == 2 ? up : 0));
    }
}

mt_status mt_png_encode(const mt_image *img, uint8_t **data, size_t *len, mt_error *err) {
    *data = NULL;
    *len = 0;
    static const uint8_t color_type[5] = {0, MT_PNG_GREY, MT_PNG_GREY_ALPHA, MT_PNG_RGB, MT_PNG_RGBA}; /* by channels */
    if (!img || !img->pixels || img->width < 1 || img->height < 1 || img->channels < 1 || img->channels > 4 ||
        (int64_t)img->width * img->height > (int64_t)1 << 28)
        return mt_error_set(err, MT_ERR_ARG, "cannot encode a PNG of %d x %d pixels with %d channels",
                            img ? img->width : 0, img ? img->height : 0, img ? img->channels : 0);
    size_t stride = (size_t)img->width * (size_t)img->channels, raw_len = (stride + 1) * (size_t)img->height;
    uLongf z_len = compressBound((uLong)raw_len);
    uint8_t *raw = malloc(raw_len), *out = malloc(8 + 25 + 12 + z_len + 12);
    uint8_t *z = out ? out + 8 + 25 + 8 : NULL; /* the IDAT data, compressed in place */
    if (!raw || !out) {
        free(raw);
        free(out);
        return mt_error_set(err, MT_ERR_NOMEM, "out of memory encoding a %d x %d PNG", img->width, img->height);
    }
    for (int y = 0; y < img->height; y++)
        filter_row(raw + (size_t)y * (stride + 1), img->pixels + (size_t)y * stride,
                   y ? img->pixels + (size_t)(y - 1) * stride : NULL, stride, img->channels);
    int zs = compress2(z, &z_len, raw, (uLong)raw_len, 9);
    free(raw);
    if (zs != Z_OK) {
        free(out);
        return mt_error_set(err, MT_ERR_NOMEM, "zlib could not compress a %d x %d PNG (error %d)", img->width,
                            img->height, zs);
    }
    memcpy(out, MT_PNG_SIGNATURE, 8);
    uint8_t ihdr[13];
    put_u32(ihdr, (uint32_t)img->width);
    put_u32(ihdr + 4, (uint32_t)img->height);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = color_type[img->channels];
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    size_t pos = 8;
    put_chunk(out, &pos, "IHDR", ihdr, 13);
    put_chunk(out, &pos, "IDAT", z, z_len); /* z already sits where the chunk's data goes */
    put_chunk(out, &pos, "IEND", NULL, 0);
    *data = out;
    *len = pos;
    return MT_OK;
}

mt_status mt_png_write(const char *path, const mt_image *img, mt_error *err) {
    uint8_t *data;
    size_t len;
    mt_status s = mt_png_encode(img, &data, &len, err);
    if (s != MT_OK) return s;
    s = mt_write_file_atomic(path, data, len, err);
    free(data);
    return s;
}
