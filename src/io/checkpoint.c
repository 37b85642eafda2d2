/* Checkpoints: state dict <-> safetensors. */
#include "mytorch/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mt_st_tensor mt_member_st_tensor(const mt_member *e, char *name) {
    mt_st_tensor t = {.name = name};
    if (e->tensor) {
        t.dtype = MT_DTYPE_F32;
        t.ndim = e->tensor->ndim;
        memcpy(t.shape, e->tensor->shape, sizeof t.shape);
        t.numel = e->tensor->numel;
        t.data = e->tensor->data;
    } else {
        t.dtype = MT_DTYPE_I64; /* 0-dim, as PyTorch writes num_batches_tracked */
        t.numel = 1;
        t.data = e->i64;
    }
    return t;
}

mt_status mt_checkpoint_save(const mt_module *m, const char *path, const char *const *meta_keys,
                             const char *const *meta_values, int n_meta, mt_error *err) {
    mt_state_dict sd = mt_module_state_dict(m);
    mt_st_tensor *items = calloc((size_t)(sd.n ? sd.n : 1), sizeof *items);
    if (!items) {
        free(items);
        mt_state_dict_free(&sd);
        return mt_error_set(err, MT_ERR_NOMEM, "%s: out of memory collecting the state dict", path);
    }
    for (int k = 0; k < sd.n; k++) items[k] = mt_member_st_tensor(&sd.items[k], sd.items[k].name);
    mt_status st = mt_safetensors_write(path, items, sd.n, meta_keys, meta_values, n_meta, err);
    free(items);
    mt_state_dict_free(&sd);
    return st;
}

/* Appends ", text" (or "text" first) to buf of size n, keeping it terminated. */
static void append(char *buf, size_t n, const char *text) {
    size_t len = strlen(buf);
    if (len + strlen(text) + 8 < n) snprintf(buf + len, n - len, "%s%s", len ? "; " : "", text);
    else if (len + 6 < n && (len < 5 || strcmp(buf + len - 5, "; ...") != 0)) snprintf(buf + len, n - len, "; ...");
}

static void shape_of(int ndim, const int64_t *shape, char *buf, size_t n) {
    mt_tensor t = {0};
    t.ndim = ndim;
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    mt_shape_str(&t, buf, n);
}

mt_status mt_module_load_state_dict(mt_module *m, const mt_safetensors *st, bool strict,
                                    mt_error *err) {
    mt_state_dict sd = mt_module_state_dict(m);
    char problems[900] = "";
    char line[512];
    int n_problems = 0;
    for (int k = 0; k < sd.n; k++) {
        const mt_member *e = &sd.items[k];
        const mt_st_tensor *t = mt_safetensors_get(st, e->name);
        if (!t) {
            if (strict) {
                snprintf(line, sizeof line, "missing key '%s'", e->name);
                append(problems, sizeof problems, line);
                n_problems++;
            }
            continue;
        }
        char want[96], got[96];
        shape_of(t->ndim, t->shape, got, sizeof got);
        if (e->tensor) {
            if (t->dtype != MT_DTYPE_F32 || !(t->ndim == e->tensor->ndim &&
                                              memcmp(t->shape, e->tensor->shape, (size_t)t->ndim * sizeof(int64_t)) == 0)) {
                mt_shape_str(e->tensor, want, sizeof want);
                snprintf(line, sizeof line, "'%s' is %s%s in the file but %s in the model", e->name,
                         t->dtype == MT_DTYPE_F32 ? "" : "int64 ", got, want);
                append(problems, sizeof problems, line);
                n_problems++;
            }
        } else if (t->dtype != MT_DTYPE_I64 || t->numel != 1) {
            snprintf(line, sizeof line, "'%s' must be one int64 value, the file has %s %s", e->name,
                     t->dtype == MT_DTYPE_I64 ? "int64" : "float32", got);
            append(problems, sizeof problems, line);
            n_problems++;
        }
    }
    if (strict)
        for (int k = 0; k < st->n_tensors; k++) {
            const char *name = st->tensors[k].name;
            bool known = false;
            for (int j = 0; j < sd.n && !known; j++) known = strcmp(sd.items[j].name, name) == 0;
            if (!known) {
                snprintf(line, sizeof line, "unexpected key '%s'", name);
                append(problems, sizeof problems, line);
                n_problems++;
            }
        }
    if (n_problems) {
        mt_state_dict_free(&sd);
        return mt_error_set(err, MT_ERR_FORMAT, "state dict does not match the %s model (%d problem%s): %s",
                            m->type, n_problems, n_problems == 1 ? "" : "s", problems);
    }
    for (int k = 0; k < sd.n; k++) {
        const mt_member *e = &sd.items[k];
        const mt_st_tensor *t = mt_safetensors_get(st, e->name);
        if (!t) continue;
        if (e->tensor) memcpy(e->tensor->data, t->data, (size_t)t->numel * sizeof(float));
        else *e->i64 = *(const int64_t *)t->data;
    }
    mt_state_dict_free(&sd);
    return MT_OK;
}
