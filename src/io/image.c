/* mt_image allocation, and reading an image file by its first bytes. */
#include "mytorch/image.h"

#include <stdlib.h>

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
