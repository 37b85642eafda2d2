/* Images: 8-bit PNG and PGM files in and out, and the conversion of a picture of a digit
 * into an MNIST-style 28x28 input.
 *
 * An mt_image is width x height pixels, row-major from the top-left, each pixel
 * `channels` interleaved bytes: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
#ifndef MYTORCH_IMAGE_H
#define MYTORCH_IMAGE_H

#include "mytorch/core.h"

typedef struct {
    int width, height, channels;
    uint8_t *pixels; /* width * height * channels bytes, malloc'd; mt_image_free() */
} mt_image;

/* A zeroed (black, transparent) image, or MT_ERR_NOMEM / MT_ERR_ARG in err. */
mt_status mt_image_new(mt_image *img, int width, int height, int channels, mt_error *err);
/* Frees the pixels; the struct is zeroed. */
void mt_image_free(mt_image *img);

/* Reading (src/io/png_read.c, src/io/pgm.c). The decoders trust nothing: every length,
 * dimension and checksum is checked before memory is allocated or written, and a file
 * over the size limits is refused with a message naming the problem. Any PNG colour type
 * and bit depth (1-16, palette, interlaced or not) becomes 8-bit grey, grey+alpha, RGB
 * or RGBA. */
mt_status mt_png_decode(const uint8_t *data, size_t len, mt_image *out, mt_error *err);
/* PGM, binary (P5) or ASCII (P2), maxval up to 65535, becomes 8-bit grey. */
mt_status mt_pgm_decode(const uint8_t *data, size_t len, mt_image *out, mt_error *err);
/* Reads path as PNG or PGM, by its first bytes (not its name). err names the path. */
mt_status mt_image_read(const char *path, mt_image *out, mt_error *err);

/* Writing (src/io/png_write.c): an 8-bit PNG (grey, grey+alpha, RGB or RGBA as
 * img->channels says) with zlib compression. encode gives a malloc'd buffer (*data,
 * freed by the caller); write goes through mt_atomic_file. */
mt_status mt_png_encode(const mt_image *img, uint8_t **data, size_t *len, mt_error *err);
mt_status mt_png_write(const char *path, const mt_image *img, mt_error *err);

/* A picture of one digit -> 28x28 floats in [0, 1], made the way MNIST was made (grey,
 * the digit white on black: inverted when the background is light; cropped to the
 * digit's bounding box; scaled to fit 20x20 keeping its aspect ratio; centred by its
 * centre of mass in 28x28). out holds 784 floats. MT_ERR_FORMAT when the picture is
 * blank (no digit). (src/data/digit.c) */
mt_status mt_image_to_mnist(const mt_image *img, float *out, mt_error *err);

#endif
