/* Augmentation: the affine warp (identity, shift, rotation direction, scale), random
 * transforms, the fixed enlarged dataset, and the loader's per-batch augmentation. */
#include "mytorch/data.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* A rows x cols image whose pixels all differ and no symmetry maps onto itself:
 * pixel (y, x) = 1 + y * cols + x (rows * cols <= 255). */
static void fill_ramp_ids(uint8_t *im, int rows, int cols) {
    for (int i = 0; i < rows * cols; i++) im[i] = (uint8_t)(1 + i);
}

/* Number of pixels of a and b (n floats) that differ by more than tol; prints the first. */
static int count_diffs(const float *a, const float *b, int n, float tol) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(a[i] - b[i]) > tol) {
            if (bad == 0) printf("    first difference at %d: %g vs %g\n", i, a[i], b[i]);
            bad++;
        }
    }
    return bad;
}

/* ---- the warp ----------------------------------------------------------------------------- */

MT_TEST(augment_identity_copies_the_image) {
    enum { R = 6, C = 7 };
    uint8_t im[R * C];
    float out[R * C], want[R * C];
    fill_ramp_ids(im, R, C);
    for (int i = 0; i < R * C; i++) want[i] = im[i];
    mt_augment_warp(im, R, C, 0.0f, 0.0f, 0.0f, 1.0f, out);
    CHECK(memcmp(out, want, sizeof out) == 0); /* exact, not approximately */
}

MT_TEST(augment_integer_shift_moves_pixels_and_fills_zeros) {
    enum { R = 6, C = 7 };
    uint8_t im[R * C];
    float out[R * C], want[R * C];
    fill_ramp_ids(im, R, C);
    /* dx = 3: the digit moves 3 columns right; dy = -2: 2 rows up. */
    for (int y = 0; y < R; y++)
        for (int x = 0; x < C; x++) {
            int sy = y + 2, sx = x - 3;
            want[y * C + x] = (sy < R && sx >= 0) ? im[sy * C + sx] : 0.0f;
        }
    mt_augment_warp(im, R, C, 0.0f, 3.0f, -2.0f, 1.0f, out);
    CHECK(memcmp(out, want, sizeof out) == 0);
    CHECK(out[0] == 0.0f && out[(R - 1) * C + C - 1] == 0.0f); /* left columns, bottom rows */
}

MT_TEST(augment_positive_degrees_rotate_counter_clockwise_on_screen) {
    enum { N = 7 }; /* centre pixel (3, 3) */
    uint8_t im[N * N];
    float out[N * N], want[N * N];

    /* One bright pixel right of the centre ends up above it (row 0 is the top). */
    memset(im, 0, sizeof im);
    im[3 * N + 5] = 200;
    mt_augment_warp(im, N, N, 90.0f, 0.0f, 0.0f, 1.0f, out);
    CHECK_NEAR(out[1 * N + 3], 200.0f, 1e-3);
    CHECK_NEAR(out[3 * N + 5], 0.0f, 1e-3);

    /* The whole image equals numpy's np.rot90(im) (k=1, counter-clockwise):
     * out[i][j] = im[j][N-1-i]. */
    fill_ramp_ids(im, N, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) want[i * N + j] = im[j * N + (N - 1 - i)];
    mt_augment_warp(im, N, N, 90.0f, 0.0f, 0.0f, 1.0f, out);
    CHECK(count_diffs(out, want, N * N, 1e-3f) == 0);

    /* -90 degrees is the clockwise turn: out[i][j] = im[N-1-j][i]. */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) want[i * N + j] = im[(N - 1 - j) * N + i];
    mt_augment_warp(im, N, N, -90.0f, 0.0f, 0.0f, 1.0f, out);
    CHECK(count_diffs(out, want, N * N, 1e-3f) == 0);
}

