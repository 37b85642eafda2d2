/* MNIST: the four IDX files of a folder, checked against each other. */
#include "mytorch/data.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MNIST_HINT "run scripts/fetch-mnist.sh or pass --data DIR"

/* Writes dir/name, or dir/name.gz when only that exists, into path. */
static mt_status find_file(const char *dir, const char *name, char *path, size_t n,
                           mt_error *err) {
    struct stat st;
    int len = snprintf(path, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len + 3 >= n)
        return mt_error_set(err, MT_ERR_ARG, "MNIST folder path '%s' is too long", dir);
    if (stat(path, &st) == 0) return MT_OK;
    strcat(path, ".gz");
    if (stat(path, &st) == 0) return MT_OK;
    return mt_error_set(err, MT_ERR_IO, "MNIST file missing: neither '%s/%s' nor '%s' exists (%s)",
                        dir, name, path, MNIST_HINT);
}

static mt_status read_file(const char *dir, const char *name, mt_idx *idx, char *path,
                           size_t n, mt_error *err) {
    mt_status st = find_file(dir, name, path, n, err);
    return st != MT_OK ? st : mt_idx_read(path, idx, err);
}

/* Checks that the images and labels read from the two paths belong together. */
static mt_status check_pair(const mt_idx *im, const char *im_path, const mt_idx *lb,
                            const char *lb_path, mt_error *err) {
    if (im->ndim != 3)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: images must have 3 dims (count, rows, cols), this file has %d",
                            im_path, im->ndim);
    if (lb->ndim != 1)
        return mt_error_set(err, MT_ERR_FORMAT,
                            "%s: labels must have 1 dim (count), this file has %d", lb_path,
                            lb->ndim);
    if (im->dims[0] != lb->dims[0])
        return mt_error_set(err, MT_ERR_FORMAT, "%s holds %lld images but %s holds %lld labels",
                            im_path, (long long)im->dims[0], lb_path, (long long)lb->dims[0]);
    if (im->dims[1] > INT_MAX || im->dims[2] > INT_MAX)
        return mt_error_set(err, MT_ERR_FORMAT, "%s: images of %lld x %lld pixels are too large",
                            im_path, (long long)im->dims[1], (long long)im->dims[2]);
    for (int64_t i = 0; i < lb->dims[0]; i++)
        if (lb->data[i] > 9)
            return mt_error_set(err, MT_ERR_FORMAT,
                                "%s: label %d at index %lld is not a digit 0-9", lb_path,
                                lb->data[i], (long long)i);
    return MT_OK;
}

mt_status mt_mnist_load(const char *dir, bool train, mt_dataset *out, mt_error *err) {
    *out = (mt_dataset){0};
    struct stat st;
    if (stat(dir, &st) != 0)
        return mt_error_set(err, MT_ERR_IO, "MNIST folder '%s' not found (%s)", dir, MNIST_HINT);
    if (!S_ISDIR(st.st_mode))
        return mt_error_set(err, MT_ERR_IO, "MNIST folder '%s' is not a folder (%s)", dir,
                            MNIST_HINT);
    const char *split = train ? "train" : "t10k";
    char im_name[64], lb_name[64], im_path[4096], lb_path[4096];
    snprintf(im_name, sizeof im_name, "%s-images-idx3-ubyte", split);
    snprintf(lb_name, sizeof lb_name, "%s-labels-idx1-ubyte", split);
    mt_idx im = {0}, lb = {0};
    mt_status s = read_file(dir, im_name, &im, im_path, sizeof im_path, err);
    if (s == MT_OK) s = read_file(dir, lb_name, &lb, lb_path, sizeof lb_path, err);
    if (s == MT_OK) s = check_pair(&im, im_path, &lb, lb_path, err);
    if (s != MT_OK) {
        mt_idx_free(&im);
        mt_idx_free(&lb);
        return s;
    }
    *out = (mt_dataset){
        .images = im.data,
        .labels = lb.data,
        .n = im.dims[0],
        .rows = (int)im.dims[1],
        .cols = (int)im.dims[2],
    };
    return MT_OK;
}

void mt_dataset_free(mt_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    *ds = (mt_dataset){0};
}
