/* Image readers and the digit conversion. The small PNGs in tests/images/png were made
 * with ImageMagick from pixel values written out by hand (tests/images/README.md); each
 * test checks the decoder's pixels against those values, or an interlaced file against
 * its plain twin. Hostile files are built here, chunk by chunk, with correct CRCs where
 * the point is another fault. */
#include "cli_run.h"
#include "io/json.h"
#include "io/png.h"
#include "mytorch/image.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PNG_DIR MT_SOURCE_DIR "/tests/images/png/"

static bool read_image(const char *name, mt_image *img) {
    mt_error err = {0};
    char path[512];
    snprintf(path, sizeof path, PNG_DIR "%s", name);
    if (mt_image_read(path, img, &err) != MT_OK) {
        mt_test_fail(__FILE__, __LINE__, "%s: %s", name, err.msg);
        return false;
    }
    return true;
}

/* name decodes to w x h x c with exactly these bytes. */
static void expect_pixels(const char *name, int w, int h, int c, const uint8_t *want) {
    mt_image img;
    if (!read_image(name, &img)) return;
    CHECK_MSG(img.width == w && img.height == h && img.channels == c, "%s: %d x %d x %d, expected %d x %d x %d", name,
              img.width, img.height, img.channels, w, h, c);
    if (img.width == w && img.height == h && img.channels == c)
        for (int i = 0; i < w * h * c; i++)
            CHECK_MSG(img.pixels[i] == want[i], "%s: byte %d (pixel %d) is %d, expected %d", name, i, i / c,
                      img.pixels[i], want[i]);
    mt_image_free(&img);
}

/* Two files decode to the same image. */
static void expect_same(const char *a, const char *b) {
    mt_image x, y;
    if (!read_image(a, &x)) return;
    if (read_image(b, &y)) {
        bool same = x.width == y.width && x.height == y.height && x.channels == y.channels &&
                    memcmp(x.pixels, y.pixels, (size_t)x.width * x.height * x.channels) == 0;
        CHECK_MSG(same, "%s and %s decode to different pixels", a, b);
        mt_image_free(&y);
    }
    mt_image_free(&x);
}

static const uint8_t GREY[6] = {0, 85, 170, 255, 255, 0}; /* 3x2, in 2, 4, 8 and 16 bits */
static const uint8_t RGB[18] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 10, 20, 30};

MT_TEST(png_grey_every_bit_depth) {
    expect_pixels("grey1.png", 3, 2, 1, (const uint8_t[]){0, 255, 255, 0, 255, 0});
    expect_pixels("grey2.png", 3, 2, 1, GREY);
    expect_pixels("grey4.png", 3, 2, 1, GREY);
    expect_pixels("grey8.png", 3, 2, 1, GREY);
    expect_pixels("grey16.png", 3, 2, 1, GREY);
}

MT_TEST(png_rgb_and_palette) {
    expect_pixels("rgb8.png", 3, 2, 3, RGB);
    expect_pixels("rgb16.png", 3, 2, 3, RGB);
    expect_pixels("pal8.png", 3, 2, 3, RGB);
    expect_pixels("pal4.png", 3, 2, 3, RGB);
}

MT_TEST(png_alpha_channels_and_trns) {
    const uint8_t rgba[24] = {255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 255, 255, 255, 255, 0, 0, 0, 255, 10, 20, 30, 64};
    expect_pixels("rgba8.png", 3, 2, 4, rgba);
    expect_pixels("rgba16.png", 3, 2, 4, rgba);
    const uint8_t ga[12] = {0, 255, 85, 128, 170, 0, 255, 255, 255, 64, 0, 1};
    expect_pixels("ga8.png", 3, 2, 2, ga);
    expect_pixels("ga16.png", 3, 2, 2, ga);
    /* tRNS: a palette entry's alpha, or a key colour that becomes transparent. */
    expect_pixels("pal_trns.png", 3, 2, 4,
                  (const uint8_t[]){255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 10,
                                    20, 30, 255});
    expect_pixels("grey8_trns.png", 3, 2, 2, (const uint8_t[]){0, 255, 85, 255, 170, 0, 255, 255, 255, 255, 0, 255});
    expect_pixels("rgb8_trns.png", 3, 2, 4,
                  (const uint8_t[]){255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255, 10,
                                    20, 30, 0});
}

