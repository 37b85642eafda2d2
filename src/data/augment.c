/* Augmentation: one affine map per image (rotation, shift, scale around the centre),
 * bilinear, zero outside the source.
 *
 * Coordinates: x is the column (right), y the row (down). The forward map takes a source
 * point q to c + t + s R (q - c), with c the centre, t = (dx, dy) and R the rotation that
 * turns the digit counter-clockwise on screen. With y pointing down, R(theta) is
 * [[cos, sin], [-sin, cos]]: (1, 0), right of the centre, goes to (0, -1), above it. Each
 * output pixel p reads the source at the inverse, c + (1/s) R(-theta) (p - c - t). */
#include "mytorch/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEG_TO_RAD 0.017453292519943295
/* mt_dataset_augmented warps this many images at a time into a float buffer. */
#define WARP_CHUNK 1024

mt_augment_params mt_augment_report(void) {
    return (mt_augment_params){
        .max_degrees = 10.0f,
        .max_shift = 3.0f,
        .min_scale = 0.9f,
        .max_scale = 1.1f,
    };
}

mt_status mt_augment_check(const mt_augment_params *p, mt_error *err) {
    if (!p) return mt_error_set(err, MT_ERR_ARG, "augment: params are NULL");
    if (!isfinite(p->max_degrees) || p->max_degrees < 0.0f)
        return mt_error_set(err, MT_ERR_ARG, "augment: max_degrees must be finite and >= 0, got %g",
                            p->max_degrees);
    if (!isfinite(p->max_shift) || p->max_shift < 0.0f)
        return mt_error_set(err, MT_ERR_ARG, "augment: max_shift must be finite and >= 0, got %g",
                            p->max_shift);
    if (!isfinite(p->min_scale) || !isfinite(p->max_scale) || !(p->min_scale > 0.0f) ||
        p->min_scale > p->max_scale)
        return mt_error_set(err, MT_ERR_ARG,
                            "augment: scale range must satisfy 0 < min_scale <= max_scale, got "
                            "[%g, %g]",
                            p->min_scale, p->max_scale);
    return MT_OK;
}

static float uniform_in(mt_rng *rng, float lo, float hi) {
    return lo + (hi - lo) * mt_rng_uniform(rng);
}

mt_augment_transform mt_augment_draw(const mt_augment_params *p, mt_rng *rng) {
    mt_augment_transform t;
    t.degrees = uniform_in(rng, -p->max_degrees, p->max_degrees);
    t.dx = uniform_in(rng, -p->max_shift, p->max_shift);
    t.dy = uniform_in(rng, -p->max_shift, p->max_shift);
    t.scale = uniform_in(rng, p->min_scale, p->max_scale);
    return t;
}

/* src[y][x], or 0 outside the image. */
static inline float pixel_or_zero(const uint8_t *src, int rows, int cols, int y, int x) {
    return (x >= 0 && x < cols && y >= 0 && y < rows) ? (float)src[y * cols + x] : 0.0f;
}

void mt_augment_warp(const uint8_t *src, int rows, int cols, float degrees, float dx, float dy,
                     float scale, float *dst) {
    /* a, b: the inverse map's matrix (1/s) R(-theta) = [[a, -b], [b, a]]. sin and cos in
     * double so that 0 degrees gives exactly a = 1/s, b = 0 and the identity is exact. */
    double rad = (double)degrees * DEG_TO_RAD;
    float a = (float)(cos(rad) / scale), b = (float)(sin(rad) / scale);
    float cx = 0.5f * (float)(cols - 1), cy = 0.5f * (float)(rows - 1);
    for (int y = 0; y < rows; y++) {
        float Y = (float)y - cy - dy;
        float row_x = cx - b * Y, row_y = cy + a * Y;
        float *out = dst + (int64_t)y * cols;
        for (int x = 0; x < cols; x++) {
            float X = (float)x - cx - dx;
            float sx = row_x + a * X, sy = row_y + b * X;
            /* Written so that NaN (scale 0, non-finite input) also lands here. */
            if (!(sx > -1.0f && sx < (float)cols && sy > -1.0f && sy < (float)rows)) {
                out[x] = 0.0f;
                continue;
            }
            float fx0 = floorf(sx), fy0 = floorf(sy);
            int x0 = (int)fx0, y0 = (int)fy0;
            float fx = sx - fx0, fy = sy - fy0;
            float top = (1.0f - fx) * pixel_or_zero(src, rows, cols, y0, x0) +
                        fx * pixel_or_zero(src, rows, cols, y0, x0 + 1);
            float bottom = (1.0f - fx) * pixel_or_zero(src, rows, cols, y0 + 1, x0) +
                           fx * pixel_or_zero(src, rows, cols, y0 + 1, x0 + 1);
            float v = (1.0f - fy) * top + fy * bottom;
            out[x] = v < 255.0f ? v : 255.0f; /* rounding can overshoot by an ulp */
        }
    }
}

