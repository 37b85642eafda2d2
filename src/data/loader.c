/* The data loader: a seeded permutation per epoch, cut into batches of normalised floats,
 * optionally warped by a random affine map per image (augment.c).
 *
 * Normalisation (p/255 - mean)/std is computed as p * (1/(255*std)) - mean/std: a
 * multiply-add per pixel that vectorises, instead of a divide. */
#include "mytorch/data.h"

#include <math.h>
#include <stdlib.h>

/* pos < 0: no epoch started yet; the first mt_loader_next() starts one. */
#define LOADER_NOT_STARTED (-1)

mt_status mt_loader_init(mt_loader *l, const mt_dataset *ds, int64_t batch_size, bool shuffle,
                         uint64_t seed, float mean, float std, mt_error *err) {
    *l = (mt_loader){0};
    if (!ds || !ds->images || !ds->labels || ds->n <= 0 || ds->rows <= 0 || ds->cols <= 0)
        return mt_error_set(err, MT_ERR_ARG, "loader: the dataset is empty or not loaded");
    if (ds->n > INT32_MAX)
        return mt_error_set(err, MT_ERR_ARG, "loader: %lld items is more than the %d supported",
                            (long long)ds->n, INT32_MAX);
    if (batch_size <= 0)
        return mt_error_set(err, MT_ERR_ARG, "loader: batch_size must be > 0, got %lld",
                            (long long)batch_size);
    if (!(std > 0.0f) || !isfinite(std) || !isfinite(mean))
        return mt_error_set(err, MT_ERR_ARG,
                            "loader: std must be finite and > 0 and mean finite, got mean %g std %g",
                            mean, std);
    int32_t *order = malloc((size_t)ds->n * sizeof *order);
    if (!order)
        return mt_error_set(err, MT_ERR_NOMEM, "loader: out of memory for %lld indices",
                            (long long)ds->n);
    for (int64_t i = 0; i < ds->n; i++) order[i] = (int32_t)i;
    *l = (mt_loader){
        .ds = ds,
        .batch_size = batch_size,
        .shuffle = shuffle,
        .mean = mean,
        .std = std,
        .order = order,
        .pos = LOADER_NOT_STARTED,
    };
    mt_rng_seed(&l->rng, seed);
    return MT_OK;
}

mt_status mt_loader_set_augment(mt_loader *l, const mt_augment_params *p, mt_error *err) {
    if (!l) return mt_error_set(err, MT_ERR_ARG, "loader: set_augment on a NULL loader");
    if (p) {
        mt_status st = mt_augment_check(p, err);
        if (st != MT_OK) return st;
        l->augment_params = *p;
    }
    l->augment = p != NULL;
    return MT_OK;
}

void mt_loader_start_epoch(mt_loader *l) {
    if (l->shuffle) mt_rng_shuffle(&l->rng, l->order, l->ds->n);
    l->pos = 0;
}

int64_t mt_loader_num_batches(const mt_loader *l) {
    return (l->ds->n + l->batch_size - 1) / l->batch_size;
}

int64_t mt_loader_next(mt_loader *l, mt_ctx *ctx, mt_tensor **x, int32_t **targets) {
    *x = NULL;
    *targets = NULL;
    if (l->pos == LOADER_NOT_STARTED) mt_loader_start_epoch(l);
    const mt_dataset *ds = l->ds;
    if (l->pos >= ds->n) return 0;
    int64_t B = ds->n - l->pos < l->batch_size ? ds->n - l->pos : l->batch_size;
    int64_t P = (int64_t)ds->rows * ds->cols;
    mt_tensor *out = mt_tensor_empty(ctx, 4, (int64_t[]){B, 1, ds->rows, ds->cols});
    int32_t *y = mt_ctx_alloc(ctx, (size_t)B * sizeof *y);
    if (!out || !y) return -1;

    const float scale = 1.0f / (255.0f * l->std), shift = l->mean / l->std;

    /* Transforms are drawn serially, before the parallel loop, so that the thread count
     * cannot change which image gets which. */
    mt_augment_transform *tf = NULL;
    if (l->augment) {
        tf = mt_ctx_alloc(ctx, (size_t)B * sizeof *tf);
        if (!tf) return -1;
        for (int64_t b = 0; b < B; b++) tf[b] = mt_augment_draw(&l->augment_params, &l->rng);
    }

    const int32_t *idx = l->order + l->pos;
    /* A warp costs about ten times a plain conversion per pixel: threads pay off sooner. */
#ifdef _OPENMP
#pragma omp parallel for if (B * P * (tf ? 10 : 1) > (1 << 16))
#endif
    for (int64_t b = 0; b < B; b++) {
        const uint8_t *src = ds->images + (int64_t)idx[b] * P;
        float *dst = out->data + b * P;
        if (tf) {
            mt_augment_warp(src, ds->rows, ds->cols, tf[b].degrees, tf[b].dx, tf[b].dy,
                            tf[b].scale, dst);
            for (int64_t k = 0; k < P; k++) dst[k] = dst[k] * scale - shift;
        } else {
            /* Convert and scale: vectorises, where a 256-entry table look-up would gather. */
            for (int64_t k = 0; k < P; k++) dst[k] = (float)src[k] * scale - shift;
        }
        y[b] = ds->labels[idx[b]];
    }
    l->pos += B;
    *x = out;
    *targets = y;
    return B;
}

void mt_loader_free(mt_loader *l) {
    if (!l) return;
    free(l->order);
    *l = (mt_loader){0};
}
