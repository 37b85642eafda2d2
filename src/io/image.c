/* mt_image allocation, and reading an image file by its first bytes. */
#include "mytorch/image.h"
#include "io/png.h"
#include "mytorch/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mt_status mt_image_new(mt_image *img, int width, int height, int channels, mt_error *err) {
    *img = (mt_image){0};
    if (width < 1 || height < 1 || channels < 1 || channels > 4 || (int64_t)width * height > (int64_t)1 << 28)
        return mt_error_set(err, MT_ERR_ARG, "image of %d x %d pixels with %d channels is not supported", width,
                            height, channels);
    img->pixels = calloc((size_t)width * (size_t)height, (size_t)channels);
    if (!img->pixels)
        return mt_error_set(err, MT_ERR_NOMEM, "out of memory for a %d x %d image", width, height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return MT_OK;
}

void mt_image_free(mt_image *img) {
    if (!img) return;
    free(img->pixels);
    *img = (mt_image){0};
}

#define IMAGE_MAX_FILE_BYTES ((size_t)64 << 20)

mt_status mt_image_read(const char *path, mt_image *out, mt_error *err) {
    *out = (mt_image){0};
    uint8_t *data;
    size_t len;
    if (mt_read_file(path, IMAGE_MAX_FILE_BYTES, &data, &len, err) != MT_OK) return err->code;
    mt_error e = {0};
    if (len >= 8 && memcmp(data, MT_PNG_SIGNATURE, 8) == 0) {
        mt_png_decode(data, len, out, &e);
    } else if (len >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '2')) {
        mt_pgm_decode(data, len, out, &e);
    } else {
        /* The first bytes, printable ones as they are, to help spot what the file is. */
        char head[64] = "", *h = head;
        for (size_t i = 0; i < len && i < 8; i++) {
            uint8_t c = data[i];
            h += sprintf(h, c >= 0x20 && c < 0x7f && c != '\\' && c != '"' ? "%c" : "\\x%02x", c);
        }
        if (len) mt_error_set(&e, MT_ERR_FORMAT, "not a PNG or PGM image (starts with \"%s\")", head);
        else mt_error_set(&e, MT_ERR_FORMAT, "not a PNG or PGM image (the file is empty)");
    }
    free(data);
    if (e.code != MT_OK) return mt_error_set(err, e.code, "%s: %s", path, e.msg);
    return MT_OK;
}
