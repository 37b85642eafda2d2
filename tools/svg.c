/* SVG line charts and heatmaps, as text appended to a textbuf. */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Distinct colours (Tableau 10), used in order for the series. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

int svg_nice_ticks(double lo, double hi, int max_ticks, bool integer, double *ticks, double *step) {
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > SVG_MAX_TICKS) max_ticks = SVG_MAX_TICKS;
    if (!isfinite(lo)) lo = 0.0;
    if (!isfinite(hi) || hi < lo) hi = lo;
    if (hi - lo <= 1e-12 * fmax(1.0, fabs(lo))) { /* one value: a range around it */
        double pad = integer ? 1.0 : fmax(fabs(lo) * 0.05, 1e-3);
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / (max_ticks - 1), mag = pow(10.0, floor(log10(raw))), s = mag;
    static const double mult[] = {1, 2, 5, 10, 20};
    for (int k = 0; k < 5; k++) {
        s = mult[k] * mag;
        if (integer && s < 1.0) continue;
        double first = floor(lo / s + 1e-9), last = ceil(hi / s - 1e-9);
        if (last - first + 1 <= max_ticks) break;
    }
    double first = floor(lo / s + 1e-9), last = ceil(hi / s - 1e-9);
    int n = (int)(last - first + 1.5);
    if (n > max_ticks) n = max_ticks;
    for (int k = 0; k < n; k++) {
        double v = (first + k) * s;
        ticks[k] = fabs(v) < s * 1e-9 ? 0.0 : v;
    }
    *step = s;
    return n;
}

void svg_format_tick(char *buf, size_t n, double v, double step) {
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, n, "%.*f", decimals, v);
}

/* A <text> element with escaped content; attrs is extra attribute text (may be ""). */
static void text(textbuf *b, double x, double y, const char *anchor, int size, const char *attrs, const char *s) {
    textbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"%s%s>", x, y, anchor, size,
                   *attrs ? " " : "", attrs);
    textbuf_xml(b, s);
    textbuf_puts(b, "</text>\n");
}

/* The opening <svg> with a white background and the title centred at the top. */
static void open_svg(textbuf *b, int w, int h, const char *title) {
    textbuf_printf(b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                   "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\">\n"
                   "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
                   w, h, w, h, w, h);
    text(b, w / 2.0, 26, "middle", 16, "font-weight=\"bold\"", title ? title : "");
}

void svg_draw_line_chart(textbuf *b, const svg_line_chart *c) {
    /* Data ranges over every finite point. */
    double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
    size_t longest = 0;
    for (int s = 0; s < c->n_series; s++) {
        const svg_series *sr = &c->series[s];
        size_t len = strlen(sr->label ? sr->label : "");
        if (len > longest) longest = len;
        for (int k = 0; k < sr->n; k++) {
            if (!isfinite(sr->x[k]) || !isfinite(sr->y[k])) continue;
            x_min = fmin(x_min, sr->x[k]);
            x_max = fmax(x_max, sr->x[k]);
            y_min = fmin(y_min, sr->y[k]);
            y_max = fmax(y_max, sr->y[k]);
        }
    }
    if (!isfinite(x_min)) x_min = x_max = 0.0, y_min = y_max = 0.0;
    double y_pad = 0.03 * (y_max - y_min); /* fitted ends leave room for the markers */
    y_min -= y_pad;
    y_max += y_pad;
    if (isfinite(c->y_lo)) y_min = c->y_lo;
    if (isfinite(c->y_hi)) y_max = c->y_hi;

    double xt[SVG_MAX_TICKS], yt[SVG_MAX_TICKS], x_step, y_step;
    int nx = svg_nice_ticks(x_min, x_max, 11, c->x_integer, xt, &x_step);
    int ny = svg_nice_ticks(y_min, y_max, 8, false, yt, &y_step);
    /* x spans the data exactly (unless it is one point); y spans its ticks when fitted. */
    if (x_max <= x_min) x_min = xt[0], x_max = xt[nx - 1];
    double x_pad = 0.02 * (x_max - x_min); /* room for the end markers */
    x_min -= x_pad;
    x_max += x_pad;
    if (!isfinite(c->y_lo)) y_min = yt[0];
    if (!isfinite(c->y_hi)) y_max = yt[ny - 1];
    if (y_max <= y_min) y_max = y_min + y_step;

    const int W = 760, H = 440;
    if (longest > 40) longest = 40;
    double legend_w = 44 + 7.2 * (double)longest;
    double L = 78, T = 44, R = W - legend_w - 12, B = H - 58, PW = R - L, PH = B - T;
#define PX(v) (L + ((v) - x_min) / (x_max - x_min) * PW)
#define PY(v) (B - ((v) - y_min) / (y_max - y_min) * PH)
    open_svg(b, W, H, c->title);
    char label[64];
    /* Grid and y ticks. */
    for (int k = 0; k < ny; k++) {
        if (yt[k] < y_min - 1e-9 * y_step || yt[k] > y_max + 1e-9 * y_step) continue;
        double y = PY(yt[k]);
        textbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", L, y, R, y);
        textbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", L - 5, y, L, y);
        svg_format_tick(label, sizeof label, yt[k], y_step);
        text(b, L - 8, y + 4, "end", 12, "class=\"tick\"", label);
    }
    for (int k = 0; k < nx; k++) {
        if (xt[k] < x_min - 1e-9 * x_step || xt[k] > x_max + 1e-9 * x_step) continue;
        double x = PX(xt[k]);
        textbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, B, x, B + 5);
        svg_format_tick(label, sizeof label, xt[k], x_step);
        text(b, x, B + 19, "middle", 12, "class=\"tick\"", label);
    }
    textbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", L,
                   T, PW, PH);
    text(b, L + PW / 2, H - 16, "middle", 13, "", c->x_label ? c->x_label : "");
    char rot[64];
    snprintf(rot, sizeof rot, "transform=\"rotate(-90 18 %.1f)\"", T + PH / 2);
    text(b, 18, T + PH / 2, "middle", 13, rot, c->y_label ? c->y_label : "");

    /* The series, in a nested <svg> so that what leaves the plot area is clipped. */
    textbuf_printf(b, "<svg x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" viewBox=\"%.1f %.1f %.1f %.1f\">\n", L,
                   T, PW, PH, L, T, PW, PH);
    for (int s = 0; s < c->n_series; s++) {
        const svg_series *sr = &c->series[s];
        const char *colour = palette[s % 10];
        textbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"",
                       colour);
        for (int k = 0, first = 1; k < sr->n; k++)
            if (isfinite(sr->x[k]) && isfinite(sr->y[k])) {
                textbuf_printf(b, "%s%.1f,%.1f", first ? "" : " ", PX(sr->x[k]), PY(sr->y[k]));
                first = 0;
            }
        textbuf_puts(b, "\"/>\n");
        for (int k = 0; c->markers && k < sr->n; k++)
            if (isfinite(sr->x[k]) && isfinite(sr->y[k]))
                textbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(sr->x[k]),
                               PY(sr->y[k]), colour);
    }
    textbuf_puts(b, "</svg>\n");
