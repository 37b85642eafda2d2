/* The figures of a run (charts from metrics.jsonl; confusion matrix, misclassified digits
 * and first-layer filters from best.safetensors on the test set) and of several runs. */
#include "figures.h"
#include "bitmap_font.h"
#include "cli.h"
#include "mytorch/image.h"
#include "runlog.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GRID_COLS 8
#define GRID_ROWS 6
#define DIGIT_SCALE 3

const char *figures_run_name(const char *run_dir, char *buf, size_t n) {
    size_t len = strlen(run_dir);
    while (len > 1 && run_dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && run_dir[start - 1] != '/') start--;
    snprintf(buf, n, "%.*s", (int)(len - start), run_dir + start);
    return buf;
}

/* The axis label of a metric, and the factor its values are shown with (percent). */
static const char *metric_label(const char *metric, double *scale) {
    *scale = strcmp(metric, "test_accuracy") == 0 ? 100.0 : 1.0;
    if (strcmp(metric, "test_accuracy") == 0) return "test accuracy (%)";
    if (strcmp(metric, "test_loss") == 0) return "test loss (cross-entropy)";
    if (strcmp(metric, "train_loss") == 0) return "training loss";
    return metric;
}

/* The y range of an accuracy chart: tight around the values after the first epoch (the
 * first is often far below the rest and would flatten the differences near 99%). */
static void accuracy_range(const svg_series *s, int n, double *lo, double *hi) {
    double mn = INFINITY, mx = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = s[k].n >= 4 ? 1 : 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i])) {
                mn = fmin(mn, s[k].y[i]);
                mx = fmax(mx, s[k].y[i]);
            }
    double ticks[SVG_MAX_TICKS], step, pad = 0.03 * (mx - mn); /* room for the markers */
    int nt = svg_nice_ticks(mn - pad, fmin(mx + pad, 100.0), 8, false, ticks, &step);
    *lo = isfinite(mn) ? ticks[0] : NAN;
    *hi = isfinite(mx) ? fmin(ticks[nt - 1], 100.0) : NAN;
}

/* Appends a chart of series (already scaled) against epochs. */
static void epoch_chart(textbuf *b, const char *title, const char *y_label, const svg_series *s, int n, bool accuracy) {
    svg_line_chart c = {.title = title, .x_label = "epoch", .y_label = y_label, .series = s, .n_series = n,
                        .y_lo = NAN, .y_hi = NAN, .x_integer = true};
    for (int k = 0; k < n; k++) c.markers |= s[k].n <= 40;
    if (accuracy) accuracy_range(s, n, &c.y_lo, &c.y_hi);
    svg_draw_line_chart(b, &c);
}

/* x (epochs) and y (metric times scale) arrays of log, malloc'd as one block (x first). */
static double *metric_arrays(const runlog *log, const char *metric, double scale) {
    double *xy = malloc(2 * (size_t)log->n * sizeof *xy);
    for (int i = 0; xy && i < log->n; i++) {
        xy[i] = log->epochs[i].epoch;
        xy[log->n + i] = scale * runlog_metric(&log->epochs[i], metric);
    }
    return xy;
}

bool figures_overlay_svg(textbuf *out, const char *title, const char *metric, const char *const *run_dirs,
                         const char *const *labels, int n, mt_error *err) {
    if (!runlog_has_metric(metric)) {
        mt_error_set(err, MT_ERR_ARG, "unknown metric '%s' (test_accuracy, test_loss or train_loss)", metric);
        return false;
    }
    runlog *logs = calloc((size_t)n + 1, sizeof *logs);
    svg_series *series = calloc((size_t)n + 1, sizeof *series);
    double **xy = calloc((size_t)n + 1, sizeof *xy);
    double scale;
    const char *y_label = metric_label(metric, &scale);
    bool ok = logs && series && xy;
    if (!ok) mt_error_set(err, MT_ERR_NOMEM, "out of memory");
    for (int k = 0; ok && k < n; k++) {
        ok = runlog_load(run_dirs[k], &logs[k], err);
        if (ok && !(xy[k] = metric_arrays(&logs[k], metric, scale))) {
            mt_error_set(err, MT_ERR_NOMEM, "out of memory");
            ok = false;
        }
        if (ok) series[k] = (svg_series){labels[k], xy[k], xy[k] + logs[k].n, logs[k].n};
    }
    if (ok) epoch_chart(out, title, y_label, series, n, scale != 1.0);
    for (int k = 0; xy && k < n; k++) free(xy[k]);
    for (int k = 0; logs && k < n; k++) runlog_free(&logs[k]);
    free(xy);
    free(series);
    free(logs);
    return ok;
}

