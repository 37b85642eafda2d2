/* mytorch predict: classifies pictures of digits (PNG or PGM, any size) with a
 * checkpoint, after turning each into an MNIST-style 28x28 input (mt_image_to_mnist). */
#include "args.h"
#include "cli.h"
#include "io/json.h"
#include "mytorch/image.h"
#include "mytorch/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_CLASSES 10

/* Softmax probabilities of image path under cm, in p[10]. false with err set when the
 * image cannot be read or holds no digit, or the forward pass fails. */
static bool classify(const checkpoint_model *cm, mt_ctx *ctx, const char *path, double *p, mt_error *err) {
    mt_image img;
    if (mt_image_read(path, &img, err) != MT_OK) return false;
    float x[28 * 28];
    mt_error conv = {0};
    mt_status s = mt_image_to_mnist(&img, x, &conv);
    mt_image_free(&img);
    if (s != MT_OK) {
        mt_error_set(err, s, "%s: %s", path, conv.msg);
        return false;
    }
    for (int i = 0; i < 28 * 28; i++) x[i] = (x[i] - cm->mean) / cm->std; /* as the loader normalises */
    mt_tensor *logits = mt_module_forward(cm->model, ctx, mt_tensor_from(ctx, 4, (int64_t[]){1, 1, 28, 28}, x));
    if (!logits || logits->numel != N_CLASSES) {
        mt_error_set(err, MT_ERR_STATE, "%s: the model's forward failed: %s", path,
                     logits ? "it does not give 10 logits" : mt_ctx_error(ctx)->msg);
        return false;
    }
    double top = logits->data[0], sum = 0;
    for (int k = 1; k < N_CLASSES; k++) top = fmax(top, logits->data[k]);
    for (int k = 0; k < N_CLASSES; k++) sum += p[k] = exp(logits->data[k] - top);
    for (int k = 0; k < N_CLASSES; k++) p[k] /= sum;
    mt_ctx_reset(ctx);
    return true;
}

static void print_result(const char *path, const double *p, int k_top, bool json) {
    int order[N_CLASSES];
    for (int k = 0; k < N_CLASSES; k++) order[k] = k;
    for (int i = 1; i < N_CLASSES; i++) /* insertion sort, most probable first; ties by class */
        for (int j = i; j > 0 && p[order[j]] > p[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (!json) {
        printf("%s: %d", path, order[0]);
        for (int k = 0; k < k_top; k++) printf("%s%d %.1f%%", k ? "  " : "  (", order[k], 100.0 * p[order[k]]);
        printf(")\n");
        return;
    }
    size_t n = mt_json_quote(NULL, 0, path) + 1;
    char *quoted = malloc(n);
    if (!quoted) return;
    mt_json_quote(quoted, n, path);
    printf("{\"file\":%s,\"prediction\":%d,\"probability\":%.6f,\"top\":[", quoted, order[0], p[order[0]]);
    for (int k = 0; k < k_top; k++)
        printf("%s{\"class\":%d,\"probability\":%.6f}", k ? "," : "", order[k], p[order[k]]);
    printf("],\"probabilities\":[");
    for (int k = 0; k < N_CLASSES; k++) printf("%s%.6f", k ? "," : "", p[k]);
    printf("]}\n");
    free(quoted);
}

int cmd_predict(int argc, char **argv) {
    const char *checkpoint = NULL, *model_name = NULL;
    long k_top = 3, threads = 0;
    bool json = false;
    arg_spec specs[] = {
        {"--checkpoint", ARG_STR, &checkpoint, 0, 0, "FILE", "a .safetensors checkpoint (required)", false},
        {"--model", ARG_STR, &model_name, 0, 0, "NAME", "model (default: the one named in the checkpoint)", false},
        {"--top", ARG_INT, &k_top, 1, N_CLASSES, "K", "print the K most probable classes; default 3", false},
        {"--threads", ARG_INT, &threads, 0, 1024, "N", "threads; default 0 = all cores", false},
        {"--json", ARG_SWITCH, &json, 0, 0, "", "one JSON object per image (file, prediction, probabilities)", false},
    };
    int n_specs = (int)(sizeof specs / sizeof specs[0]);
    /* The images are the arguments that are neither a flag nor a flag's value. */
    char **flags = malloc((size_t)argc * sizeof *flags), **images = malloc((size_t)argc * sizeof *images);
    if (!flags || !images) {
        free(flags);
        free(images);
        cli_error("out of memory");
        return 1;
    }
    int n_flags = 0, n_images = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i < 2 || strncmp(a, "-", 1) != 0 || strcmp(a, "-") == 0) {
            if (i < 2) flags[n_flags++] = argv[i];
            else images[n_images++] = argv[i];
            continue;
        }
        flags[n_flags++] = argv[i];
        const arg_spec *s = strchr(a, '=') ? NULL : args_find(specs, n_specs, a);
        if (s && s->kind != ARG_SWITCH && i + 1 < argc) flags[n_flags++] = argv[++i];
    }
    int status = 2;
    mt_ctx *ctx = NULL;
    checkpoint_model cm = {0};
    args_result ar = args_parse("predict",
                                "Classifies pictures of digits (PNG or PGM, any size): usage: mytorch predict "
                                "--checkpoint FILE [--top K] [--json] IMAGE...",
                                n_flags, flags, 2, specs, n_specs);
    if (ar == ARGS_HELP) status = 0;
    if (ar != ARGS_OK) goto done;
    if (!checkpoint || n_images == 0) {
        fprintf(stderr, "mytorch predict: %s\n", !checkpoint ? "--checkpoint FILE is required" : "no IMAGE given");
        goto done;
    }
    mt_set_num_threads((int)threads);
    mt_error err = {0};
    status = checkpoint_model_load(checkpoint, model_name, &cm, &err);
    if (status != 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    ctx = mt_ctx_new();
    if (!ctx) {
        cli_error("out of memory");
        status = 1;
        goto done;
    }
    mt_module_train(cm.model, false);
    mt_set_grad_enabled(ctx, false);
    for (int i = 0; i < n_images; i++) {
        double p[N_CLASSES];
        mt_error_clear(&err);
        if (classify(&cm, ctx, images[i], p, &err)) {
            print_result(images[i], p, (int)k_top, json);
        } else {
            cli_error("%s", err.msg);
            status = 1;
            mt_ctx_reset(ctx);
        }
    }
done:
    checkpoint_model_free(&cm);
    mt_ctx_free(ctx);
    free(flags);
    free(images);
    return status;
}
