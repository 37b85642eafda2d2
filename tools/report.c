/* mytorch figures and mytorch report: a run's figures as files, and one self-contained
 * HTML page (inline SVG, PNGs as data: URIs, no scripts) per run or comparison of runs. */
#include "args.h"
#include "cli.h"
#include "figures.h"
#include "io/json.h"
#include "mytorch/file.h"
#include "mytorch/io.h"
#include "runlog.h"
#include "io/textbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The figures figures_write_run makes, in the order a page shows them. */
static const char *const figure_files[] = {"accuracy.svg", "loss.svg", "confusion.svg", "misclassified.png",
                                           "filters.png"};
#define N_FIGURES (int)(sizeof figure_files / sizeof figure_files[0])

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Checks every run folder's metrics.jsonl first, so a bad argument fails before anything is written. */
static bool check_runs(const char *const *runs, int n, mt_error *err) {
    for (int k = 0; k < n; k++) {
        runlog log;
        if (!runlog_load(runs[k], &log, err)) return false;
        runlog_free(&log);
    }
    return true;
}

int cmd_figures(int argc, char **argv) {
    const char *data = "data/mnist";
    long threads = 0;
    arg_spec specs[] = {
        {"--data", ARG_STR, &data, 0, 0, "DIR", "folder with the MNIST test files; default data/mnist", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
    };
    const char **runs = calloc((size_t)argc, sizeof *runs);
    int n_runs = 0;
    if (!runs) return 1;
    args_result ar = args_parse_positional(
        "figures", "RUN_DIR...",
        "Writes a training run's figures into RUN_DIR/figures/: accuracy.svg and loss.svg per epoch,\n"
        "and from best.safetensors on the test set confusion.svg, misclassified.png and (for models\n"
        "that start with a convolution) filters.png.",
        argc, argv, 2, specs, 2, runs, &n_runs);
    int status = ar == ARGS_HELP ? 0 : 2;
    if (ar == ARGS_OK && n_runs == 0) fprintf(stderr, "mytorch figures: give a run folder (mytorch figures RUN_DIR)\n");
    if (ar == ARGS_OK && n_runs > 0) {
        mt_set_num_threads((int)threads);
        mt_error err = {0};
        status = check_runs(runs, n_runs, &err) ? 0 : 1;
        for (int k = 0; status == 0 && k < n_runs; k++) {
            if (!figures_write_run(runs[k], data, &err)) {
                status = 1;
                break;
            }
            for (int f = 0; f < N_FIGURES; f++) {
                char path[4400];
                snprintf(path, sizeof path, "%s/figures/%s", runs[k], figure_files[f]);
                if (exists(path)) printf("%s\n", path);
            }
        }
        if (status) cli_error("%s", err.msg);
    }
    free(runs);
    return status;
}

/* ---- the HTML page ----------------------------------------------------------------------- */

static const char style[] =
    "body{font-family:DejaVu Sans,Arial,Helvetica,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;"
    "color:#222}\n"
    "h1{font-size:24px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ccc}h3{font-size:16px}\n"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".tables{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}\n"
    ".figures{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
    ".figures figure{margin:0}figcaption{font-size:13px;color:#555}\n"
    "svg{max-width:100%;height:auto}img.pixels{image-rendering:pixelated;max-width:100%}\n";

/* A table row: key, value (both escaped). */
static void row(textbuf *b, const char *key, const char *value) {
    textbuf_puts(b, "<tr><th>");
    textbuf_xml(b, key);
    textbuf_puts(b, "</th><td>");
    textbuf_xml(b, value);
    textbuf_puts(b, "</td></tr>\n");
}

/* The configuration from the checkpoint's metadata: the model and its variant, the
 * normalisation, and each field of "config". */
static void config_table(textbuf *b, const mt_safetensors *st) {
    static const char *const keys[] = {"model", "activation", "batchnorm", "vit", "normalize_mean", "normalize_std",
                                       "epoch"};
    static const char *const shown[] = {"model", "activation", "BatchNorm", "ViT shape", "normalisation mean",
                                        "normalisation std", "epoch of best.safetensors"};
    const char *model = mt_safetensors_meta(st, "model");
    textbuf_puts(b, "<table>\n");
    for (int k = 0; k < 7; k++) {
        const char *v = mt_safetensors_meta(st, keys[k]);
        /* The variant keys apply to one model each. */
        if (!v || (k == 1 && (!model || strcmp(model, "cnn2") != 0)) || (k == 2 && (!model || strcmp(model, "lenet") != 0)))
            continue;
        row(b, shown[k], k == 2 ? (strcmp(v, "0") == 0 ? "no" : "yes") : v);
    }
    const char *config = mt_safetensors_meta(st, "config");
    mt_json json;
    if (config && mt_json_parse(config, strlen(config), &json, NULL)) {
        for (size_t k = 0; json.kind == MT_JSON_OBJECT && k < json.n_members; k++) {
            const mt_json *v = &json.members[k].value;
            char value[64];
            if (v->kind == MT_JSON_STRING) snprintf(value, sizeof value, "%s", v->string);
            else if (v->kind == MT_JSON_INT) snprintf(value, sizeof value, "%lld", (long long)v->integer);
            else if (v->kind == MT_JSON_NUMBER) snprintf(value, sizeof value, "%g", v->number);
            else if (v->kind == MT_JSON_BOOL) snprintf(value, sizeof value, "%s", v->boolean ? "true" : "false");
            else continue;
            row(b, json.members[k].key, value);
        }
        mt_json_free(&json);
    }
    textbuf_puts(b, "</table>\n");
}

/* Final and best epochs of a run. */
static void metrics_table(textbuf *b, const runlog *log) {
    int bi = runlog_best(log);
    const runlog_epoch *last = &log->epochs[log->n - 1], *best = bi >= 0 ? &log->epochs[bi] : last;
    textbuf_puts(b, "<table>\n<tr><th></th><th>epoch</th><th>test accuracy</th><th>test loss</th><th>training loss</th>"
                    "</tr>\n");
    const runlog_epoch *rows[2] = {last, best};
    const char *names[2] = {"final", "best (by test accuracy)"};
    for (int k = 0; k < 2; k++)
        textbuf_printf(b,
                       "<tr><th>%s</th><td class=\"num\">%d</td><td class=\"num\">%.2f%%</td><td class=\"num\">%.4f</td>"
                       "<td class=\"num\">%.4f</td></tr>\n",
                       names[k], rows[k]->epoch, 100.0 * rows[k]->test_accuracy, rows[k]->test_loss, rows[k]->train_loss);
    textbuf_puts(b, "</table>\n");
}

/* Inlines one figure file: an SVG as markup, a PNG as a data: URI. Absent files are skipped. */
static bool inline_figure(textbuf *b, const char *path, const char *caption, mt_error *err) {
    if (!exists(path)) return true;
    uint8_t *data;
    size_t len;
    if (mt_read_file(path, (size_t)1 << 27, &data, &len, err) != MT_OK) return false;
    textbuf_puts(b, "<figure>");
    if (len > 4 && memcmp(data, "<svg", 4) == 0) {
        textbuf_append(b, (const char *)data, len);
    } else {
        textbuf_puts(b, "<img class=\"pixels\" alt=\"");
        textbuf_xml(b, caption);
        textbuf_puts(b, "\" src=\"data:image/png;base64,");
        textbuf_base64(b, data, len);
        textbuf_puts(b, "\">");
    }
    textbuf_puts(b, "<figcaption>");
    textbuf_xml(b, caption);
    textbuf_puts(b, "</figcaption></figure>\n");
    free(data);
    return true;
}

/* One run's section: its figures (written first), metrics and configuration. */
static bool run_section(textbuf *b, const char *run_dir, const char *data, const char *heading, mt_error *err) {
    static const char *const captions[] = {
        "Test accuracy per epoch.", "Training and test loss per epoch.",
        "Confusion matrix of best.safetensors on the test set (rows: true digit, columns: prediction).",
        "The test digits misclassified with the highest confidence: true label > predicted label, and the "
        "predicted probability.",
        "The first convolution's filters, each scaled from its own minimum (black) to maximum (white)."};
    runlog log = {0};
    mt_safetensors st = {0};
    char path[4400], name[256];
    bool ok = figures_write_run(run_dir, data, err) && runlog_load(run_dir, &log, err);
    snprintf(path, sizeof path, "%s/best.safetensors", run_dir);
    ok = ok && mt_safetensors_read(path, &st, err) == MT_OK;
    if (ok) {
        textbuf_printf(b, "<%s>", heading);
        textbuf_xml(b, figures_run_name(run_dir, name, sizeof name));
        textbuf_printf(b, "</%s>\n<p>Run folder <code>", heading);
        textbuf_xml(b, run_dir);
        textbuf_printf(b, "</code>: %d epochs.</p>\n", log.n);
        textbuf_puts(b, "<div class=\"tables\">\n");
        metrics_table(b, &log);
        config_table(b, &st);
        textbuf_puts(b, "</div>\n");
        textbuf_puts(b, "<div class=\"figures\">\n");
    }
    for (int f = 0; ok && f < N_FIGURES; f++) {
        snprintf(path, sizeof path, "%s/figures/%s", run_dir, figure_files[f]);
        ok = inline_figure(b, path, captions[f], err);
    }
    if (ok) textbuf_puts(b, "</div>\n");
    mt_safetensors_free(&st);
    runlog_free(&log);
    return ok;
}

/* The comparison's summary table and overlaid charts. */
static bool comparison(textbuf *b, const char *const *runs, const char *const *labels, int n, mt_error *err) {
    textbuf_puts(b, "<table>\n<tr><th>run</th><th>epochs</th><th>final test accuracy</th><th>best test accuracy</th>"
                    "<th>best epoch</th><th>final test loss</th></tr>\n");
    for (int k = 0; k < n; k++) {
        runlog log;
        if (!runlog_load(runs[k], &log, err)) return false;
        int bi = runlog_best(&log);
        const runlog_epoch *last = &log.epochs[log.n - 1], *best = bi >= 0 ? &log.epochs[bi] : last;
        textbuf_puts(b, "<tr><th>");
        textbuf_xml(b, labels[k]);
        textbuf_printf(b,
                       "</th><td class=\"num\">%d</td><td class=\"num\">%.2f%%</td><td class=\"num\">%.2f%%</td>"
                       "<td class=\"num\">%d</td><td class=\"num\">%.4f</td></tr>\n",
                       log.n, 100.0 * last->test_accuracy, 100.0 * best->test_accuracy, best->epoch, last->test_loss);
        runlog_free(&log);
    }
    textbuf_puts(b, "</table>\n<div class=\"figures\">\n");
    static const char *const metrics[] = {"test_accuracy", "test_loss", "train_loss"};
    static const char *const titles[] = {"Test accuracy per epoch", "Test loss per epoch", "Training loss per epoch"};
    for (int k = 0; k < 3; k++) {
        textbuf_puts(b, "<figure>");
        if (!figures_overlay_svg(b, titles[k], metrics[k], runs, labels, n, err)) return false;
        textbuf_puts(b, "</figure>\n");
    }
    textbuf_puts(b, "</div>\n");
    return true;
}

int cmd_report(int argc, char **argv) {
    const char *data = "data/mnist", *out = NULL;
    long threads = 0;
    arg_spec specs[] = {
        {"--out", ARG_STR, &out, 0, 0, "FILE",
         "the page to write; default RUN_DIR/report.html, or report.html for several runs", false},
        {"--data", ARG_STR, &data, 0, 0, "DIR", "folder with the MNIST test files; default data/mnist", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
    };
    const char **runs = calloc((size_t)argc, sizeof *runs);
    char **labels = calloc((size_t)argc, sizeof *labels);
    int n = 0;
    if (!runs || !labels) {
        free(runs);
        free(labels);
        return 1;
    }
    args_result ar = args_parse_positional(
        "report", "RUN_DIR...",
        "Writes one self-contained HTML page (no external files) with a run's configuration, final\n"
        "and best metrics and figures (also written to RUN_DIR/figures/); with several runs, a\n"
        "comparison: a table, the runs' curves overlaid, then each run.",
        argc, argv, 2, specs, 3, runs, &n);
    int status = ar == ARGS_HELP ? 0 : 2;
    if (ar == ARGS_OK && n == 0) fprintf(stderr, "mytorch report: give one or more run folders (mytorch report RUN_DIR...)\n");
    if (ar == ARGS_OK && n > 0) {
        mt_set_num_threads((int)threads);
        mt_error err = {0};
        textbuf b = {0};
        char default_out[4200], name[256];
        if (!out) {
            snprintf(default_out, sizeof default_out, "%s/report.html", n == 1 ? runs[0] : ".");
            out = n == 1 ? default_out : "report.html";
        }
        bool ok = check_runs(runs, n, &err);
        for (int k = 0; ok && k < n; k++) ok = (labels[k] = strdup(figures_run_name(runs[k], name, sizeof name))) != NULL;
        textbuf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mytorch %s: ",
                       n == 1 ? "report" : "comparison");
        for (int k = 0; ok && k < n; k++) {
            textbuf_puts(&b, k ? ", " : "");
            textbuf_xml(&b, labels[k]);
        }
        textbuf_printf(&b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>mytorch %s: ", style,
                       n == 1 ? "report" : "comparison");
        for (int k = 0; ok && k < n; k++) {
            textbuf_puts(&b, k ? ", " : "");
            textbuf_xml(&b, labels[k]);
        }
        textbuf_puts(&b, "</h1>\n");
        if (ok && n > 1) ok = comparison(&b, runs, (const char *const *)labels, n, &err);
        for (int k = 0; ok && k < n; k++) ok = run_section(&b, runs[k], data, "h2", &err);
        textbuf_puts(&b, "</body>\n</html>\n");
        ok = ok && textbuf_write(&b, out, &err) == MT_OK;
        if (ok) printf("%s\n", out);
        else cli_error("%s", err.code ? err.msg : "out of memory");
        status = ok ? 0 : 1;
        textbuf_free(&b);
    }
    for (int k = 0; k < n; k++) free(labels[k]);
    free(labels);
    free(runs);
    return status;
}
