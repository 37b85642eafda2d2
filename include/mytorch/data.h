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
} mt_loader;

/* Owned: mt_loader_free(). ds is borrowed and must outlive the loader. Fails (MT_ERR_ARG)
 * on an empty dataset, batch_size <= 0 or std <= 0. Calling mt_loader_start_epoch()
 * before the first epoch is optional: the first mt_loader_next() starts it. */
mt_status mt_loader_init(mt_loader *l, const mt_dataset *ds, int64_t batch_size, bool shuffle,
                         uint64_t seed, float mean, float std, mt_error *err);
/* Starts an epoch: rewinds, and reshuffles when shuffle is on. */
void mt_loader_start_epoch(mt_loader *l);
/* Number of batches per epoch. */
int64_t mt_loader_num_batches(const mt_loader *l);
/* The next batch as arena tensors of ctx: *x (B,1,rows,cols) and *targets (B int32, in
 * the arena). Returns B, or 0 when the epoch is over (or -1 if the ctx ran out of memory). */
int64_t mt_loader_next(mt_loader *l, mt_ctx *ctx, mt_tensor **x, int32_t **targets);
void mt_loader_free(mt_loader *l);

#endif