bool figures_write_overlay(const char *out_svg, const char *title, const char *metric,
                           const char *const *run_dirs, const char *const *labels, int n, mt_error *err) {
    textbuf b = {0};
    bool ok = figures_overlay_svg(&b, title, metric, run_dirs, labels, n, err) && textbuf_write(&b, out_svg, err) == MT_OK;
    textbuf_free(&b);
    return ok;
}

/* ---- one run ------------------------------------------------------------------------- */

typedef struct {
    int32_t index, truth, pred;
    float prob;
} mistake;

/* What the pass over the test set collects. */
typedef struct {
    int64_t confusion[10][10];
    mistake *mistakes; /* room for every test image */
    int64_t n_mistakes;
} test_pass;

static void collect(void *user, const mt_tensor *logits, const int32_t *targets, int64_t first) {
    test_pass *tp = user;
    int64_t B = logits->shape[0], C = logits->shape[1];
    for (int64_t n = 0; n < B; n++) {
        const float *row = logits->data + n * C;
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (row[c] > row[best]) best = c;
        double sum = 0.0;
        for (int64_t c = 0; c < C; c++) sum += exp((double)(row[c] - row[best]));
        if (targets[n] >= 0 && targets[n] < 10 && best < 10) tp->confusion[targets[n]][best]++;
        if (best != targets[n])
            tp->mistakes[tp->n_mistakes++] = (mistake){(int32_t)(first + n), targets[n], (int32_t)best, (float)(1.0 / sum)};
    }
}

/* Most confident first; ties in test-set order. */
static int by_confidence(const void *a, const void *b) {
    const mistake *x = a, *y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->index - y->index;
}

static void fill(mt_image *img, const uint8_t rgb[3]) {
    for (size_t p = 0; p < (size_t)img->width * (size_t)img->height; p++) memcpy(img->pixels + 3 * p, rgb, 3);
}

/* Copies a rows x cols grey image into RGB img at (x, y), each pixel scale x scale,
 * mapped by value v -> 255 - v when invert (ink on paper). */
static void blit_grey(mt_image *img, int x, int y, const uint8_t *src, int rows, int cols, int scale, bool invert) {
    for (int r = 0; r < rows * scale; r++)
        for (int c = 0; c < cols * scale; c++) {
            uint8_t v = src[(r / scale) * cols + c / scale];
            memset(img->pixels + ((size_t)(y + r) * (size_t)img->width + (size_t)(x + c)) * 3, invert ? 255 - v : v, 3);
        }
}

/* The grid of the most confident mistakes: each digit (ink on paper, upscaled), under it
 * "true>predicted probability%" with the true label green and the prediction red. */
