/* A picture of a digit -> an MNIST-style 28x28 input, the way MNIST was made: the digit
 * white on black, its bounding box scaled (anti-aliased) to fit 20x20 keeping the aspect
 * ratio, then placed so its centre of mass is at the centre of the 28x28 field. (Over
 * the MNIST test set the centre of mass averages (14.0, 14.0) in pixel-index
 * coordinates, and every digit's nonzero box fits 20x20.) */
#include "mytorch/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIGIT_BOX 20
#define DIGIT_SIDE 28
/* Ink below this fraction of the darkest stroke is paper texture or scanner noise. */
#define DIGIT_NOISE 0.15f
/* A picture whose ink differs from its background by less than this (of full scale)
 * holds no digit. */
#define DIGIT_MIN_CONTRAST 0.1f

/* Grey in [0, 1], composited over white: a transparent background is the paper. */
static float grey_over_white(const uint8_t *p, int channels) {
    float g = channels >= 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
    float a = channels == 2 ? p[1] : channels == 4 ? p[3] : 255.0f;
    return (g * a + 255.0f * (255.0f - a)) / (255.0f * 255.0f);
}

/* The median grey of the outermost ring of pixels: the background, even where the digit
 * touches an edge. */
static float border_median(const float *g, int w, int h) {
    int hist[256] = {0}, n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (y == 0 || y == h - 1 || x == 0 || x == w - 1) {
                hist[(int)lrintf(g[(size_t)y * w + x] * 255.0f)]++;
                n++;
            }
    int k = 0;
    for (int seen = 0; k < 255 && (seen += hist[k]) * 2 < n; k++) {}
    return (float)k / 255.0f;
}

/* Area average of the source box [x0, x0 + sx) x [y0, y0 + sy) of ink (w wide), read no
 * further than column xe and row ye (exclusive; rounding must not step past the crop). */
static float box_average(const float *ink, int w, double x0, double y0, double sx, double sy, int xe, int ye) {
    double sum = 0;
    int iy1 = (int)ceil(y0 + sy), ix1 = (int)ceil(x0 + sx);
    for (int iy = (int)y0; iy < iy1 && iy < ye; iy++) {
        double wy = fmin(y0 + sy, iy + 1.0) - fmax(y0, (double)iy);
        for (int ix = (int)x0; ix < ix1 && ix < xe; ix++) {
            double wx = fmin(x0 + sx, ix + 1.0) - fmax(x0, (double)ix);
            sum += wx * wy * ink[(size_t)iy * w + ix];
        }
    }
    return (float)(sum / (sx * sy));
}

/* Bilinear sample of ink at (u, v), clamped to the crop [bx0, bx1] x [by0, by1]. */
static float bilinear(const float *ink, int w, double u, double v, int bx0, int by0, int bx1, int by1) {
    u = fmin(fmax(u, bx0), bx1);
    v = fmin(fmax(v, by0), by1);
    int x = (int)u, y = (int)v, xn = x < bx1 ? x + 1 : x, yn = y < by1 ? y + 1 : y;
    double fx = u - x, fy = v - y;
    const float *r0 = ink + (size_t)y * w, *r1 = ink + (size_t)yn * w;
    return (float)((1 - fy) * ((1 - fx) * r0[x] + fx * r0[xn]) + fy * ((1 - fx) * r1[x] + fx * r1[xn]));
}

mt_status mt_image_to_mnist(const mt_image *img, float *out, mt_error *err) {
    int w = img->width, h = img->height, c = img->channels;
    if (w < 1 || h < 1 || c < 1 || c > 4 || !img->pixels)
        return mt_error_set(err, MT_ERR_ARG, "digit: empty or invalid image (%d x %d, %d channels)", w, h, c);
    size_t n = (size_t)w * (size_t)h;
    float *ink = malloc(n * sizeof *ink);
    if (!ink) return mt_error_set(err, MT_ERR_NOMEM, "digit: out of memory for a %d x %d image", w, h);
    for (size_t i = 0; i < n; i++) ink[i] = grey_over_white(img->pixels + i * (size_t)c, c);

    /* Ink is what differs from the background, white on black as in MNIST. */
    float bg = border_median(ink, w, h), peak = 0;
    bool light = bg > 0.5f;
    for (size_t i = 0; i < n; i++) {
        float v = light ? bg - ink[i] : ink[i] - bg;
        ink[i] = v > 0 ? v : 0;
        if (ink[i] > peak) peak = ink[i];
    }
    if (peak < DIGIT_MIN_CONTRAST) {
        free(ink);
        return mt_error_set(err, MT_ERR_FORMAT, "no digit found (the picture is blank: contrast %.0f of 255)",
                            peak * 255.0f);
    }
    int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *v = &ink[(size_t)y * w + x];
            *v = *v < DIGIT_NOISE * peak ? 0 : *v / peak;
            if (*v > 0) {
                if (x < bx0) bx0 = x;
                if (x > bx1) bx1 = x;
                if (y < by0) by0 = y;
                if (y > by1) by1 = y;
            }
        }

    /* Scale the bounding box to fit 20x20: area averaging when shrinking (thin strokes
     * keep their weight), bilinear when enlarging. */
    int bw = bx1 - bx0 + 1, bh = by1 - by0 + 1, big = bw > bh ? bw : bh;
    int nw = (int)lround((double)bw * DIGIT_BOX / big), nh = (int)lround((double)bh * DIGIT_BOX / big);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    double sx = (double)bw / nw, sy = (double)bh / nh;
    float small[DIGIT_BOX * DIGIT_BOX], top = 0;
    double mass = 0, mx = 0, my = 0;
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++) {
            float v = sx >= 1 && sy >= 1
                          ? box_average(ink, w, bx0 + x * sx, by0 + y * sy, sx, sy, bx1 + 1, by1 + 1)
                          : bilinear(ink, w, bx0 + (x + 0.5) * sx - 0.5, by0 + (y + 0.5) * sy - 0.5, bx0, by0, bx1, by1);
            small[y * nw + x] = v;
            if (v > top) top = v;
        }
    free(ink);
    if (!(top > 0)) return mt_error_set(err, MT_ERR_FORMAT, "no digit found (nothing left after scaling)");
    for (int i = 0; i < nw * nh; i++) {
        small[i] /= top; /* the strongest stroke is full white, as in MNIST */
        mass += small[i];
        mx += small[i] * (i % nw);
        my += small[i] * (i / nw);
    }

    /* Centre of mass to (14, 14), by whole pixels, as MNIST did; kept inside the field. */
    int ox = (int)lround(DIGIT_SIDE / 2.0 - mx / mass), oy = (int)lround(DIGIT_SIDE / 2.0 - my / mass);
    ox = ox < 0 ? 0 : ox > DIGIT_SIDE - nw ? DIGIT_SIDE - nw : ox;
    oy = oy < 0 ? 0 : oy > DIGIT_SIDE - nh ? DIGIT_SIDE - nh : oy;
    memset(out, 0, DIGIT_SIDE * DIGIT_SIDE * sizeof *out);
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++) out[(oy + y) * DIGIT_SIDE + ox + x] = small[y * nw + x];
    return MT_OK;
}
