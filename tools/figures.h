/* Figures mytorch draws itself: SVG charts and PNG image grids for a run or a comparison
 * of runs, and the HTML page that bundles them (mytorch report). */
#ifndef MT_TOOLS_FIGURES_H
#define MT_TOOLS_FIGURES_H

#include "mytorch/core.h"
#include "io/textbuf.h"

/* Writes the figures of one training run into run_dir/figures/: test accuracy and loss
 * per epoch (from run_dir/metrics.jsonl), and, from run_dir/best.safetensors evaluated
 * on the MNIST test set in data_dir, the confusion matrix, a grid of misclassified test
 * digits (true label, predicted label, predicted probability) and, for models with a
 * convolution first, its filters. Returns false with a message in err. */
bool figures_write_run(const char *run_dir, const char *data_dir, mt_error *err);

/* One chart of several runs overlaid, with a legend: `metric` ("test_accuracy",
 * "test_loss" or "train_loss") per epoch from each run_dirs[k]/metrics.jsonl, labelled
 * labels[k]. Written to out_svg atomically. */
bool figures_write_overlay(const char *out_svg, const char *title, const char *metric,
                           const char *const *run_dirs, const char *const *labels, int n, mt_error *err);
/* The same chart appended to out (for pages that inline it). */
bool figures_overlay_svg(textbuf *out, const char *title, const char *metric, const char *const *run_dirs,
                         const char *const *labels, int n, mt_error *err);

/* The name a run is shown by: the last component of run_dir ("runs/lenet/" -> "lenet"). */
const char *figures_run_name(const char *run_dir, char *buf, size_t n);

#endif