void mt_augment_random(const uint8_t *src, int rows, int cols, const mt_augment_params *p,
                       mt_rng *rng, float *dst) {
    mt_augment_transform t = mt_augment_draw(p, rng);
    mt_augment_warp(src, rows, cols, t.degrees, t.dx, t.dy, t.scale, dst);
}

mt_status mt_dataset_augmented(const mt_dataset *src, int copies, const mt_augment_params *p,
                               uint64_t seed, mt_dataset *out, mt_error *err) {
    if (!out) return mt_error_set(err, MT_ERR_ARG, "augmented dataset: out is NULL");
    *out = (mt_dataset){0};
    if (!src || !src->images || !src->labels || src->n <= 0 || src->rows <= 0 || src->cols <= 0)
        return mt_error_set(err, MT_ERR_ARG,
                            "augmented dataset: the source dataset is empty or not loaded");
    if (copies < 0)
        return mt_error_set(err, MT_ERR_ARG, "augmented dataset: copies must be >= 0, got %d",
                            copies);
    mt_status st = mt_augment_check(p, err);
    if (st != MT_OK) return st;

    const int64_t n = src->n, P = (int64_t)src->rows * src->cols;
    /* Bounds total * P bytes of images and total transforms of 16 bytes alike. */
    const uint64_t limit = (SIZE_MAX / sizeof(mt_augment_transform)) / (uint64_t)P;
    if ((uint64_t)copies + 1 > limit / (uint64_t)n)
        return mt_error_set(err, MT_ERR_ARG,
                            "augmented dataset: %lld images x (1 + %d copies) of %lld pixels is "
                            "too large",
                            (long long)n, copies, (long long)P);
    const int64_t total = n * (1 + (int64_t)copies), m = n * copies;
    const int64_t chunk = m < WARP_CHUNK ? m : WARP_CHUNK;
    uint8_t *images = malloc((size_t)(total * P));
    uint8_t *labels = malloc((size_t)total);
    /* Every transform, drawn serially first so that threads cannot change them. */
    mt_augment_transform *tf = malloc((size_t)(m + 1) * sizeof *tf);
    float *buf = malloc((size_t)((chunk + 1) * P) * sizeof *buf);
    if (!images || !labels || !tf || !buf) {
        free(images);
        free(labels);
        free(tf);
        free(buf);
        return mt_error_set(err, MT_ERR_NOMEM, "augmented dataset: out of memory for %lld images",
                            (long long)total);
    }
    memcpy(images, src->images, (size_t)(n * P));
    for (int64_t k = 0; k <= copies; k++) memcpy(labels + k * n, src->labels, (size_t)n);
    mt_rng rng;
    mt_rng_seed(&rng, seed);
    for (int64_t j = 0; j < m; j++) tf[j] = mt_augment_draw(p, &rng);

    /* Copy j (0 <= j < m) is image n + j, warped from source image j % n, in chunks of
     * WARP_CHUNK images whose float results wait in buf for rounding. */
    const int rows = src->rows, cols = src->cols;
    for (int64_t j0 = 0; j0 < m; j0 += chunk) {
        int64_t len = m - j0 < chunk ? m - j0 : chunk;
#ifdef _OPENMP
#pragma omp parallel for
#endif
        for (int64_t i = 0; i < len; i++) {
            const mt_augment_transform *t = &tf[j0 + i];
            float *f = buf + i * P;
            uint8_t *dst = images + (n + j0 + i) * P;
            mt_augment_warp(src->images + ((j0 + i) % n) * P, rows, cols, t->degrees, t->dx,
                            t->dy, t->scale, f);
            for (int64_t q = 0; q < P; q++) dst[q] = (uint8_t)lroundf(f[q]);
        }
    }
    free(tf);
    free(buf);
    *out = (mt_dataset){.images = images, .labels = labels, .n = total, .rows = rows, .cols = cols};
    return MT_OK;
}
