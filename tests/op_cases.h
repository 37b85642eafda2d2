/* The op cases shared by the gradient check (test_gradcheck.c) and the PyTorch parity
 * test (test_parity.c): which op, how to call it, input shapes and value ranges. The
 * case name is also the key prefix in tests/fixtures/ops.safetensors. */
#ifndef MYTORCH_TESTS_OP_CASES_H
#define MYTORCH_TESTS_OP_CASES_H

#include "mytorch/ops.h"

typedef struct op_case {
    const char *name;         /* fixture key prefix */
    const char *op;           /* name in mt_op_table */
    int n_in;
    int ndim[5];
    int64_t shape[5][4];
    /* (fields below: value range, flags, and the call) */
    float lo, hi;             /* inputs are drawn uniform in [lo, hi] ... */
    bool away_from_zero;      /* ... with |x| >= 0.1 (kinks of relu) */
    bool no_grad_in1;         /* the second input is a constant (probability targets) */
    /* Calls the op on in[0..n_in); targets (class indices) where the op needs them.
     * Of five inputs, 3 and 4 are running statistics and require no grad. */
    mt_tensor *(*run)(mt_ctx *ctx, mt_tensor **in, const int32_t *targets);
} op_case;

/* Whether a case's input k requires grad: the first three, but not a constant second
 * one; and the fourth of four (batch_norm_relu's residual), where five are two running
 * statistics after three. */
static inline bool op_case_input_grad(const op_case *c, int k) {
    return (k < 3 && !(k == 1 && c->no_grad_in1)) || (k == 3 && c->n_in == 4);
}

extern const op_case op_cases[];
extern const int op_case_count;

#endif
