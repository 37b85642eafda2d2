/* Figures: the PNG writer's bytes, nice ticks, the SVG charts' structure, the run-log
 * reader, and mytorch figures / report on a real tiny run and on bad run folders. */
#include "cli_run.h"
#include "figures.h"
#include "mytorch/file.h"
#include "mytorch/image.h"
#include "runlog.h"
#include "svg.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Decodes what mt_png_encode writes (8-bit, filters None/Sub/Up) the long way: every
 * chunk's CRC checked, IDATs joined and inflated, rows unfiltered. Returns the pixels
 * (malloc'd) and their geometry, or NULL with a failed CHECK. */
static uint8_t *decode_png(const uint8_t *png, size_t len, int *w, int *h, int *channels) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(png, sig, 8) != 0) {
        CHECK_MSG(false, "no PNG signature");
        return NULL;
    }
    uint8_t *idat = malloc(len), *pixels = NULL;
    size_t idat_len = 0, pos = 8;
    bool ended = false;
    *w = *h = *channels = 0;
    while (idat && pos + 12 <= len && !ended) {
        uint32_t n = be32(png + pos);
        if (pos + 12 + n > len) break;
        const uint8_t *type = png + pos + 4, *data = type + 4;
        CHECK_MSG(be32(data + n) == (uint32_t)crc32(0L, type, n + 4), "bad CRC in chunk %.4s", (const char *)type);
        if (memcmp(type, "IHDR", 4) == 0) {
            CHECK(n == 13);
            *w = (int)be32(data);
            *h = (int)be32(data + 4);
            CHECK(data[8] == 8 && data[10] == 0 && data[11] == 0 && data[12] == 0);
            *channels = data[9] == 0 ? 1 : data[9] == 4 ? 2 : data[9] == 2 ? 3 : data[9] == 6 ? 4 : 0;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(idat + idat_len, data, n);
            idat_len += n;
        } else if (memcmp(type, "IEND", 4) == 0) {
            ended = true;
        }
        pos += 12 + n;
    }
    CHECK(ended && pos == len && *channels > 0);
    size_t stride = (size_t)*w * (size_t)*channels;
    uLongf raw_len = (uLongf)((stride + 1) * (size_t)*h);
    uint8_t *raw = malloc(raw_len + 1);
    if (idat && raw && *channels && uncompress(raw, &raw_len, idat, (uLong)idat_len) == Z_OK &&
        raw_len == (stride + 1) * (size_t)*h && (pixels = malloc(stride * (size_t)*h))) {
        for (int y = 0; y < *h; y++) {
            const uint8_t *f = raw + (size_t)y * (stride + 1);
            uint8_t *row = pixels + (size_t)y * stride;
            CHECK(f[0] <= 2);
            for (size_t i = 0; i < stride; i++) {
                uint8_t left = i >= (size_t)*channels ? row[i - (size_t)*channels] : 0, up = y ? row[i - stride] : 0;
                row[i] = (uint8_t)(f[1 + i] + (f[0] == 1 ? left : f[0] == 2 ? up : 0));
            }
        }
    }
    CHECK_MSG(pixels != NULL, "the IDAT data did not inflate to the image's size");
    free(raw);
    free(idat);
    return pixels;
}

MT_TEST(png_encode_round_trips_every_channel_count) {
    for (int channels = 1; channels <= 4; channels++) {
        mt_image img;
        mt_error err = {0};
        REQUIRE(mt_image_new(&img, 37, 11, channels, &err) == MT_OK);
        /* Smooth rows, noisy rows and flat rows, so every filter gets chosen somewhere. */
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width * channels; x++)
                img.pixels[(size_t)y * (size_t)(img.width * channels) + (size_t)x] =
                    (uint8_t)(y % 3 == 0 ? x * 7 : y % 3 == 1 ? (x * 131 + y * 17) ^ 0x5a : 200);
        uint8_t *png;
        size_t len;
        REQUIRE(mt_png_encode(&img, &png, &len, &err) == MT_OK);
        int w, h, c;
        uint8_t *back = decode_png(png, len, &w, &h, &c);
        CHECK(w == 37 && h == 11 && c == channels);
        CHECK(back && memcmp(back, img.pixels, (size_t)37 * 11 * (size_t)channels) == 0);
        free(back);
        free(png);
        mt_image_free(&img);
    }
    mt_image bad = {.width = 2, .height = 2, .channels = 5, .pixels = (uint8_t[20]){0}};
    uint8_t *png;
    size_t len;
    mt_error err = {0};
    CHECK(mt_png_encode(&bad, &png, &len, &err) == MT_ERR_ARG && png == NULL && strstr(err.msg, "5 channels"));
}