MT_TEST(augment_scale_zooms_around_the_centre) {
    enum { N = 7 };
    const float c = 3.0f;
    /* A linear ramp, which bilinear resampling reproduces exactly between pixels. */
    uint8_t im[N * N];
    float out[N * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) im[y * N + x] = (uint8_t)(5 + 10 * x + 20 * y);

    /* Scale 2: output p reads the source at c + (p - c) / 2; the centre stays put. */
    mt_augment_warp(im, N, N, 0.0f, 0.0f, 0.0f, 2.0f, out);
    CHECK_NEAR(out[3 * N + 3], im[3 * N + 3], 1e-4);
    CHECK_NEAR(out[3 * N + 4], 0.5f * (im[3 * N + 3] + im[3 * N + 4]), 1e-4);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            float sx = c + (x - c) / 2, sy = c + (y - c) / 2;
            CHECK_NEAR(out[y * N + x], 5 + 10 * sx + 20 * sy, 1e-3);
        }

    /* Scale 0.5: the corners read from outside the source (c + 2 (0 - c) = -3) and are 0. */
    mt_augment_warp(im, N, N, 0.0f, 0.0f, 0.0f, 0.5f, out);
    CHECK_NEAR(out[3 * N + 3], im[3 * N + 3], 1e-4);
    CHECK(out[0] == 0.0f && out[N * N - 1] == 0.0f);
    CHECK_NEAR(out[3 * N + 4], im[3 * N + 5], 1e-4); /* one step out reads two steps out */
}

MT_TEST(augment_degenerate_scale_gives_zeros) {
    enum { N = 5 };
    uint8_t im[N * N];
    float out[N * N];
    fill_ramp_ids(im, N, N);
    mt_augment_warp(im, N, N, 0.0f, 0.0f, 0.0f, 0.0f, out);
    for (int i = 0; i < N * N; i++) CHECK(out[i] == 0.0f);
}

/* ---- random transforms -------------------------------------------------------------------- */

MT_TEST(augment_random_draws_stay_in_range) {
    mt_augment_params p = mt_augment_report();
    CHECK(p.max_degrees == 10.0f && p.max_shift == 3.0f && p.min_scale == 0.9f &&
          p.max_scale == 1.1f);
    mt_error err = {0};
    CHECK(mt_augment_check(&p, &err) == MT_OK);
    mt_rng rng;
    mt_rng_seed(&rng, 5);
    float lo_deg = 0, hi_deg = 0, lo_dx = 0, hi_dy = 0, lo_s = 1, hi_s = 1;
    for (int i = 0; i < 2000; i++) {
        mt_augment_transform t = mt_augment_draw(&p, &rng);
        CHECK(t.degrees >= -10.0f && t.degrees <= 10.0f);
        CHECK(t.dx >= -3.0f && t.dx <= 3.0f && t.dy >= -3.0f && t.dy <= 3.0f);
        CHECK(t.scale >= 0.9f && t.scale <= 1.1f);
        lo_deg = fminf(lo_deg, t.degrees), hi_deg = fmaxf(hi_deg, t.degrees);
        lo_dx = fminf(lo_dx, t.dx), hi_dy = fmaxf(hi_dy, t.dy);
        lo_s = fminf(lo_s, t.scale), hi_s = fmaxf(hi_s, t.scale);
    }
    /* ... and fill them: 2000 draws come close to every end. */
    CHECK(lo_deg < -9.5f && hi_deg > 9.5f && lo_dx < -2.8f && hi_dy > 2.8f);
    CHECK(lo_s < 0.91f && hi_s > 1.09f);
}