MT_TEST(png_adam7_interlace_matches_plain) {
    /* 13x11: every Adam7 pass is present and some are partial. */
    expect_same("noise_grey8_adam7.png", "noise13x11.pgm");
    expect_same("noise_grey16_adam7.png", "noise13x11.pgm");
    expect_same("noise_grey1_adam7.png", "noise_grey1.png");
    expect_same("noise_rgba8_adam7.png", "noise_rgba8.png");
    expect_same("noise_pal4_adam7.png", "noise_pal4.png");
}

MT_TEST(pgm_binary_ascii_and_16_bit) {
    const uint8_t p5[] = "P5 # a comment\n3 2\n# another\n255\n\x00\x55\xaa\xff\xff\x00";
    const char *p2 = "P2\n3 2\n15\n0 5 10\n15 15 0\n";
    const uint8_t p16[] = "P5\n3 2\n65535\n\x00\x00\x55\x55\xaa\xaa\xff\xff\xff\xff\x00\x00";
    mt_image img;
    mt_error err = {0};
    CHECK(mt_pgm_decode(p5, sizeof p5 - 1, &img, &err) == MT_OK && memcmp(img.pixels, GREY, 6) == 0);
    mt_image_free(&img);
    CHECK(mt_pgm_decode((const uint8_t *)p2, strlen(p2), &img, &err) == MT_OK && memcmp(img.pixels, GREY, 6) == 0);
    mt_image_free(&img);
    CHECK(mt_pgm_decode(p16, sizeof p16 - 1, &img, &err) == MT_OK && memcmp(img.pixels, GREY, 6) == 0);
    mt_image_free(&img);
    CHECK_MSG(err.code == MT_OK, "%s", err.msg);
}

/* ---- hostile files ---------------------------------------------------------------- */

typedef struct {
    uint8_t d[4096];
    size_t n;
} png_buf;

static void put32(png_buf *b, uint32_t v) {
    for (int i = 3; i >= 0; i--) b->d[b->n++] = (uint8_t)(v >> (8 * i));
}

static void chunk(png_buf *b, const char *type, const void *data, uint32_t len) {
    put32(b, len);
    size_t start = b->n;
    memcpy(b->d + b->n, type, 4);
    memcpy(b->d + b->n + 4, data, len);
    b->n += 4 + len;
    put32(b, mt_png_chunk_crc(b->d + start, len));
}

static void ihdr(png_buf *b, uint32_t w, uint32_t h, int depth, int color) {
    uint8_t d[13] = {0};
    for (int i = 0; i < 4; i++) {
        d[i] = (uint8_t)(w >> (24 - 8 * i));
        d[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    }
    d[8] = (uint8_t)depth;
    d[9] = (uint8_t)color;
    memcpy(b->d, MT_PNG_SIGNATURE, 8);
    b->n = 8;
    chunk(b, "IHDR", d, 13);
}

/* raw (filter bytes and rows) compressed into one IDAT, keeping the first `keep` bytes of
 * the zlib stream (all when keep is 0), then IEND. */
static void idat_iend(png_buf *b, const uint8_t *raw, size_t n, size_t keep) {
    uint8_t z[2048];
    uLongf zn = sizeof z;
    REQUIRE(compress(z, &zn, raw, n) == Z_OK);
    chunk(b, "IDAT", z, keep ? (uint32_t)keep : (uint32_t)zn);
    chunk(b, "IEND", "", 0);
}

static void expect_png_error(const png_buf *b, const char *needle) {
    mt_image img = {0};
    mt_error err = {0};
    mt_status s = mt_png_decode(b->d, b->n, &img, &err);
    CHECK_MSG(s == MT_ERR_FORMAT && strstr(err.msg, needle) && !img.pixels,
              "expected an error with '%s', got status %d: '%s'", needle, s, err.msg);
    mt_image_free(&img);
}

/* A valid 3x2 8-bit grey PNG: filter 0 rows. */
static const uint8_t RAW3x2[8] = {0, 1, 2, 3, 0, 4, 5, 6};

MT_TEST(png_builder_makes_a_valid_file) {
    png_buf b;
    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    mt_image img;
    mt_error err = {0};
    CHECK_MSG(mt_png_decode(b.d, b.n, &img, &err) == MT_OK, "%s", err.msg);
    CHECK(img.width == 3 && img.height == 2 && img.pixels[5] == 6);
    mt_image_free(&img);
}

MT_TEST(png_rejects_bad_structure) {
    png_buf b;
    memcpy(b.d, "hello, world", 12);
    b.n = 12;
    expect_png_error(&b, "bad signature");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    b.d[42] ^= 1; /* a byte of IDAT data */
    expect_png_error(&b, "CRC mismatch in chunk IDAT");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    b.n -= 14; /* half of IEND gone */
    expect_png_error(&b, "truncated");
    b.n = 50; /* inside IDAT */
    expect_png_error(&b, "truncated: chunk IDAT");

    ihdr(&b, 0, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "bad dimensions 0 x 2");
    ihdr(&b, 100000, 100000, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "more than the 67108864 pixels");
    ihdr(&b, 3, 2, 3, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "bit depth 3 is not allowed");
    ihdr(&b, 3, 2, 8, 5);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "unknown colour type 5");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    chunk(&b, "IEND", "", 0);
    expect_png_error(&b, "no IDAT");
    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    chunk(&b, "ABCD", "x", 1);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "unknown critical chunk ABCD");

    /* A 4000x4000 image cannot come from a few bytes of IDAT: refused before allocating. */
    ihdr(&b, 4000, 4000, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 0);
    expect_png_error(&b, "cannot hold a 4000 x 4000 image");
}