static mt_status misclassified_png(const char *path, const mt_dataset *test, test_pass *tp, mt_error *err) {
    qsort(tp->mistakes, (size_t)tp->n_mistakes, sizeof *tp->mistakes, by_confidence);
    int shown = tp->n_mistakes < GRID_COLS * GRID_ROWS ? (int)tp->n_mistakes : GRID_COLS * GRID_ROWS;
    int rows_used = shown ? (shown + GRID_COLS - 1) / GRID_COLS : 1;
    const int digit = test->cols * DIGIT_SCALE, tile_w = digit + 28, tile_h = digit + 4 + 2 * FONT_H + 12, head = 56;
    mt_image img;
    if (mt_image_new(&img, GRID_COLS * tile_w + 10, head + rows_used * tile_h + 6, 3, err) != MT_OK) return err->code;
    static const uint8_t paper[3] = {255, 255, 255}, ink[3] = {40, 40, 40}, green[3] = {0, 120, 0},
                         red[3] = {200, 20, 20}, grey[3] = {110, 110, 110};
    fill(&img, paper);
    char line[96];
    snprintf(line, sizeof line, "%d OF %lld MISTAKES, MOST CONFIDENT FIRST", shown, (long long)tp->n_mistakes);
    font_draw_text(&img, 10, 8, 2, ink, line);
    int x0 = 10;
    font_draw_text(&img, x0, 32, 2, green, "TRUE");
    x0 += font_text_width("TRUE ", 2);
    font_draw_text(&img, x0, 32, 2, grey, ">");
    x0 += font_text_width("> ", 2);
    font_draw_text(&img, x0, 32, 2, red, "PREDICTED");
    x0 += font_text_width("PREDICTED ", 2);
    font_draw_text(&img, x0, 32, 2, ink, "PROBABILITY");
    for (int k = 0; k < shown; k++) {
        const mistake *m = &tp->mistakes[k];
        int x = 10 + (k % GRID_COLS) * tile_w, y = head + (k / GRID_COLS) * tile_h;
        const uint8_t *src = test->images + (size_t)m->index * (size_t)(test->rows * test->cols);
        blit_grey(&img, x, y, src, test->rows, test->cols, DIGIT_SCALE, true);
        int ty = y + digit + 4;
        char t[8], p[8], pct[16];
        snprintf(t, sizeof t, "%d", m->truth);
        snprintf(p, sizeof p, "%d", m->pred);
        snprintf(pct, sizeof pct, "%.0f%%", 100.0 * m->prob);
        font_draw_text(&img, x, ty, 2, green, t);
        font_draw_text(&img, x + font_text_width("0", 2) + 2, ty, 2, grey, ">");
        font_draw_text(&img, x + 2 * font_text_width("0", 2) + 4, ty, 2, red, p);
        font_draw_text(&img, x + digit + 10 - font_text_width(pct, 2), ty, 2, ink, pct);
    }
    mt_status s = mt_png_write(path, &img, err);
    mt_image_free(&img);
    return s;
}

/* The first module with parameters, depth first (the model's first layer). */
static const mt_module *first_layer(const mt_module *m) {
    if (m->n_params > 0) return m;
    for (int k = 0; k < m->n_children; k++) {
        const mt_module *f = first_layer(m->children[k].module);
        if (f) return f;
    }
    return NULL;
}

/* The first layer's filters (input channel 0 of each), each scaled to black..white by its
 * own min and max and upscaled; false (nothing written) when it is not a convolution. */
static bool filters_png(const char *path, const mt_module *model, bool *written, mt_error *err) {
    *written = false;
    const mt_module *first = first_layer(model);
    const mt_tensor *w = first && strcmp(first->type, "Conv2d") == 0 ? mt_module_param(first, "weight") : NULL;
    if (!w || w->ndim != 4) return true;
    int O = (int)w->shape[0], KH = (int)w->shape[2], KW = (int)w->shape[3];
    int scale = KH > KW ? 96 / KH : 96 / KW;
    if (scale < 2) scale = 2;
    int cols = O < 8 ? O : 8, rows = (O + cols - 1) / cols, gap = 8;
    mt_image img;
    if (mt_image_new(&img, gap + cols * (KW * scale + gap), gap + rows * (KH * scale + gap), 3, err) != MT_OK)
        return false;
    static const uint8_t bg[3] = {235, 235, 235};
    fill(&img, bg);
    uint8_t *cell = malloc((size_t)KH * (size_t)KW);
    if (!cell) {
        mt_image_free(&img);
        mt_error_set(err, MT_ERR_NOMEM, "out of memory");
        return false;
    }
    for (int o = 0; o < O; o++) {
        const float *f = w->data + (size_t)o * (size_t)(w->numel / O); /* input channel 0 */
        float mn = f[0], mx = f[0];
        for (int i = 0; i < KH * KW; i++) mn = fminf(mn, f[i]), mx = fmaxf(mx, f[i]);
        for (int i = 0; i < KH * KW; i++) cell[i] = mx > mn ? (uint8_t)lrintf(255.0f * (f[i] - mn) / (mx - mn)) : 128;
        blit_grey(&img, gap + (o % cols) * (KW * scale + gap), gap + (o / cols) * (KH * scale + gap), cell, KH, KW,
                  scale, false);
    }
    free(cell);
    bool ok = mt_png_write(path, &img, err) == MT_OK;
    mt_image_free(&img);
    *written = ok;
    return ok;
}