MT_TEST(augment_random_is_seeded) {
    enum { N = 28 };
    uint8_t im[N * N];
    for (int i = 0; i < N * N; i++) im[i] = (uint8_t)(i * 37 % 256);
    mt_augment_params p = mt_augment_report();
    mt_rng a, b, c;
    mt_rng_seed(&a, 11);
    mt_rng_seed(&b, 11);
    mt_rng_seed(&c, 12);
    float fa[N * N], fb[N * N], fc[N * N];
    for (int k = 0; k < 5; k++) {
        mt_augment_random(im, N, N, &p, &a, fa);
        mt_augment_random(im, N, N, &p, &b, fb);
        mt_augment_random(im, N, N, &p, &c, fc);
        CHECK(memcmp(fa, fb, sizeof fa) == 0);
        CHECK(memcmp(fa, fc, sizeof fa) != 0);
        for (int i = 0; i < N * N; i++) CHECK(fa[i] >= 0.0f && fa[i] <= 255.0f);
    }
    /* mt_augment_random is mt_augment_draw then mt_augment_warp. */
    mt_rng_seed(&a, 11);
    mt_rng_seed(&b, 11);
    mt_augment_random(im, N, N, &p, &a, fa);
    mt_augment_transform t = mt_augment_draw(&p, &b);
    mt_augment_warp(im, N, N, t.degrees, t.dx, t.dy, t.scale, fb);
    CHECK(memcmp(fa, fb, sizeof fa) == 0);
}

MT_TEST(augment_check_rejects_bad_params) {
    const mt_augment_params bad[] = {
        {.max_degrees = -1, .max_shift = 3, .min_scale = 0.9f, .max_scale = 1.1f},
        {.max_degrees = 10, .max_shift = NAN, .min_scale = 0.9f, .max_scale = 1.1f},
        {.max_degrees = 10, .max_shift = 3, .min_scale = 0.0f, .max_scale = 1.1f},
        {.max_degrees = 10, .max_shift = 3, .min_scale = 1.2f, .max_scale = 1.1f},
        {.max_degrees = 10, .max_shift = 3, .min_scale = 0.9f, .max_scale = INFINITY},
    };
    const char *field[] = {"max_degrees", "max_shift", "scale", "scale", "scale"};
    for (int i = 0; i < 5; i++) {
        mt_error err = {0};
        CHECK(mt_augment_check(&bad[i], &err) == MT_ERR_ARG);
        CHECK_MSG(strstr(err.msg, field[i]) != NULL, "case %d: %s", i, err.msg);
    }
    mt_error err = {0};
    CHECK(mt_augment_check(NULL, &err) == MT_ERR_ARG);
}

/* ---- the fixed enlarged dataset ----------------------------------------------------------- */

/* n images of rows x cols, each an off-centre bar at a place that depends on i; label i % 10.
 * Caller frees (mt_dataset_free). */
static mt_dataset bar_dataset(int64_t n, int rows, int cols) {
    mt_dataset ds = {.n = n, .rows = rows, .cols = cols};
    ds.images = calloc((size_t)(n * rows * cols), 1);
    ds.labels = malloc((size_t)n);
    for (int64_t i = 0; ds.images && ds.labels && i < n; i++) {
        uint8_t *im = ds.images + i * rows * cols;
        int col = 1 + (int)(i % (cols - 3));
        for (int y = 1; y < rows - 2; y++) im[y * cols + col] = (uint8_t)(100 + 10 * y);
        im[1 * cols + col + 1] = 255; /* a serif: no symmetry */
        ds.labels[i] = (uint8_t)(i % 10);
    }
    return ds;
}

