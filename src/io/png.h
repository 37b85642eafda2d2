/* What the PNG reader and writer share: the signature, the colour types, and the chunk
 * CRC (zlib's crc32 over the chunk type and data). */
#ifndef MT_IO_PNG_H
#define MT_IO_PNG_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define MT_PNG_SIGNATURE "\x89PNG\r\n\x1a\n" /* 8 bytes */

enum { MT_PNG_GREY = 0, MT_PNG_RGB = 2, MT_PNG_PALETTE = 3, MT_PNG_GREY_ALPHA = 4, MT_PNG_RGBA = 6 };

/* The CRC stored after a chunk: over its 4-byte type and n_data bytes of data, which
 * follow the type in memory. */
static inline uint32_t mt_png_chunk_crc(const uint8_t *type_and_data, size_t n_data) {
    return (uint32_t)crc32(0L, type_and_data, (uInt)(n_data + 4));
}

static inline uint32_t mt_png_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
