/* mytorch data: IDX files (MNIST format, plain or gzip), datasets of uint8 images, and a
 * loader that shuffles, batches and normalises. */
#ifndef MYTORCH_DATA_H
#define MYTORCH_DATA_H

#include "mytorch/core.h"

/* An IDX file of uint8 values: dims[0] items of dims[1] x ... values. */
typedef struct {
    uint8_t *data;     /* owned; free with mt_idx_free */
    int ndim;          /* 1 for labels, 3 for images */
    int64_t dims[4];
} mt_idx;

/* Reads an IDX file of unsigned bytes (type code 0x08) with 1 to 4 dims, plain or gzip
 * (detected by the gzip magic, not the name). Checks the magic, the dims (each > 0 and
 * the total bounded), and that the file holds exactly the promised bytes, before it
 * allocates. Errors name the path and what is wrong. */
mt_status mt_idx_read(const char *path, mt_idx *out, mt_error *err);
void mt_idx_free(mt_idx *idx);

/* Images with their labels, in memory as uint8. Owned: mt_dataset_free(). */
typedef struct {
    uint8_t *images;   /* n * rows * cols */
    uint8_t *labels;   /* n, each < 10 */
    int64_t n;
    int rows, cols;
} mt_dataset;

/* Loads the MNIST training (train=true: train-images-idx3-ubyte, train-labels-idx1-ubyte)
 * or test set (t10k-...) from dir; each file may also be NAME.gz. Checks that image and
 * label counts agree and labels are 0-9. A missing folder or file is a clear error. */
mt_status mt_mnist_load(const char *dir, bool train, mt_dataset *out, mt_error *err);
void mt_dataset_free(mt_dataset *ds);

/* ---- augmentation: random affine maps of an image (rotation, shift, scale) -------------- */

/* Ranges of a random transform: rotation uniform in [-max_degrees, max_degrees], shift
 * uniform in [-max_shift, max_shift] pixels on each axis, scale uniform in
 * [min_scale, max_scale]. Valid when finite, max_degrees >= 0, max_shift >= 0 and
 * 0 < min_scale <= max_scale (mt_augment_check). */
typedef struct {
    float max_degrees, max_shift, min_scale, max_scale;
} mt_augment_params;

/* One drawn transform: degrees counter-clockwise as displayed (row 0 at the top), shift
 * dx right and dy down in pixels, scale (> 1 enlarges the digit). */
typedef struct {
    float degrees, dx, dy, scale;
} mt_augment_transform;

/* The report's: 10 degrees, 3 px, scale 0.9-1.1. */
mt_augment_params mt_augment_report(void);
/* MT_OK when p is valid (see mt_augment_params); else MT_ERR_ARG naming the bad field. */
mt_status mt_augment_check(const mt_augment_params *p, mt_error *err);
/* Draws one transform from rng, uniform in the ranges of p, in the order degrees, dx, dy,
 * scale (four draws). */
mt_augment_transform mt_augment_draw(const mt_augment_params *p, mt_rng *rng);
/* Warps one rows x cols uint8 image src into dst (rows x cols floats in [0, 255]): the
 * digit is scaled by scale and rotated by degrees (positive: counter-clockwise on screen,
 * row 0 at the top) around the centre ((cols-1)/2, (rows-1)/2), then shifted by dx
 * (right) and dy (down) pixels. Bilinear resampling; outside the source counts as 0. The
 * identity (0, 0, 0, 1) copies src exactly; scale <= 0 or non-finite values give zeros. */
void mt_augment_warp(const uint8_t *src, int rows, int cols, float degrees, float dx, float dy,
                     float scale, float *dst);
/* Draws one transform from rng (mt_augment_draw) and warps src with it into dst. */
void mt_augment_random(const uint8_t *src, int rows, int cols, const mt_augment_params *p,
                       mt_rng *rng, float *dst);
/* The report's fixed enlarged set: a new dataset *out holding the n images of src followed
 * by `copies` transformed passes over them (image n*(1+k) + i is copy k of image i, rounded
 * to uint8), labels copied along. Transforms come from a PCG32 seeded with seed, drawn
 * serially, so the result depends only on seed. copies >= 0. Owned by the caller:
 * mt_dataset_free(out). On failure *out is empty. */
mt_status mt_dataset_augmented(const mt_dataset *src, int copies, const mt_augment_params *p,
                               uint64_t seed, mt_dataset *out, mt_error *err);

/* ---- the loader ------------------------------------------------------------------------ */

/* Iterates a dataset in batches of float images (B, 1, rows, cols), each pixel
 * (p/255 - mean) / std, and int32 labels. With shuffle, each epoch draws a new order
 * from the loader's own seeded RNG. The last batch may be smaller. */
typedef struct {
    const mt_dataset *ds;
    int64_t batch_size;
    bool shuffle;
    float mean, std;
    mt_rng rng;
    int32_t *order;    /* owned: permutation of 0..n-1 */
    int64_t pos;       /* next place in order; -1 before the first epoch */
    bool augment;      /* mt_loader_set_augment: warp every image with a fresh transform */
    mt_augment_params augment_params;
} mt_loader;

/* Owned: mt_loader_free(). ds is borrowed and must outlive the loader. Fails (MT_ERR_ARG)
 * on an empty dataset, batch_size <= 0 or std <= 0. Calling mt_loader_start_epoch()
 * before the first epoch is optional: the first mt_loader_next() starts it. */
mt_status mt_loader_init(mt_loader *l, const mt_dataset *ds, int64_t batch_size, bool shuffle,
                         uint64_t seed, float mean, float std, mt_error *err);
/* Turns random augmentation on (p copied) or off (p NULL). While on, every image of every
 * batch is warped by a fresh transform drawn from the loader's own RNG (same seed, same
 * transforms, whatever the thread count) before normalisation. MT_ERR_ARG for invalid
 * params (mt_augment_check); the loader is then left as it was. */
mt_status mt_loader_set_augment(mt_loader *l, const mt_augment_params *p, mt_error *err);
/* Starts an epoch: rewinds, and reshuffles when shuffle is on. */
void mt_loader_start_epoch(mt_loader *l);
/* Number of batches per epoch. */
int64_t mt_loader_num_batches(const mt_loader *l);
/* The next batch as arena tensors of ctx: *x (B,1,rows,cols) and *targets (B int32, in
 * the arena). Returns B, or 0 when the epoch is over (or -1 if the ctx ran out of memory). */
int64_t mt_loader_next(mt_loader *l, mt_ctx *ctx, mt_tensor **x, int32_t **targets);
void mt_loader_free(mt_loader *l);

#endif