MT_TEST(png_write_goes_to_the_named_file) {
    char dir[256], path[300];
    cli_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.png", dir);
    mt_image img;
    mt_error err = {0};
    REQUIRE(mt_image_new(&img, 3, 2, 1, &err) == MT_OK);
    img.pixels[4] = 255;
    REQUIRE(mt_png_write(path, &img, &err) == MT_OK);
    uint8_t *data;
    size_t len;
    REQUIRE(mt_read_file(path, 1 << 20, &data, &len, &err) == MT_OK);
    int w, h, c;
    uint8_t *back = decode_png(data, len, &w, &h, &c);
    CHECK(back && w == 3 && h == 2 && c == 1 && back[4] == 255 && back[0] == 0);
    free(back);
    free(data);
    mt_image_free(&img);
    snprintf(path, sizeof path, "%s/missing/x.png", dir);
    CHECK(mt_png_write(path, &(mt_image){3, 2, 1, (uint8_t[6]){0}}, &err) == MT_ERR_IO);
    cli_remove_dir(dir);
}

/* Steps of 1, 2 or 5 times a power of ten, covering the range, within the limit. */
static void check_ticks(double lo, double hi, int max, bool integer, double want_step) {
    double t[SVG_MAX_TICKS], step;
    int n = svg_nice_ticks(lo, hi, max, integer, t, &step);
    CHECK_MSG(n >= 2 && n <= max, "[%g, %g]: %d ticks, limit %d", lo, hi, n, max);
    CHECK_MSG(t[0] <= lo + 1e-12 && t[n - 1] >= hi - 1e-12, "[%g, %g]: ticks %g..%g do not cover it", lo, hi, t[0],
              t[n - 1]);
    double mantissa = step / pow(10.0, floor(log10(step) + 1e-9));
    CHECK_MSG(fabs(mantissa - 1) < 1e-9 || fabs(mantissa - 2) < 1e-9 || fabs(mantissa - 5) < 1e-9,
              "[%g, %g]: step %g is not 1, 2 or 5 x 10^k", lo, hi, step);
    for (int k = 1; k < n; k++) CHECK_NEAR(t[k] - t[k - 1], step, step * 1e-9);
    if (want_step > 0) CHECK_NEAR(step, want_step, want_step * 1e-9);
}

