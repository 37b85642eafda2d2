/* Checkpoints: a module's state dict in a safetensors file, with PyTorch's names and
 * layouts, so the file loads into the same model in PyTorch and back. */
#ifndef MYTORCH_CHECKPOINT_H
#define MYTORCH_CHECKPOINT_H

#include "mytorch/io.h"
#include "mytorch/nn.h"

/* The safetensors view of one state-dict member under name (borrowed, as is the data): an
 * F32 tensor, or a 0-dim I64 for an int64 buffer. For writers of state dicts. */
mt_st_tensor mt_member_st_tensor(const mt_member *e, char *name);

/* Writes m's state dict (F32 tensors; int64 buffers as I64) and the metadata pairs to
 * path, atomically (temporary name, then rename). */
mt_status mt_checkpoint_save(const mt_module *m, const char *path, const char *const *meta_keys,
                             const char *const *meta_values, int n_meta, mt_error *err);

/* Copies the tensors of st into m's state dict, as load_state_dict. With strict, every
 * key of m must be in st and every key of st in m; shapes must match either way. On any
 * mismatch nothing is copied and err lists each missing key, unexpected key and shape
 * mismatch. An int64 buffer accepts an I64 tensor of one element, whatever its shape
 * (PyTorch writes (), older converters (1,)). */
mt_status mt_module_load_state_dict(mt_module *m, const mt_safetensors *st, bool strict,
                                    mt_error *err);

#endif
