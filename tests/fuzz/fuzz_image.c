/* libFuzzer target for the image readers and the digit conversion. Each input goes to
 * the PNG decoder and the PGM decoder; whatever decodes must hold width x height x
 * channels bytes (read in full, so ASan checks the length) and convert to 784 floats in
 * [0, 1] or fail with a message; a failed decode must explain itself and leave *out
 * empty. No crash, no out-of-bounds access, no leak, no hang.
 *
 * Build and run with tests/fuzz/run.sh SECONDS fuzz_image.
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention) skips the PNG chunk
 * CRC check, which random mutations would otherwise almost never pass.
 * The seed corpus (tests/fuzz/corpus/fuzz_image) holds the small test PNGs and PGMs of every
 * colour type, bit depth and interlace. */
#include "mytorch/image.h"

#include <stdlib.h>
#include <string.h>

static void check(mt_status s, mt_image *img, const mt_error *err) {
    if (s != MT_OK) {
        if (err->code == MT_OK || err->msg[0] == '\0' || img->pixels || img->width || img->height) abort();
        return;
    }
    if (img->width < 1 || img->height < 1 || img->channels < 1 || img->channels > 4 || !img->pixels) abort();
    size_t n = (size_t)img->width * (size_t)img->height * (size_t)img->channels;
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += img->pixels[i];
    (void)sum;
    float x[784];
    mt_error e = {0};
    if (mt_image_to_mnist(img, x, &e) == MT_OK) {
        for (int i = 0; i < 784; i++)
            if (!(x[i] >= 0.0f && x[i] <= 1.0f)) abort();
    } else if (e.msg[0] == '\0') {
        abort();
    }
    mt_image_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mt_image img;
    mt_error err = {0};
    check(mt_png_decode(data, size, &img, &err), &img, &err);
    mt_error_clear(&err);
    check(mt_pgm_decode(data, size, &img, &err), &img, &err);
    return 0;
}