MT_TEST(png_rejects_bad_image_data) {
    png_buf b;
    const uint8_t bad_filter[8] = {0, 1, 2, 3, 7, 4, 5, 6};
    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, bad_filter, 8, 0);
    expect_png_error(&b, "bad filter type 7 in row 1");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 8, 6); /* zlib stream cut short */
    expect_png_error(&b, "truncated");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    uint8_t junk[16] = {0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    chunk(&b, "IDAT", junk, 16);
    chunk(&b, "IEND", "", 0);
    expect_png_error(&b, "not valid zlib");

    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, RAW3x2, 4, 0); /* one row of two */
    expect_png_error(&b, "inflates to 4 bytes, a 3 x 2 image needs 8");

    const uint8_t three_rows[12] = {0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9};
    ihdr(&b, 3, 2, 8, MT_PNG_GREY);
    idat_iend(&b, three_rows, 12, 0);
    expect_png_error(&b, "inflates to more than the 8 bytes");

    const uint8_t rgb2[6] = {0, 0, 0, 255, 255, 255};
    const uint8_t idx[8] = {0, 0, 1, 0, 0, 1, 5, 1};
    ihdr(&b, 3, 2, 8, MT_PNG_PALETTE);
    chunk(&b, "PLTE", rgb2, 6);
    idat_iend(&b, idx, 8, 0);
    expect_png_error(&b, "palette index 5 out of range (2 entries)");

    ihdr(&b, 3, 2, 8, MT_PNG_PALETTE);
    idat_iend(&b, idx, 8, 0);
    expect_png_error(&b, "without a PLTE");
}

static void expect_pgm_error(const char *text, const char *needle) {
    mt_image img = {0};
    mt_error err = {0};
    mt_status s = mt_pgm_decode((const uint8_t *)text, strlen(text), &img, &err);
    CHECK_MSG(s == MT_ERR_FORMAT && strstr(err.msg, needle) && !img.pixels, "'%s': expected '%s', got '%s'", text,
              needle, err.msg);
}