/* Runs the checkpoint over the test set, filling tp and the accuracy. */
static bool test_pass_run(const checkpoint_model *cm, const mt_dataset *test, test_pass *tp, eval_result *ev,
                          mt_error *err) {
    mt_loader loader = {0};
    mt_ctx *ctx = mt_ctx_new();
    tp->mistakes = malloc((size_t)test->n * sizeof *tp->mistakes);
    bool ok = ctx && tp->mistakes;
    if (!ok) mt_error_set(err, MT_ERR_NOMEM, "out of memory");
    ok = ok && mt_loader_init(&loader, test, cm->info->recipe.eval_batch, false, 0, cm->mean, cm->std, err) == MT_OK;
    if (ok && !evaluate_each(cm->model, ctx, &loader, ev, collect, tp)) {
        mt_error_set(err, MT_ERR_ARG, "evaluation failed: %s", mt_ctx_error(ctx)->msg);
        ok = false;
    }
    mt_loader_free(&loader);
    mt_ctx_free(ctx);
    return ok;
}

/* Writes the chart in b to dir/file and empties b. */
static bool write_chart(textbuf *b, const char *dir, const char *file, mt_error *err) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    bool ok = textbuf_write(b, path, err) == MT_OK;
    textbuf_free(b);
    return ok;
}

bool figures_write_run(const char *run_dir, const char *data_dir, mt_error *err) {
    char path[4300], dir[4200], name[256], title[512];
    runlog log = {0};
    checkpoint_model cm = {0};
    mt_dataset test = {0};
    test_pass tp = {0};
    eval_result ev = {0};
    double *acc = NULL, *train = NULL, *test_loss = NULL;
    textbuf b = {0};
    figures_run_name(run_dir, name, sizeof name);
    /* Everything is read and computed before the first file is written. */
    bool ok = runlog_load(run_dir, &log, err);
    snprintf(path, sizeof path, "%s/best.safetensors", run_dir);
    if (ok && checkpoint_model_load(path, NULL, &cm, err) != 0) ok = false;
    ok = ok && mt_mnist_load(data_dir, false, &test, err) == MT_OK && test_pass_run(&cm, &test, &tp, &ev, err);
    snprintf(dir, sizeof dir, "%s/figures", run_dir);
    if (ok && mkdir(dir, 0777) != 0 && errno != EEXIST) {
        mt_error_set(err, MT_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
        ok = false;
    }
    if (ok) {
        acc = metric_arrays(&log, "test_accuracy", 100.0);
        train = metric_arrays(&log, "train_loss", 1.0);
        test_loss = metric_arrays(&log, "test_loss", 1.0);
        if (!acc || !train || !test_loss) {
            mt_error_set(err, MT_ERR_NOMEM, "out of memory");
            ok = false;
        }
    }
    if (ok) {
        int n = log.n;
        svg_series s = {"test accuracy", acc, acc + n, n};
        snprintf(title, sizeof title, "%s: test accuracy per epoch", name);
        epoch_chart(&b, title, "test accuracy (%)", &s, 1, true);
        ok = write_chart(&b, dir, "accuracy.svg", err);
    }
    if (ok) {
        int n = log.n;
        svg_series s[2] = {{"training loss", train, train + n, n}, {"test loss", test_loss, test_loss + n, n}};
        snprintf(title, sizeof title, "%s: loss per epoch", name);
        epoch_chart(&b, title, "loss", s, 2, false);
        ok = write_chart(&b, dir, "loss.svg", err);
    }
    if (ok) {
        static const char *const digits[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
        snprintf(title, sizeof title, "%s: confusion matrix (%.2f%% of %lld)", name, 100.0 * ev.accuracy,
                 (long long)ev.total);
        svg_heatmap h = {title, "predicted", "true", digits, digits, &tp.confusion[0][0], 10, 10};
        svg_draw_heatmap(&b, &h);
        ok = write_chart(&b, dir, "confusion.svg", err);
    }
    snprintf(path, sizeof path, "%s/misclassified.png", dir);
    ok = ok && misclassified_png(path, &test, &tp, err) == MT_OK;
    bool wrote_filters;
    snprintf(path, sizeof path, "%s/filters.png", dir);
    ok = ok && filters_png(path, cm.model, &wrote_filters, err);
    if (ok && !wrote_filters) remove(path); /* a stale one from another model */
    free(acc);
    free(train);
    free(test_loss);
    free(tp.mistakes);
    mt_dataset_free(&test);
    checkpoint_model_free(&cm);
    runlog_free(&log);
    return ok;
}
