/* mytorch reproduce: the report's studies as data (experiments/list.tsv, read by
 * experiments.c, which also judges each existing run), trained by this same binary where
 * no finished run with the same flags exists, and docs/RESULTS.md written from the runs,
 * our numbers beside the report's, with their figures. */
#include "args.h"
#include "cli.h"
#include "experiments.h"
#include "figures.h"
#include "io/json.h"
#include "mytorch/file.h"
#include "mytorch/io.h"
#include "mytorch/models.h"
#include "mytorch/optim.h"
#include "runlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- training -------------------------------------------------------------------------- */

/* Runs `/proc/self/exe train WORDS --out RUNS/NAME --threads T --data D`, its stdout
 * copied to ours and to RUNS/NAME.log (after a first line naming the command), its
 * stderr (the progress bar) to RUNS/NAME.progress.log; then records the command in
 * RUNS/NAME/command.txt. True when it succeeded. */
static bool train_one(const char *runs, const char *name, const rp_words *w, long threads, const char *data) {
    char dir[4200], log_path[4300], progress_path[4300], record_path[4300], threads_s[24];
    path_join(dir, sizeof dir, runs, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", runs, name);
    snprintf(progress_path, sizeof progress_path, "%s/%s.progress.log", runs, name);
    path_join(record_path, sizeof record_path, dir, "command.txt");
    snprintf(threads_s, sizeof threads_s, "%ld", threads);
    char *argv[RP_MAX_TOKENS + 12];
    int argc = 0;
    argv[argc++] = "mytorch";
    argv[argc++] = "train";
    for (int k = 0; k < w->n; k++) argv[argc++] = (char *)w->words[k];
    argv[argc++] = "--out";
    argv[argc++] = dir;
    argv[argc++] = "--threads";
    argv[argc++] = threads_s;
    argv[argc++] = "--data";
    argv[argc++] = (char *)data;
    argv[argc] = NULL;
    char command[8192] = "";
    for (int k = 0; k < argc; k++) {
        size_t used = strlen(command);
        snprintf(command + used, sizeof command - used, "%s%s", k ? " " : "", argv[k]);
    }
    if (remove(record_path) != 0 && errno != ENOENT) {
        cli_error("cannot remove the old %s: %s", record_path, strerror(errno));
        return false;
    }
    FILE *log = fopen(log_path, "w");
    int progress_fd = open(progress_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int pipe_fd[2] = {-1, -1};
    if (!log || progress_fd < 0 || pipe(pipe_fd) != 0) {
        cli_error("cannot write the logs of %s in %s: %s", name, runs, strerror(errno));
        if (log) fclose(log);
        if (progress_fd >= 0) close(progress_fd);
        return false;
    }
    fprintf(log, "== %s: %s\n", name, command);
    printf("== %s: %s\n", name, command);
    fflush(stdout);
    fflush(log);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fd[1], STDOUT_FILENO);
        dup2(progress_fd, STDERR_FILENO);
        close(pipe_fd[0]);
        close(pipe_fd[1]);
        close(progress_fd);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "mytorch: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(pipe_fd[1]);
    close(progress_fd);
    int status = -1;
    if (pid > 0) {
        char buf[4096];
        ssize_t got;
        while ((got = read(pipe_fd[0], buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
            if (got <= 0) continue;
            fwrite(buf, 1, (size_t)got, log);
            fwrite(buf, 1, (size_t)got, stdout);
            fflush(stdout);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
    close(pipe_fd[0]);
    bool log_ok = fclose(log) == 0;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cli_error("training %s failed (%s); see %s and %s", name,
                  pid < 0 ? strerror(errno) : WIFEXITED(status) ? "exit status non-zero" : "killed by a signal",
                  log_path, progress_path);
        return false;
    }
    if (!log_ok) {
        cli_error("cannot finish writing %s", log_path);
        return false;
    }
    size_t used = strlen(command);
    snprintf(command + used, sizeof command - used, "\n");
    mt_error err = {0};
    if (mt_write_file_atomic(record_path, command, strlen(command), &err) != MT_OK) {
        cli_error("%s", err.msg);
        return false;
    }
    return true;
}

/* ---- RESULTS.md ------------------------------------------------------------------------ */

static void format_duration(double s, char *dst, size_t n) {
    if (s < 90) snprintf(dst, n, "%.0f s", s);
    else if (s < 5400) snprintf(dst, n, "%.1f min", s / 60);
    else snprintf(dst, n, "%.1f h", s / 3600);
}

static void cpu_name(char *dst, size_t n) {
    snprintf(dst, n, "an unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(dst, n, "%s", colon);
            break;
        }
    }
    if (f) fclose(f);
}

static void write_row(FILE *f, const rp_experiment *e, const run_info *ri) {
    fprintf(f, "| %s | `%s` | ", e->name, e->flags);
    if (ri->state == RUN_NEW || ri->state == RUN_STALE || ri->log.n == 0) {
        fprintf(f, "%s | | | %s | | |\n", ri->state == RUN_STALE ? "not run with these flags" : "not run", e->report);
        return;
    }
    const runlog_epoch *last = &ri->log.epochs[ri->log.n - 1];
    const runlog_epoch *best = &ri->log.epochs[ri->best_by_loss ? runlog_best_loss(&ri->log) : runlog_best(&ri->log)];
    char total[32];
    format_duration(runlog_total_seconds(&ri->log), total, sizeof total);
    if (ri->state == RUN_DONE) fprintf(f, "%d | ", ri->log.n);
    else fprintf(f, "%d of %ld (%s) | ", ri->log.n, ri->epochs, ri->state == RUN_BUSY ? "running" : "unfinished");
    double med = runlog_median_epoch_seconds(&ri->log);
    fprintf(f, "%.2f%% | %.2f%% (%d) | %s | %.1f | %s |\n", 100 * last->test_accuracy, 100 * best->test_accuracy,
            best->epoch, e->report, isnan(med) ? 0.0 : med, total);
}

typedef struct {
    const char *list_path, *runs, *out, *data;
    char figures[4200]; /* the folder beside the results file that holds the figures */
    bool quick;
} results_options;

/* The regular files of dir, sorted by name (scandir's list, freed by the caller with
 * free_names), or n = -1 when dir cannot be read. */
static int list_files(const char *dir, struct dirent ***names) {
    int n = scandir(dir, names, NULL, alphasort);
    int kept = 0;
    for (int k = 0; k < n; k++) {
        char path[4500];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, (*names)[k]->d_name);
        if ((*names)[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) (*names)[kept++] = (*names)[k];
        else free((*names)[k]);
    }
    return n < 0 ? -1 : kept;
}

static void free_names(struct dirent **names, int n) {
    for (int k = 0; k < n; k++) free(names[k]);
    free(names);
}

static double mtime_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec : -1.0;
}

/* A finished run's figures: drawn into RUN/figures/ by figures_write_run (unless they are
 * newer than its best.safetensors) and copied to FIGURES/NAME/. */
static bool run_figures(const results_options *o, const char *name, mt_error *err) {
    char run_dir[4200], drawn[4300], best[4300], dest[4300];
    path_join(run_dir, sizeof run_dir, o->runs, name);
    path_join(drawn, sizeof drawn, run_dir, "figures");
    path_join(best, sizeof best, run_dir, "best.safetensors");
    path_join(dest, sizeof dest, o->figures, name);
    struct dirent **names = NULL;
    int n = list_files(drawn, &names);
    bool fresh = n > 0 && mtime_of(drawn) >= mtime_of(best);
    for (int k = 0; fresh && k < n; k++) {
        char path[4600];
        path_join(path, sizeof path, drawn, names[k]->d_name);
        fresh = mtime_of(path) >= mtime_of(best);
    }
    if (n >= 0) free_names(names, n);
    if (!fresh) {
        printf("figures %s\n", name);
        fflush(stdout);
        if (!figures_write_run(run_dir, o->data, err)) return false;
    }
    if (!cli_make_dirs(dest)) {
        mt_error_set(err, MT_ERR_IO, "cannot create '%s': %s", dest, strerror(errno));
        return false;
    }
    n = list_files(drawn, &names);
    if (n < 0) {
        mt_error_set(err, MT_ERR_IO, "%s: cannot read the figures: %s", drawn, strerror(errno));
        return false;
    }
    bool ok = true;
    for (int k = 0; ok && k < n; k++) {
        char from[4600], to[4600];
        uint8_t *bytes = NULL;
        size_t len = 0;
        path_join(from, sizeof from, drawn, names[k]->d_name);
        path_join(to, sizeof to, dest, names[k]->d_name);
        ok = mt_read_file(from, 64u << 20, &bytes, &len, err) == MT_OK && mt_write_file_atomic(to, bytes, len, err) == MT_OK;
        free(bytes);
    }
    free_names(names, n);
    return ok;
}

/* The overlay charts whose runs have all finished: FIGURES/ID.svg. */
static bool overlay_figures(const rp_list *l, const run_info *info, const results_options *o, bool *drawn, mt_error *err) {
    for (int v = 0; v < l->n_overlays; v++) {
        const rp_overlay *ov = &l->overlays[v];
        char names[512], dirs[RP_MAX_OVERLAY_RUNS][4200], out[4300];
        const char *dir_ptrs[RP_MAX_OVERLAY_RUNS], *labels[RP_MAX_OVERLAY_RUNS];
        snprintf(names, sizeof names, "%s", ov->runs);
        int n = 0;
        drawn[v] = true;
        for (char *p = strtok(names, ","); p; p = strtok(NULL, ",")) {
            const rp_experiment *e = find_experiment(l, p);
            drawn[v] = drawn[v] && info[e - l->exps].state == RUN_DONE;
            path_join(dirs[n], sizeof dirs[n], o->runs, p);
            dir_ptrs[n] = dirs[n];
            labels[n] = e->name;
            n++;
        }
        if (!drawn[v]) continue;
        if (!cli_make_dirs(o->figures)) {
            mt_error_set(err, MT_ERR_IO, "cannot create '%s': %s", o->figures, strerror(errno));
            return false;
        }
        snprintf(out, sizeof out, "%s/%s.svg", o->figures, ov->id);
        if (!figures_write_overlay(out, ov->title, "test_accuracy", dir_ptrs, labels, n, err)) return false;
    }
    return true;
}

/* Links to the figures of one run, as the results file sees them. */
static void figure_links(FILE *f, const results_options *o, const char *name) {
    char dir[4300];
    path_join(dir, sizeof dir, o->figures, name);
    struct dirent **names = NULL;
    int n = list_files(dir, &names);
    if (n <= 0) {
        if (n == 0) free(names);
        return;
    }
    fprintf(f, "- **%s**:", name);
    for (int k = 0; k < n; k++) {
        const char *file = names[k]->d_name, *dot = strrchr(file, '.');
        fprintf(f, "%s [%.*s](figures/%s/%s)", k ? " ·" : "", (int)(dot ? dot - file : (long)strlen(file)), file, name, file);
    }
    fprintf(f, "\n");
    free_names(names, n);
}

/* Writes the results file whole (or not at all) from the runs' states. */
static bool write_results(const rp_list *l, const run_info *info, const bool *overlay_drawn, const results_options *o) {
    double total = 0;
    int finished = 0;
    for (int k = 0; k < l->n_exps; k++)
        if (info[k].state == RUN_DONE) {
            total += runlog_total_seconds(&info[k].log);
            finished++;
        }
    mt_atomic_file af;
    mt_error err = {0};
    bool ok = mt_atomic_open(&af, o->out, &err) == MT_OK;
    if (ok) {
        FILE *f = af.f;
        char cpu[256], t[32];
        cpu_name(cpu, sizeof cpu);
        format_duration(total, t, sizeof t);
        fprintf(f, "# Results%s\n\n", o->quick ? " (quick smoke test: 1 epoch, " RP_QUICK_STEPS " steps each)" : "");
        fprintf(f,
                "Written by `mytorch reproduce%s` from %s and the runs in %s/, on %s, %ld cores.\n"
                "Each row is one run of `mytorch train` with the flags shown (the rest is the model's\n"
                "recipe, REFERENCE.md). Accuracy is on the 10,000 MNIST test images after the last epoch,\n"
                "and at the best epoch (the one kept in best.safetensors: highest accuracy, or lowest test\n"
                "loss for the ViT). s/epoch is the median training time per epoch, without evaluation;\n"
                "time is the run's whole training and evaluation time.\n\n"
                "**Total training time of the %d finished runs: %s** (summed; they ran one after another).\n",
                o->quick ? " --quick" : "", o->list_path, o->runs, cpu, sysconf(_SC_NPROCESSORS_ONLN), finished, t);
        for (int t_k = 0; t_k < l->n_tables; t_k++) {
            const rp_table *tab = &l->tables[t_k];
            fprintf(f, "\n## %s\n\n%s\n\n", tab->title, tab->note);
            fprintf(f, "| experiment | flags | epochs | final acc. | best acc. (epoch) | report | s/epoch | time |\n");
            fprintf(f, "|---|---|---|---|---|---|---|---|\n");
            for (int k = 0; k < l->n_exps; k++)
                if (in_table(&l->exps[k], tab->id)) write_row(f, &l->exps[k], &info[k]);
            for (int v = 0; v < l->n_overlays; v++)
                if (overlay_drawn[v] && strcmp(l->overlays[v].table, tab->id) == 0)
                    fprintf(f, "\n![%s](figures/%s.svg)\n", l->overlays[v].title, l->overlays[v].id);
        }
        fprintf(f, "\n## Figures of each run\n\nTest accuracy and loss per epoch, and, from best.safetensors on the test set, the\n"
                   "confusion matrix, misclassified digits and the first convolution's filters.\n\n");
        for (int k = 0; k < l->n_exps; k++)
            if (info[k].state == RUN_DONE) figure_links(f, o, l->exps[k].name);
        /* What the numbers mean: kept by hand beside the list. */
        char notes[4200];
        const char *slash = strrchr(o->list_path, '/');
        if (slash) snprintf(notes, sizeof notes, "%.*s/notes.md", (int)(slash - o->list_path), o->list_path);
        else snprintf(notes, sizeof notes, "notes.md");
        uint8_t *text = NULL;
        size_t len = 0;
        mt_error nerr = {0};
        if (!o->quick && mt_read_file(notes, 1u << 20, &text, &len, &nerr) == MT_OK) {
            fprintf(f, "\n");
            fwrite(text, 1, len, f);
            free(text);
        }
        ok = mt_atomic_commit(&af, &err) == MT_OK;
    }
    if (!ok) cli_error("%s", err.msg);
    return ok;
}

/* Examines every run, draws the figures of the finished ones, writes the results file. */
static bool report(const rp_list *l, const rp_words *want, results_options *o) {
    const char *slash = strrchr(o->out, '/');
    if (slash) snprintf(o->figures, sizeof o->figures, "%.*s/figures", (int)(slash - o->out), o->out);
    else snprintf(o->figures, sizeof o->figures, "figures");
    run_info *info = calloc((size_t)l->n_exps, sizeof *info);
    bool drawn[RP_MAX_OVERLAYS] = {0};
    if (!info) {
        cli_error("out of memory");
        return false;
    }
    mt_error err = {0};
    bool ok = true;
    for (int k = 0; k < l->n_exps; k++) examine(o->runs, l->exps[k].name, &want[k], &info[k]);
    for (int k = 0; ok && k < l->n_exps; k++)
        if (info[k].state == RUN_DONE) ok = run_figures(o, l->exps[k].name, &err);
    if (ok) ok = overlay_figures(l, info, o, drawn, &err);
    if (!ok) cli_error("figures: %s", err.msg);
    if (ok) ok = write_results(l, info, drawn, o);
    for (int k = 0; k < l->n_exps; k++) runlog_free(&info[k].log);
    free(info);
    return ok;
}

/* ---- the command ----------------------------------------------------------------------- */

int cmd_reproduce(int argc, char **argv) {
    const char *list_path = "experiments/list.tsv", *runs = NULL, *out = NULL, *data = "data/mnist";
    long threads = 0;
    bool quick = false, dry_run = false;
    arg_spec specs[] = {
        {"--quick", ARG_SWITCH, &quick, 0, 0, "", "1 epoch of " RP_QUICK_STEPS " steps each, into runs/quick/ (a smoke test)", false},
        {"--dry-run", ARG_SWITCH, &dry_run, 0, 0, "", "list what would be trained and what reused; change nothing", false},
        {"--runs", ARG_STR, &runs, 0, 0, "DIR", "the runs folder; default runs/experiments (--quick: runs/quick)", false},
        {"--out", ARG_STR, &out, 0, 0, "FILE", "the results file; default docs/RESULTS.md (--quick: RUNS/RESULTS.md)", false},
        {"--list", ARG_STR, &list_path, 0, 0, "FILE", "the experiments; default experiments/list.tsv", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads for each training run; default 0 = all cores", false},
        {"--data", ARG_STR, &data, 0, 0, "DIR", "folder with the four MNIST files; default data/mnist", false},
    };
    int n = (int)(sizeof specs / sizeof specs[0]);
    const char **names = calloc((size_t)argc, sizeof *names); /* room for every argument */
    if (!names) {
        cli_error("out of memory");
        return 1;
    }
    int n_names = 0;
    args_result ar = args_parse_positional(
        "reproduce", "[NAME|TABLE ...]",
        "Trains the experiments of the list (the named experiments and tables; all when none) that\n"
        "have no finished run with the same flags, draws the figures of every finished run, then\n"
        "writes the results file, which always covers the whole list.",
        argc, argv, 2, specs, n, names, &n_names);
    static rp_list list;
    bool selected[RP_MAX_EXPERIMENTS] = {0};
    int status = ar == ARGS_HELP ? 0 : ar == ARGS_ERROR ? 2 : read_list(list_path, &list) ? -1 : 1;
    for (int k = 0; status < 0 && k < n_names; k++) {
        const rp_experiment *e = find_experiment(&list, names[k]);
        bool table = find_table(&list, names[k]) != NULL;
        if (!e && !table) {
            fprintf(stderr, "mytorch reproduce: no experiment or table '%s' in %s\n", names[k], list_path);
            status = 2;
        }
        for (int j = 0; j < list.n_exps; j++)
            if (&list.exps[j] == e || (table && in_table(&list.exps[j], names[k]))) selected[j] = true;
    }
    free(names);
    if (status >= 0) return status;
    if (!runs) runs = quick ? "runs/quick" : "runs/experiments";
    char default_out[4200];
    if (!out) {
        if (quick) snprintf(default_out, sizeof default_out, "%s/RESULTS.md", runs);
        out = quick ? default_out : "docs/RESULTS.md";
    }
    static rp_words want[RP_MAX_EXPERIMENTS];
    for (int k = 0; k < list.n_exps; k++) {
        char flags[600];
        snprintf(flags, sizeof flags, "%s%s", list.exps[k].flags, quick ? " --epochs 1 --max-steps " RP_QUICK_STEPS : "");
        if (!split_words(flags, &want[k])) {
            cli_error("%s:%d: too many flags", list_path, list.exps[k].line);
            return 1;
        }
        if (n_names == 0) selected[k] = true;
    }

    int trained = 0, reused = 0, skipped = 0;
    double start = now_seconds();
    for (int k = 0; k < list.n_exps; k++) {
        if (!selected[k]) continue;
        const rp_experiment *e = &list.exps[k];
        run_info ri;
        examine(runs, e->name, &want[k], &ri);
        runlog_free(&ri.log);
        const char *what = ri.state == RUN_DONE ? "reuse" : ri.state == RUN_BUSY ? "skip" : "train";
        if (dry_run || ri.state == RUN_DONE || ri.state == RUN_BUSY) {
            printf("%-5s %-20s %s\n", what, e->name, ri.why);
            if (ri.state == RUN_DONE) reused++;
            else if (ri.state == RUN_BUSY) skipped++;
            else trained++;
            continue;
        }
        printf("train %-20s %s\n", e->name, ri.why);
        fflush(stdout);
        if (!cli_make_dirs(runs)) {
            cli_error("cannot create the runs folder '%s': %s", runs, strerror(errno));
            return 1;
        }
        if (!train_one(runs, e->name, &want[k], threads, data)) return 1;
        trained++;
    }
    if (dry_run) {
        printf("would train %d, reuse %d, skip %d (in progress elsewhere); would write %s\n", trained, reused, skipped, out);
        return 0;
    }
    results_options ro = {.list_path = list_path, .runs = runs, .out = out, .data = data, .quick = quick};
    if (!report(&list, want, &ro)) return 1;
    char t[32];
    format_duration(now_seconds() - start, t, sizeof t);
    printf("trained %d, reused %d, skipped %d (in progress elsewhere) in %s; wrote %s\n", trained, reused, skipped, t, out);
    return 0;
}