MT_TEST(pgm_rejects_bad_files) {
    expect_pgm_error("P6\n3 2\n255\n", "bad magic");
    expect_pgm_error("P5\n3 2\n0\nabcdef", "maxval 0");
    expect_pgm_error("P5\n3 2\n65536\nabcdef", "bad maxval");
    expect_pgm_error("P5\n3 2\n255\nabcde", "5 bytes of pixel data, a 3 x 2 image with maxval 255 needs 6");
    expect_pgm_error("P5\n3 2\n255\nabcdefg", "7 bytes of pixel data");
    expect_pgm_error("P5\n3 2\n300\nabcdef", "needs 12");
    expect_pgm_error("P5\n0 2\n255\n", "bad dimensions 0 x 2");
    expect_pgm_error("P5\n100000 100000\n255\n", "bad dimensions 100000 x 100000");
    expect_pgm_error("P5\n3x 2\n255\n", "bad width/height");
    expect_pgm_error("P2\n3 2\n15\n0 5 10 15 15\n", "pixel 5 of 6 is missing");
    expect_pgm_error("P2\n3 2\n15\n0 5 10 15 15 16\n", "above maxval 15");
    expect_pgm_error("P2\n3 2\n15\n0 5 10 15 15 1 1\n", "after the 6 pixels");
}

MT_TEST(image_read_names_the_file) {
    mt_image img = {0};
    mt_error err = {0};
    CHECK(mt_image_read(MT_SOURCE_DIR "/tests/images/not-an-image.png", &img, &err) == MT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "not-an-image.png: not a PNG or PGM image (starts with \"") != NULL, "%s", err.msg);
    mt_error_clear(&err);
    CHECK(mt_image_read("/nonexistent/digit.png", &img, &err) == MT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "/nonexistent/digit.png") != NULL, "%s", err.msg);
    CHECK(img.pixels == NULL);
}

/* ---- digit conversion ------------------------------------------------------------- */

/* A w x h picture of an elliptic ring of stroke width `pen` (a "0"), dark on light:
 * ink 0 on paper 255, in `channels` channels (alpha opaque). */
static void draw_ring(mt_image *img, int w, int h, int channels, double pen) {
    REQUIRE(mt_image_new(img, w, h, channels, NULL) == MT_OK);
    double cx = w * 0.45, cy = h * 0.55, rx = w * 0.25, ry = h * 0.3;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double r = hypot((x - cx) / rx, (y - cy) / ry), d = fabs(r - 1.0) * fmin(rx, ry);
            uint8_t v = d < pen / 2 ? 0 : 255;
            uint8_t *p = img->pixels + ((size_t)y * w + x) * channels;
            for (int c = 0; c < channels; c++) p[c] = v;
            if (channels == 2 || channels == 4) p[channels - 1] = 255;
        }
}

typedef struct {
    int x0, y0, x1, y1; /* bounding box of nonzero pixels, inclusive */
    double cx, cy, max;
} digit_stats;

static digit_stats stats28(const float *x) {
    digit_stats s = {28, 28, -1, -1, 0, 0, 0};
    double mass = 0;
    for (int y = 0; y < 28; y++)
        for (int i = 0; i < 28; i++) {
            float v = x[y * 28 + i];
            CHECK_MSG(v >= 0 && v <= 1, "pixel (%d, %d) = %g is outside [0, 1]", i, y, v);
            if (v <= 0) continue;
            s.x0 = i < s.x0 ? i : s.x0;
            s.x1 = i > s.x1 ? i : s.x1;
            s.y0 = y < s.y0 ? y : s.y0;
            s.y1 = y > s.y1 ? y : s.y1;
            mass += v;
            s.cx += v * i;
            s.cy += v * y;
            s.max = v > s.max ? v : s.max;
        }
    s.cx /= mass;
    s.cy /= mass;
    return s;
}

MT_TEST(digit_is_cropped_scaled_and_centred_as_mnist) {
    mt_image img;
    float x[784];
    mt_error err = {0};
    draw_ring(&img, 150, 240, 1, 16);
    REQUIRE(mt_image_to_mnist(&img, x, &err) == MT_OK);
    digit_stats s = stats28(x);
    /* The taller side fills 20 pixels, the other keeps the aspect ratio (0.25/0.3 * 150/240 ≈ 0.52). */
    CHECK_MSG(s.y1 - s.y0 + 1 == 20, "height %d, expected 20", s.y1 - s.y0 + 1);
    CHECK_MSG(abs(s.x1 - s.x0 + 1 - 11) <= 1, "width %d, expected about 11", s.x1 - s.x0 + 1);
    /* Centre of mass at MNIST's (14, 14), to the whole-pixel shift MNIST used. */
    CHECK_MSG(fabs(s.cx - 14) <= 0.5 + 1e-6 && fabs(s.cy - 14) <= 0.5 + 1e-6, "centre of mass (%.2f, %.2f)", s.cx, s.cy);
    CHECK_NEAR(s.max, 1.0, 1e-6);
    CHECK(x[0] == 0 && x[27] == 0 && x[783] == 0);
    mt_image_free(&img);
}