MT_TEST(augment_dataset_appends_transformed_copies) {
    enum { N = 6, R = 8, C = 8, P = R * C };
    mt_dataset ds = bar_dataset(N, R, C);
    REQUIRE(ds.images && ds.labels);
    mt_augment_params p = mt_augment_report();
    mt_dataset aug, again, other;
    mt_error err = {0};
    REQUIRE(mt_dataset_augmented(&ds, 2, &p, 99, &aug, &err) == MT_OK);
    CHECK(aug.n == 3 * N && aug.rows == R && aug.cols == C);
    CHECK(memcmp(aug.images, ds.images, N * P) == 0); /* the originals come first */
    for (int64_t i = 0; i < aug.n; i++) CHECK(aug.labels[i] == ds.labels[i % N]);

    /* Image N*(1+k) + i is copy k of image i, with transforms drawn in that order from a
     * PCG32 seeded with the seed, rounded to the nearest uint8. */
    mt_rng rng;
    mt_rng_seed(&rng, 99);
    int bad = 0, changed = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++) {
            float f[P];
            mt_augment_random(ds.images + i * P, R, C, &p, &rng, f);
            const uint8_t *got = aug.images + (N * (1 + k) + i) * P;
            for (int q = 0; q < P; q++) bad += got[q] != (uint8_t)lroundf(f[q]);
            changed += memcmp(got, ds.images + i * P, P) != 0;
        }
    CHECK_MSG(bad == 0, "%d pixels differ from the warps of the documented draw order", bad);
    CHECK(changed == 2 * N);

    /* Same seed, same set; another seed, other copies. */
    REQUIRE(mt_dataset_augmented(&ds, 2, &p, 99, &again, &err) == MT_OK);
    REQUIRE(mt_dataset_augmented(&ds, 2, &p, 100, &other, &err) == MT_OK);
    CHECK(memcmp(aug.images, again.images, 3 * N * P) == 0);
    CHECK(memcmp(aug.images + N * P, other.images + N * P, 2 * N * P) != 0);
    mt_dataset_free(&aug);
    mt_dataset_free(&again);
    mt_dataset_free(&other);

    /* copies = 0 is a plain copy. */
    REQUIRE(mt_dataset_augmented(&ds, 0, &p, 1, &aug, &err) == MT_OK);
    CHECK(aug.n == N && memcmp(aug.images, ds.images, N * P) == 0 && aug.images != ds.images);
    mt_dataset_free(&aug);
    mt_dataset_free(&ds);
}

MT_TEST(augment_dataset_rejects_bad_arguments) {
    mt_dataset ds = bar_dataset(3, 8, 8);
    REQUIRE(ds.images && ds.labels);
    mt_augment_params p = mt_augment_report(), bad_p = {10, 3, 0.0f, 1.1f};
    mt_dataset out;
    mt_error err = {0};
    CHECK(mt_dataset_augmented(&ds, -1, &p, 1, &out, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "copies") != NULL);
    CHECK(out.images == NULL && out.n == 0);
    mt_error_clear(&err);
    CHECK(mt_dataset_augmented(NULL, 1, &p, 1, &out, &err) == MT_ERR_ARG);
    mt_error_clear(&err);
    CHECK(mt_dataset_augmented(&ds, 1, NULL, 1, &out, &err) == MT_ERR_ARG);
    mt_error_clear(&err);
    CHECK(mt_dataset_augmented(&ds, 1, &p, 1, NULL, &err) == MT_ERR_ARG);
    mt_error_clear(&err);
    CHECK(mt_dataset_augmented(&ds, 1, &bad_p, 1, &out, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "scale") != NULL);
    mt_error_clear(&err);
    mt_dataset empty = {0};
    CHECK(mt_dataset_augmented(&empty, 1, &p, 1, &out, &err) == MT_ERR_ARG);
    mt_dataset_free(&ds);
}

/* ---- the loader --------------------------------------------------------------------------- */

/* Two epochs of a non-shuffling loader over ds with augmentation p (NULL: none), batches
 * of 16, mean 0 and std 1, into e1 and e2 (n * rows * cols floats each). */
static bool two_epochs(const mt_dataset *ds, const mt_augment_params *p, uint64_t seed,
                       float *e1, float *e2) {
    mt_loader l;
    mt_error err = {0};
    if (mt_loader_init(&l, ds, 16, false, seed, 0.0f, 1.0f, &err) != MT_OK) return false;
    bool ok = mt_loader_set_augment(&l, p, &err) == MT_OK;
    mt_ctx *ctx = mt_ctx_new();
    int64_t P = (int64_t)ds->rows * ds->cols;
    for (int e = 0; ok && e < 2; e++) {
        float *dst = e == 0 ? e1 : e2;
        int64_t B, done = 0;
        mt_tensor *x;
        int32_t *y;
        mt_loader_start_epoch(&l);
        while ((B = mt_loader_next(&l, ctx, &x, &y)) > 0) {
            memcpy(dst + done * P, x->data, (size_t)(B * P) * sizeof *dst);
            done += B;
            mt_ctx_reset(ctx);
        }
        ok = B == 0 && done == ds->n;
    }
    mt_ctx_free(ctx);
    mt_loader_free(&l);
    return ok;
}

