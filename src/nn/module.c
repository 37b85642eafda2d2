/* The module tree: registration, traversal, train/eval, state dicts. */
#include "core/autograd.h"
#include "mytorch/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mt_module *mt_module_new(const char *type, mt_forward_fn forward, size_t impl_size) {
    mt_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (impl_size) {
        m->impl = calloc(1, impl_size); /* owned by m */
        if (!m->impl) {
            free(m);
            return NULL;
        }
    }
    m->type = type;
    m->forward = forward;
    m->training = true;
    return m;
}

static void members_free(mt_member *items, int n) {
    for (int k = 0; k < n; k++) {
        free(items[k].name);
        mt_tensor_free(items[k].tensor);
        free(items[k].i64);
    }
    free(items);
}

void mt_module_free(mt_module *m) {
    if (!m) return;
    members_free(m->params, m->n_params);
    members_free(m->buffers, m->n_buffers);
    for (int k = 0; k < m->n_children; k++) {
        free(m->children[k].name);
        mt_module_free(m->children[k].module);
    }
    free(m->children);
    free(m->impl);
    free(m);
}

static bool add_member(mt_member **items, int *n, const char *name, mt_tensor *t, int64_t *i64) {
    mt_member *grown = realloc(*items, (size_t)(*n + 1) * sizeof **items);
    char *copy = strdup(name);
    if (grown) *items = grown;
    if (!grown || !copy) {
        free(copy);
        mt_tensor_free(t);
        free(i64);
        return false;
    }
    grown[*n] = (mt_member){copy, t, i64};
    (*n)++;
    return true;
}

bool mt_module_add_param(mt_module *m, const char *name, mt_tensor *t) {
    if (!t) return false;
    t->requires_grad = true;
    return add_member(&m->params, &m->n_params, name, t, NULL);
}

bool mt_module_add_buffer(mt_module *m, const char *name, mt_tensor *t) {
    if (!t) return false;
    return add_member(&m->buffers, &m->n_buffers, name, t, NULL);
}

bool mt_module_add_buffer_i64(mt_module *m, const char *name, int64_t *value) {
    if (!value) return false;
    return add_member(&m->buffers, &m->n_buffers, name, NULL, value);
}

bool mt_module_add_child(mt_module *m, const char *name, mt_module *child) {
    if (!child) return false;
    mt_child *grown = realloc(m->children, (size_t)(m->n_children + 1) * sizeof *grown);
    char *copy = strdup(name);
    if (grown) m->children = grown;
    if (!grown || !copy) {
        free(copy);
        mt_module_free(child);
        return false;
    }
    grown[m->n_children++] = (mt_child){copy, child};
    return true;
}

mt_module *mt_module_child(const mt_module *m, const char *name) {
    for (int k = 0; k < m->n_children; k++)
        if (strcmp(m->children[k].name, name) == 0) return m->children[k].module;
    return NULL;
}

static const mt_member *find_member(const mt_member *items, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (strcmp(items[k].name, name) == 0) return &items[k];
    return NULL;
}

mt_tensor *mt_module_param(const mt_module *m, const char *name) {
    const mt_member *e = find_member(m->params, m->n_params, name);
    return e ? e->tensor : NULL;
}

mt_tensor *mt_module_buffer(const mt_module *m, const char *name) {
    const mt_member *e = find_member(m->buffers, m->n_buffers, name);
    return e ? e->tensor : NULL;
}

int64_t *mt_module_buffer_i64(const mt_module *m, const char *name) {
    const mt_member *e = find_member(m->buffers, m->n_buffers, name);
    return e ? e->i64 : NULL;
}

/* Without grad nothing a module made but its output is needed after it returns: the
 * output moves down over its intermediates, so inference holds about two activations
 * at a time instead of the whole forward's. Below this many bytes of intermediates
 * the copy is not worth it. */
#define MT_KEEP_MIN_BYTES ((size_t)1 << 20)

mt_tensor *mt_module_forward(mt_module *m, mt_ctx *ctx, mt_tensor *x) {
    if (!x || mt_ctx_failed(ctx)) return NULL;
    if (mt_is_grad_enabled(ctx)) return m->forward(m, ctx, x);
    mt_arena_mark mark = mt_ctx_mark(ctx);
    return mt_ctx_keep(ctx, mark, m->forward(m, ctx, x), MT_KEEP_MIN_BYTES);
}

mt_tensor *mt_module_forward_child(mt_module *m, const char *name, mt_ctx *ctx, mt_tensor *x) {
    mt_module *c = mt_module_child(m, name);
    if (!c) {
        mt_error_set(mt_ctx_error(ctx), MT_ERR_STATE, "%s has no child '%s'", m->type, name);
        return NULL;
    }
    return mt_module_forward(c, ctx, x);
}

void mt_module_train(mt_module *m, bool training) {
    m->training = training;
    for (int k = 0; k < m->n_children; k++) mt_module_train(m->children[k].module, training);
}

void mt_module_zero_grad(mt_module *m) {
    for (int k = 0; k < m->n_params; k++) mt_tensor_zero_grad(m->params[k].tensor);
    for (int k = 0; k < m->n_children; k++) mt_module_zero_grad(m->children[k].module);
}

int64_t mt_module_num_params(const mt_module *m) {
    int64_t n = 0;
    for (int k = 0; k < m->n_params; k++) n += m->params[k].tensor->numel;
    for (int k = 0; k < m->n_children; k++) n += mt_module_num_params(m->children[k].module);
    return n;
}

/* Appends prefix.name for each member; returns false on no memory. */
static bool collect(const mt_module *m, const char *prefix, bool buffers, mt_state_dict *sd) {
    const mt_member *lists[2] = {m->params, m->buffers};
    int counts[2] = {m->n_params, buffers ? m->n_buffers : 0};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < counts[l]; k++) {
            const mt_member *src = &lists[l][k];
            size_t len = strlen(prefix) + strlen(src->name) + 2;
            char *name = malloc(len);
            mt_member *grown = realloc(sd->items, (size_t)(sd->n + 1) * sizeof *grown);
            if (grown) sd->items = grown;
            if (!name || !grown) {
                free(name);
                return false;
            }
            snprintf(name, len, "%s%s%s", prefix, *prefix ? "." : "", src->name);
            sd->items[sd->n++] = (mt_member){name, src->tensor, src->i64};
        }
    for (int k = 0; k < m->n_children; k++) {
        const mt_child *c = &m->children[k];
        size_t len = strlen(prefix) + strlen(c->name) + 2;
        char *sub = malloc(len);
        if (!sub) return false;
        snprintf(sub, len, "%s%s%s", prefix, *prefix ? "." : "", c->name);
        bool ok = collect(c->module, sub, buffers, sd);
        free(sub);
        if (!ok) return false;
    }
    return true;
}

static mt_state_dict gather(const mt_module *m, bool buffers) {
    mt_state_dict sd = {0};
    if (!collect(m, "", buffers, &sd)) mt_state_dict_free(&sd);
    return sd;
}

mt_state_dict mt_module_named_parameters(const mt_module *m) { return gather(m, false); }
mt_state_dict mt_module_state_dict(const mt_module *m) { return gather(m, true); }

void mt_state_dict_free(mt_state_dict *sd) {
    for (int k = 0; k < sd->n; k++) free(sd->items[k].name);
    free(sd->items);
    sd->items = NULL;
    sd->n = 0;
}