MT_TEST(digit_polarity_and_alpha_do_not_matter) {
    mt_image dark, light, rgba;
    float a[784], b[784], c[784];
    mt_error err = {0};
    draw_ring(&dark, 90, 120, 3, 10);
    draw_ring(&light, 90, 120, 3, 10);
    for (size_t i = 0; i < (size_t)90 * 120 * 3; i++) light.pixels[i] = (uint8_t)(255 - light.pixels[i]);
    /* Black ink on a transparent background: the background's colour (black) is hidden. */
    draw_ring(&rgba, 90, 120, 4, 10);
    for (size_t i = 0; i < (size_t)90 * 120; i++)
        if (rgba.pixels[4 * i] == 255) memset(rgba.pixels + 4 * i, 0, 4);
    REQUIRE(mt_image_to_mnist(&dark, a, &err) == MT_OK && mt_image_to_mnist(&light, b, &err) == MT_OK &&
            mt_image_to_mnist(&rgba, c, &err) == MT_OK);
    for (int i = 0; i < 784; i++) {
        CHECK_NEAR(a[i], b[i], 1e-6);
        CHECK_NEAR(a[i], c[i], 1e-6);
    }
    CHECK(stats28(a).max == 1.0); /* ink is white, as in MNIST */
    mt_image_free(&dark);
    mt_image_free(&light);
    mt_image_free(&rgba);
}

MT_TEST(digit_thin_strokes_survive_downscaling) {
    /* A one-pixel diagonal line across 400x400 becomes a visible stroke, not dust. */
    mt_image img;
    float x[784];
    mt_error err = {0};
    REQUIRE(mt_image_new(&img, 400, 400, 1, NULL) == MT_OK);
    memset(img.pixels, 255, 400 * 400);
    for (int i = 20; i < 380; i++) img.pixels[i * 400 + i] = 0;
    REQUIRE(mt_image_to_mnist(&img, x, &err) == MT_OK);
    int strong = 0;
    for (int i = 0; i < 784; i++) strong += x[i] > 0.5f;
    CHECK_MSG(strong >= 20, "only %d pixels above 0.5", strong);
    mt_image_free(&img);
}

MT_TEST(digit_blank_picture_is_an_error) {
    mt_image img;
    float x[784];
    mt_error err = {0};
    REQUIRE(mt_image_new(&img, 50, 50, 1, NULL) == MT_OK);
    memset(img.pixels, 240, 2500);
    img.pixels[1234] = 230; /* a speck of dust is not a digit */
    CHECK(mt_image_to_mnist(&img, x, &err) == MT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "no digit found") != NULL, "%s", err.msg);
    mt_image_free(&img);
}

/* ---- mytorch predict ---------------------------------------------------------------- */

#define REF_LENET MT_SOURCE_DIR "/../shared/reference-weights/lenet-reference.safetensors"
#define IMAGES MT_SOURCE_DIR "/tests/images/"

static const char *DIGITS[10] = {"digit0.png", "digit1.png", "digit2.png", "digit3.png", "digit4.png",
                                 "digit5.png", "digit6.pgm", "digit7.pgm", "digit8.png", "digit9.png"};