MT_TEST(augment_loader_draws_new_transforms_each_epoch) {
    enum { N = 40, R = 28, C = 28, P = R * C };
    mt_dataset ds = bar_dataset(N, R, C);
    REQUIRE(ds.images && ds.labels);
    mt_augment_params p = mt_augment_report();
    float *a1 = malloc(N * P * sizeof *a1), *a2 = malloc(N * P * sizeof *a2);
    float *b1 = malloc(N * P * sizeof *b1), *b2 = malloc(N * P * sizeof *b2);
    REQUIRE(a1 && a2 && b1 && b2);

    REQUIRE(two_epochs(&ds, &p, 3, a1, a2));
    CHECK(memcmp(a1, a2, N * P * sizeof *a1) != 0); /* new transforms each epoch */
    for (int i = 0; i < N * P; i++) CHECK(a1[i] >= 0.0f && a1[i] <= 1.0f); /* std 1: p/255 */

    /* Same seed, same pixels, whatever the thread count (batches of 16 x 784 pixels are
     * big enough for the loader to go parallel). */
    int threads = mt_get_num_threads();
    mt_set_num_threads(threads == 1 ? 2 : 1);
    REQUIRE(two_epochs(&ds, &p, 3, b1, b2));
    mt_set_num_threads(threads);
    CHECK(memcmp(a1, b1, N * P * sizeof *a1) == 0);
    CHECK(memcmp(a2, b2, N * P * sizeof *a2) == 0);

    /* Another seed, other transforms. */
    REQUIRE(two_epochs(&ds, &p, 4, b1, b2));
    CHECK(memcmp(a1, b1, N * P * sizeof *a1) != 0);

    /* The identity transform gives the plain loader's pixels; so does NULL. */
    const mt_augment_params none = {
        .max_degrees = 0, .max_shift = 0, .min_scale = 1, .max_scale = 1};
    REQUIRE(two_epochs(&ds, &none, 3, a1, a2));
    REQUIRE(two_epochs(&ds, NULL, 3, b1, b2));
    CHECK(memcmp(a1, b1, N * P * sizeof *a1) == 0);
    CHECK(memcmp(a2, b2, N * P * sizeof *a2) == 0);

    free(a1), free(a2), free(b1), free(b2);
    mt_dataset_free(&ds);
}

MT_TEST(augment_loader_rejects_bad_params) {
    mt_dataset ds = bar_dataset(4, 8, 8);
    REQUIRE(ds.images && ds.labels);
    mt_loader l;
    mt_error err = {0};
    REQUIRE(mt_loader_init(&l, &ds, 2, false, 0, 0.0f, 1.0f, &err) == MT_OK);
    mt_augment_params good = mt_augment_report(), bad = good;
    bad.min_scale = -1.0f;
    CHECK(mt_loader_set_augment(&l, &good, &err) == MT_OK);
    CHECK(mt_loader_set_augment(&l, &bad, &err) == MT_ERR_ARG);
    CHECK(strstr(err.msg, "scale") != NULL);
    CHECK(l.augment && l.augment_params.min_scale == good.min_scale); /* left as it was */
    mt_error_clear(&err);
    CHECK(mt_loader_set_augment(NULL, &good, &err) == MT_ERR_ARG);
    mt_error_clear(&err);
    CHECK(mt_loader_set_augment(&l, NULL, &err) == MT_OK && !l.augment);
    mt_loader_free(&l);
    mt_dataset_free(&ds);
}