MT_TEST(svg_nice_ticks_cases) {
    check_ticks(0.0, 1.0, 6, false, 0.2);       /* 0, 0.2, ..., 1 */
    check_ticks(95.3, 99.2, 8, false, 1.0);     /* accuracy near 99%: 95..100 */
    check_ticks(98.9, 99.3, 8, false, 0.1);     /* a tight range keeps a fine step */
    check_ticks(0.031, 0.172, 8, false, 0.05);  /* losses */
    check_ticks(1, 30, 11, true, 5);            /* epochs */
    check_ticks(1, 3, 11, true, 1);             /* few epochs: never a fractional epoch */
    check_ticks(-7, 1234, 8, false, 500);  /* 200 would need 9 ticks */
    check_ticks(5, 5, 8, true, 1);              /* one point: a range around it */
    double t[SVG_MAX_TICKS], step;
    int n = svg_nice_ticks(0.5, 0.5, 8, false, t, &step);
    CHECK(n >= 2 && t[0] < 0.5 && t[n - 1] > 0.5);
    char buf[32];
    svg_format_tick(buf, sizeof buf, 98.5, 0.5);
    CHECK(strcmp(buf, "98.5") == 0);
    svg_format_tick(buf, sizeof buf, 10, 5);
    CHECK(strcmp(buf, "10") == 0);
    svg_format_tick(buf, sizeof buf, 0.005, 0.005);
    CHECK(strcmp(buf, "0.005") == 0);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

MT_TEST(svg_line_chart_structure) {
    double x[4] = {1, 2, 3, 4}, a[4] = {0.5, 0.3, 0.2, 0.15}, b[4] = {0.6, 0.4, NAN, 0.1}, c[4] = {0.7, 0.6, 0.5, 0.45};
    svg_series s[3] = {{"train <a&b>", x, a, 4}, {"test \"q\"", x, b, 4}, {"third", x, c, 4}};
    svg_line_chart chart = {.title = "Loss & more", .x_label = "epoch", .y_label = "loss (nats)", .series = s,
                            .n_series = 3, .y_lo = NAN, .y_hi = NAN, .x_integer = true, .markers = true};
    textbuf t = {0};
    svg_draw_line_chart(&t, &chart);
    REQUIRE(!t.failed && t.data);
    const char *svg = t.data;
    CHECK(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    CHECK(count(svg, "<svg") == count(svg, "</svg>"));
    CHECK(strstr(svg, ">Loss &amp; more</text>") && strstr(svg, ">epoch</text>") && strstr(svg, ">loss (nats)</text>"));
    CHECK(count(svg, "<polyline") == 3);
    CHECK(count(svg, "class=\"legend\"") == 3);
    CHECK(strstr(svg, ">train &lt;a&amp;b&gt;</text>") && strstr(svg, ">test &quot;q&quot;</text>"));
    CHECK(!strstr(svg, "<a&b>") && !strstr(svg, "\"q\""));
    CHECK(count(svg, "<circle") == 11); /* the NaN point is skipped */
    /* y ticks (right-aligned labels): values rise as the labels go up the page. */
    double prev_v = -INFINITY, prev_y = INFINITY;
    int ticks = 0;
    for (const char *p = strstr(svg, "text-anchor=\"end\""); p; p = strstr(p + 1, "text-anchor=\"end\"")) {
        const char *ystart = p;
        while (ystart > svg && strncmp(ystart, " y=\"", 4) != 0) ystart--;
        double y = atof(ystart + 4), v = atof(strchr(p, '>') + 1);
        CHECK_MSG(v > prev_v && y < prev_y, "tick %g at y %g after %g at y %g", v, y, prev_v, prev_y);
        prev_v = v;
        prev_y = y;
        ticks++;
    }
    CHECK(ticks >= 3 && prev_v >= 0.7);
    textbuf_free(&t);
}

MT_TEST(svg_heatmap_counts_and_labels) {
    int64_t counts[6] = {50, 2, 0, 1, 40, 7};
    const char *rows[2] = {"cat", "<dog>"}, *cols[3] = {"a", "b", "c"};
    svg_heatmap h = {"Confusion", "predicted", "true", rows, cols, counts, 2, 3};
    textbuf t = {0};
    svg_draw_heatmap(&t, &h);
    REQUIRE(!t.failed && t.data);
    CHECK(count(t.data, "<rect") == 1 + 6); /* background + cells */
    CHECK(count(t.data, "class=\"count\"") == 6);
    long sum = 0;
    for (const char *p = strstr(t.data, "class=\"count\""); p; p = strstr(p + 1, "class=\"count\""))
        sum += atol(strchr(p, '>') + 1);
    CHECK(sum == 100);
    CHECK(strstr(t.data, ">&lt;dog&gt;</text>") && strstr(t.data, ">Confusion</text>") && strstr(t.data, ">predicted</text>"));
    textbuf_free(&t);
}

MT_TEST(textbuf_base64_and_escaping) {
    textbuf t = {0};
    textbuf_base64(&t, (const uint8_t *)"Man", 3);
    textbuf_base64(&t, (const uint8_t *)"Ma", 2);
    textbuf_base64(&t, (const uint8_t *)"M", 1);
    textbuf_xml(&t, " <&'\">");
    CHECK(strcmp(t.data, "TWFuTWE=TQ== &lt;&amp;&#39;&quot;&gt;") == 0);
    textbuf_free(&t);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[400];
    mt_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(mt_write_file_atomic(path, text, strlen(text), &err) == MT_OK);
}

MT_TEST(runlog_reads_metrics_and_timing) {
    char dir[256];
    cli_tempdir(dir, sizeof dir);
    write_text(dir, "metrics.jsonl",
               "{\"epoch\":1,\"train_loss\":0.5,\"test_loss\":0.25,\"test_accuracy\":0.9}\n"
               "{\"epoch\":2,\"train_loss\":0.2,\"test_loss\":0.125,\"test_accuracy\":0.95,\"epoch_seconds\":3}\n"
               "{\"epoch\":3,\"train_loss\":0.1,\"test_loss\":0.2,\"test_accuracy\":0.94}\n{\"epoch\":4,\"tra");
    write_text(dir, "timing.jsonl", "{\"epoch\":1,\"epoch_seconds\":2.5,\"peak_rss_mb\":90}\n");
    runlog log;
    mt_error err = {0};
    REQUIRE(runlog_load(dir, &log, &err));
    CHECK(log.n == 3); /* the unterminated last line is a run still writing */
    CHECK(log.epochs[0].epoch == 1 && log.epochs[0].test_loss == 0.25 && log.epochs[0].epoch_seconds == 2.5);
    CHECK(log.epochs[1].epoch_seconds == 3 && isnan(log.epochs[2].epoch_seconds) && log.epochs[0].peak_rss_mb == 90);
    CHECK(runlog_best(&log) == 1 && runlog_metric(&log.epochs[2], "train_loss") == 0.1);
    CHECK(isnan(runlog_metric(&log.epochs[0], "nope")) && !runlog_has_metric("nope"));
    runlog_free(&log);

    write_text(dir, "metrics.jsonl", "{\"epoch\":1,\"train_loss\":0.5,\"test_loss\":0.25,\"test_accuracy\":0.9}\n"
                                     "{\"epoch\":2,\"train_loss\":\"x\",\"test_loss\":0.25,\"test_accuracy\":0.9}\n");
    CHECK(!runlog_load(dir, &log, &err) && strstr(err.msg, "metrics.jsonl:2") && strstr(err.msg, "train_loss"));
    mt_error_clear(&err);
    write_text(dir, "metrics.jsonl", "");
    CHECK(!runlog_load(dir, &log, &err) && strstr(err.msg, "no epochs"));
    cli_remove_dir(dir);
    mt_error_clear(&err);
    CHECK(!runlog_load(dir, &log, &err) && strstr(err.msg, "cannot open run folder"));
}

/* One line on stderr containing needle, and the exit status. */
static void expect_error(const char *args, int status, const char *needle) {
    cli_result r;
    cli_run(&r, args);
    CHECK_MSG(r.status == status, "mytorch %s: exit %d, expected %d (stderr: %s)", args, r.status, status, r.err);
    CHECK_MSG(cli_lines(r.err) == 1 && strstr(r.err, needle), "mytorch %s: stderr lacks '%s': %s", args, needle, r.err);
}

MT_TEST(figures_and_report_refuse_bad_run_folders) {
    char dir[256], args[1024];
    cli_tempdir(dir, sizeof dir);
    snprintf(args, sizeof args, "figures '%s/none'", dir);
    expect_error(args, 1, "cannot open run folder");
    snprintf(args, sizeof args, "report '%s'", dir);
    expect_error(args, 1, "has no metrics.jsonl");
    write_text(dir, "metrics.jsonl", "{\"epoch\":1,\"train_loss\":0.5,\"test_loss\":0.25,\"test_accuracy\":0.9}\n");
    write_text(dir, "best.safetensors", "not a checkpoint");
    snprintf(args, sizeof args, "figures '%s'", dir);
    expect_error(args, 1, "best.safetensors");
    snprintf(args, sizeof args, "report '%s'", dir);
    expect_error(args, 1, "best.safetensors");
    CHECK(!cli_exists(dir, "report.html") && !cli_exists(dir, "figures"));
    const char *helps[2] = {"figures --help", "report --help"};
    for (int k = 0; k < 2; k++) {
        cli_result r;
        cli_run(&r, helps[k]);
        CHECK_MSG(r.status == 0 && strstr(r.out, "RUN_DIR... [flags]") && strstr(r.out, "--data DIR"), "mytorch %s: %s",
                  helps[k], r.out);
    }
    expect_error("figures", 2, "give a run folder");
    expect_error("report", 2, "give one or more run folders");
    snprintf(args, sizeof args, "report '%s' --bogus", dir);
    expect_error(args, 2, "unknown flag '--bogus'");
    cli_remove_dir(dir);
}

/* The numbers in the confusion matrix's cells, summed. */
static long confusion_total(const char *path) {
    uint8_t *data;
    size_t len;
    mt_error err = {0};
    if (mt_read_file(path, 1 << 24, &data, &len, &err) != MT_OK) return -1;
    long sum = 0;
    for (const char *p = strstr((char *)data, "class=\"count\""); p; p = strstr(p + 1, "class=\"count\""))
        sum += atol(strchr(p, '>') + 1);
    free(data);
    return sum;
}

MT_TEST(figures_and_report_of_a_tiny_run) {
    char dir[256], args[1024], path[400];
    cli_tempdir(dir, sizeof dir);
    cli_result r;
    cli_train(dir, "--model fcn --max-steps 50 --epochs 2 --threads 1", 0, &r);
    if (r.status != 0) {
        cli_remove_dir(dir);
        return;
    }
    snprintf(args, sizeof args, "figures '%s' --data '%s' --threads 1", dir, mt_test_data_dir());
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    const char *made[] = {"accuracy.svg", "loss.svg", "confusion.svg", "misclassified.png"};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/figures/%s", dir, made[k]);
        CHECK_MSG(strstr(r.out, path) && cli_exists(dir, path + strlen(dir) + 1), "%s not written or not printed", path);
    }
    CHECK(!cli_exists(dir, "figures/filters.png")); /* fcn starts with a Linear layer */
    snprintf(path, sizeof path, "%s/figures/confusion.svg", dir);
    CHECK(confusion_total(path) == 10000);
    snprintf(path, sizeof path, "%s/figures/misclassified.png", dir);
    uint8_t *png;
    size_t len;
    mt_error err = {0};
    REQUIRE(mt_read_file(path, 1 << 24, &png, &len, &err) == MT_OK);
    int w, h, c;
    uint8_t *pixels = decode_png(png, len, &w, &h, &c);
    CHECK(pixels && c == 3 && w > 8 * 28 * 2 && h > 28 * 2);
    free(pixels);
    free(png);

    /* The report inlines every figure and shows the final accuracy of metrics.jsonl. */
    snprintf(args, sizeof args, "report '%s' --data '%s' --threads 1", dir, mt_test_data_dir());
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    runlog log;
    REQUIRE(runlog_load(dir, &log, &err));
    char acc[32];
    snprintf(acc, sizeof acc, "%.2f%%", 100.0 * log.epochs[log.n - 1].test_accuracy);
    snprintf(path, sizeof path, "%s/report.html", dir);
    uint8_t *html;
    REQUIRE(mt_read_file(path, 1 << 26, &html, &len, &err) == MT_OK);
    const char *page = (const char *)html;
    CHECK(strncmp(page, "<!DOCTYPE html>", 15) == 0 && strstr(page, "</html>"));
    CHECK(count(page, "<svg xmlns") == 3 && count(page, "src=\"data:image/png;base64,") == 1);
    CHECK(strstr(page, acc) != NULL);
    CHECK(strstr(page, "<th>model</th><td>fcn</td>") && !strstr(page, "src=\"figures/") && !strstr(page, "<script"));
    free(html);

    /* A comparison of the run with itself: a table and three overlaid charts of two lines each. */
    snprintf(args, sizeof args, "report '%s' '%s/' --out '%s/cmp.html' --data '%s' --threads 1", dir, dir, dir,
             mt_test_data_dir());
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    snprintf(path, sizeof path, "%s/cmp.html", dir);
    REQUIRE(mt_read_file(path, 1 << 26, &html, &len, &err) == MT_OK);
    CHECK(count((char *)html, "<svg xmlns") == 3 + 2 * 3 && strstr((char *)html, "mytorch comparison"));
    free(html);

    const char *runs[2] = {dir, dir}, *labels[2] = {"first", "second"};
    snprintf(path, sizeof path, "%s/overlay.svg", dir);
    REQUIRE(figures_write_overlay(path, "Test loss", "test_loss", runs, labels, 2, &err));
    REQUIRE(mt_read_file(path, 1 << 24, &html, &len, &err) == MT_OK);
    CHECK(count((char *)html, "<polyline") == 2 && strstr((char *)html, ">second</text>"));
    free(html);
    CHECK(!figures_write_overlay(path, "x", "accuracy", runs, labels, 2, &err) && strstr(err.msg, "unknown metric"));
    runlog_free(&log);
    cli_remove_dir(dir);
}