MT_TEST(predict_reads_every_hand_drawn_digit_right) {
    if (access(REF_LENET, R_OK) != 0) {
        mt_test_skip("no reference LeNet beside the repository");
        return;
    }
    char args[4096];
    int n = snprintf(args, sizeof args, "predict --checkpoint '%s' --json --top 2", REF_LENET);
    for (int d = 0; d < 10; d++) n += snprintf(args + n, sizeof args - (size_t)n, " '%s%s'", IMAGES, DIGITS[d]);
    cli_result r;
    cli_run(&r, args);
    REQUIRE(r.status == 0);
    CHECK_MSG(cli_lines(r.out) == 10, "expected 10 lines: %s", r.out);
    const char *line = r.out;
    for (int d = 0; d < 10 && *line; d++) {
        const char *end = strchr(line, '\n');
        REQUIRE(end);
        mt_json j;
        mt_json_error je;
        REQUIRE(mt_json_parse(line, (size_t)(end - line), &j, &je));
        const mt_json *file = mt_json_get(&j, "file"), *pred = mt_json_get(&j, "prediction"),
                      *probs = mt_json_get(&j, "probabilities"), *top = mt_json_get(&j, "top");
        REQUIRE(file && file->kind == MT_JSON_STRING && pred && pred->kind == MT_JSON_INT && probs &&
                probs->kind == MT_JSON_ARRAY && probs->n_items == 10 && top && top->kind == MT_JSON_ARRAY);
        CHECK_MSG(strstr(file->string, DIGITS[d]) != NULL, "line %d is for %s", d, file->string);
        CHECK_MSG(pred->integer == d, "%s is predicted %lld", DIGITS[d], (long long)pred->integer);
        double sum = 0;
        for (size_t k = 0; k < 10; k++) sum += probs->items[k].kind == MT_JSON_NUMBER ? probs->items[k].number : 0;
        CHECK_NEAR(sum, 1.0, 1e-4);
        CHECK(top->n_items == 2);
        mt_json_free(&j);
        line = end + 1;
    }
}

MT_TEST(predict_text_output) {
    if (access(REF_LENET, R_OK) != 0) {
        mt_test_skip("no reference LeNet beside the repository");
        return;
    }
    cli_result r;
    cli_run(&r, "predict --checkpoint '" REF_LENET "' --top 3 '" IMAGES "digit3.png'");
    CHECK_MSG(r.status == 0 && cli_lines(r.out) == 1, "exit %d: %s%s", r.status, r.out, r.err);
    CHECK_MSG(strstr(r.out, "digit3.png: 3  (3 ") != NULL && cli_number_after(r.out, "(3 ") > 50,
              "unexpected output: %s", r.out);
}

MT_TEST(predict_rejects_bad_images_and_usage) {
    cli_expect_error("predict --checkpoint '" REF_LENET "' '" IMAGES "not-an-image.png'", 1,
                         "not-an-image.png: not a PNG or PGM image (starts with \"This is \")");
    cli_expect_error("predict --checkpoint '" REF_LENET "' /nonexistent/seven.png", 1,
                         "/nonexistent/seven.png: cannot open");
    cli_expect_error("predict '" IMAGES "digit3.png'", 2, "--checkpoint FILE is required");
    cli_expect_error("predict --checkpoint '" REF_LENET "'", 2, "no IMAGE given");
    cli_expect_error("predict --checkpoint '" REF_LENET "' --top 11 '" IMAGES "digit3.png'", 2, "--top must be between");
    cli_expect_error("predict --checkpoint /nonexistent.safetensors '" IMAGES "digit3.png'", 1,
                         "/nonexistent.safetensors");
}

/* ---- round trip through the writer -------------------------------------------------- */

MT_TEST(png_encode_then_decode_gives_the_same_pixels) {
    for (int c = 1; c <= 4; c++) {
        mt_image img, back;
        mt_error err = {0};
        REQUIRE(mt_image_new(&img, 37, 23, c, &err) == MT_OK);
        uint32_t h = 12345u + (uint32_t)c; /* varied bytes, so every filter gets used */
        for (size_t i = 0; i < (size_t)37 * 23 * c; i++) {
            h = h * 1664525u + 1013904223u;
            img.pixels[i] = i % 7 == 0 ? (uint8_t)(h >> 24) : (uint8_t)(i / (size_t)c % 37 * 7);
        }
        uint8_t *png;
        size_t len;
        REQUIRE(mt_png_encode(&img, &png, &len, &err) == MT_OK);
        CHECK_MSG(mt_png_decode(png, len, &back, &err) == MT_OK, "%d channels: %s", c, err.msg);
        CHECK_MSG(back.width == 37 && back.height == 23 && back.channels == c &&
                      memcmp(back.pixels, img.pixels, (size_t)37 * 23 * c) == 0,
                  "%d channels: the decoded pixels differ", c);
        free(png);
        mt_image_free(&back);
        mt_image_free(&img);
    }
}
