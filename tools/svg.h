/* SVG charts drawn as text: a line chart of several series and a heatmap with counts in
 * its cells (a confusion matrix). Every chart is a standalone <svg> element that also
 * works inline in HTML (no ids, no scripts, no external files); all text is XML-escaped. */
#ifndef MT_TOOLS_SVG_H
#define MT_TOOLS_SVG_H

#include "io/textbuf.h"

#define SVG_MAX_TICKS 16

/* "Nice" tick values covering [lo, hi]: evenly spaced by 1, 2 or 5 times a power of ten,
 * at most max_ticks (2..SVG_MAX_TICKS) of them, the first <= lo and the last >= hi, as
 * few as the limit allows. integer: steps of at least 1. Writes ticks[] and returns how
 * many; *step gets the spacing. An empty or non-finite range is widened around lo. */
int svg_nice_ticks(double lo, double hi, int max_ticks, bool integer, double *ticks, double *step);
/* Formats a tick value with as many decimals as step needs ("0.5", "98.5", "10"). */
void svg_format_tick(char *buf, size_t n, double v, double step);

/* One line of a line chart: n points (x[k], y[k]); non-finite points are skipped. */
typedef struct {
    const char *label; /* legend text */
    const double *x, *y;
    int n;
} svg_series;

typedef struct {
    const char *title, *x_label, *y_label;
    const svg_series *series;
    int n_series;
    double y_lo, y_hi;  /* y range to show; NaN: fitted to the data (the axis is then
                           widened to nice ticks). Lines leaving the range are clipped. */
    bool x_integer;     /* x ticks on whole numbers (epochs) */
    bool markers;       /* a dot at every point */
} svg_line_chart;

/* Appends a line chart: axes with ticks and labels, a title, one <polyline> per series
 * in a distinct colour, and a legend on the right with one entry per series. */
void svg_draw_line_chart(textbuf *b, const svg_line_chart *c);

typedef struct {
    const char *title, *x_label, *y_label;
    const char *const *row_labels, *const *col_labels;
    const int64_t *counts; /* rows x cols, row-major */
    int rows, cols;
} svg_heatmap;

/* Appends a heatmap: a cell per count, shaded on a log scale, with the count written in
 * it; diagonal cells (agreement) blue, the others red, so the mistakes stand out. */
void svg_draw_heatmap(textbuf *b, const svg_heatmap *h);

#endif