#undef PX
#undef PY

    /* The legend, right of the plot. */
    for (int s = 0; s < c->n_series; s++) {
        double y = T + 14 + 22 * s;
        textbuf_printf(b, "<g class=\"legend\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-width=\"3\"/>\n",
                       R + 12, y - 4, R + 32, y - 4, palette[s % 10]);
        char trimmed[44];
        snprintf(trimmed, sizeof trimmed, "%s", c->series[s].label ? c->series[s].label : "");
        text(b, R + 38, y, "start", 12, "", trimmed);
        textbuf_puts(b, "</g>\n");
    }
    textbuf_puts(b, "</svg>\n");
}

void svg_draw_heatmap(textbuf *b, const svg_heatmap *h) {
    const double cell = 44, L = 84, T = 50;
    int W = (int)(L + cell * h->cols + 24), H = (int)(T + cell * h->rows + 60);
    int64_t max_diag = 1, max_off = 1;
    for (int r = 0; r < h->rows; r++)
        for (int c = 0; c < h->cols; c++) {
            int64_t v = h->counts[r * h->cols + c];
            if (r == c && v > max_diag) max_diag = v;
            if (r != c && v > max_off) max_off = v;
        }
    open_svg(b, W, H, h->title);
    for (int r = 0; r < h->rows; r++) {
        for (int c = 0; c < h->cols; c++) {
            int64_t v = h->counts[r * h->cols + c];
            /* Shade by log(1 + count), relative to the largest of its kind. */
            double t = log1p((double)v) / log1p((double)(r == c ? max_diag : max_off));
            int red = r == c ? 31 : 214, green = r == c ? 119 : 39, blue = r == c ? 180 : 40; /* blue / red */
            int cr = (int)(255 - t * (255 - red)), cg = (int)(255 - t * (255 - green)), cb = (int)(255 - t * (255 - blue));
            double x = L + c * cell, y = T + r * cell;
            textbuf_printf(b,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#%02x%02x%02x\" "
                           "stroke=\"#ddd\"/>\n",
                           x, y, cell, cell, cr, cg, cb);
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)v);
            text(b, x + cell / 2, y + cell / 2 + 4, "middle", v >= 1000 ? 11 : 12,
                 t > 0.55 ? "class=\"count\" fill=\"white\"" : v == 0 ? "class=\"count\" fill=\"#bbb\""
                                                    : "class=\"count\" fill=\"#222\"",
                 num);
        }
        text(b, L - 8, T + r * cell + cell / 2 + 4, "end", 12, "class=\"tick\"", h->row_labels[r]);
    }
    for (int c = 0; c < h->cols; c++)
        text(b, L + c * cell + cell / 2, T + h->rows * cell + 18, "middle", 12, "class=\"tick\"", h->col_labels[c]);
    text(b, L + cell * h->cols / 2, H - 14, "middle", 13, "", h->x_label ? h->x_label : "");
    char rot[64];
    snprintf(rot, sizeof rot, "transform=\"rotate(-90 22 %.1f)\"", T + cell * h->rows / 2);
    text(b, 22, T + cell * h->rows / 2, "middle", 13, rot, h->y_label ? h->y_label : "");
    textbuf_puts(b, "</svg>\n");
}
