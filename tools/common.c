/* What the commands share: evaluation, progress display, errors, the clock. */
#include "cli.h"
#include "mytorch/ops.h"

#include <stdarg.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("mytorch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

bool evaluate(mt_module *m, mt_ctx *ctx, mt_loader *loader, eval_result *out) {
    bool was_training = m->training;
    mt_module_train(m, false);
    bool prev = mt_set_grad_enabled(ctx, false);
    double start = now_seconds(), loss_sum = 0.0;
    int64_t correct = 0, total = 0, b;
    mt_tensor *x;
    int32_t *y;
    mt_loader_start_epoch(loader);
    mt_ctx_reset(ctx);
    while ((b = mt_loader_next(loader, ctx, &x, &y)) > 0) {
        mt_tensor *logits = mt_module_forward(m, ctx, x);
        mt_tensor *loss = mt_cross_entropy(ctx, logits, y);
        if (!loss) break;
        loss_sum += (double)loss->data[0] * (double)b;
        int64_t C = logits->shape[1];
        for (int64_t n = 0; n < b; n++) {
            const float *row = logits->data + n * C;
            int64_t best = 0;
            for (int64_t c = 1; c < C; c++)
                if (row[c] > row[best]) best = c;
            correct += best == y[n];
        }
        total += b;
        mt_ctx_reset(ctx);
    }
    mt_set_grad_enabled(ctx, prev);
    mt_module_train(m, was_training);
    if (mt_ctx_failed(ctx) || b < 0) return false;
    out->loss = total ? loss_sum / (double)total : 0.0;
    out->correct = correct;
    out->total = total;
    out->accuracy = total ? (double)correct / (double)total : 0.0;
    out->seconds = now_seconds() - start;
    return true;
}

void progress_start(progress *p, int epoch, int epochs, int64_t total_batches) {
    p->tty = isatty(STDERR_FILENO);
    p->total = total_batches;
    p->every = total_batches >= 10 ? total_batches / 10 : 1;
    p->start = now_seconds();
    p->last_draw = 0.0;
    p->epoch = epoch;
    p->epochs = epochs;
}

void progress_update(progress *p, int64_t batch, double loss, int64_t images) {
    double now = now_seconds(), elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)images / elapsed : 0.0;
    double eta = batch > 0 ? elapsed * (double)(p->total - batch) / (double)batch : 0.0;
    if (p->tty) {
        if (now - p->last_draw < 0.1 && batch < p->total) return;
        p->last_draw = now;
        char bar[31];
        int filled = p->total ? (int)(30 * batch / p->total) : 30;
        for (int k = 0; k < 30; k++) bar[k] = k < filled ? '=' : (k == filled ? '>' : ' ');
        bar[30] = '\0';
        fprintf(stderr, "\r  epoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %.0fs  ", p->epoch,
                p->epochs, bar, (long long)batch, (long long)p->total, loss, rate, eta);
        fflush(stderr);
    } else if (batch % p->every == 0 || batch == p->total) {
        fprintf(stderr, "  epoch %d/%d batch %lld/%lld  loss %.4f  %.0f img/s  ETA %.0fs\n", p->epoch,
                p->epochs, (long long)batch, (long long)p->total, loss, rate, eta);
    }
}

void progress_end(progress *p) {
    if (p->tty) fputs("\r\033[K", stderr);
}
