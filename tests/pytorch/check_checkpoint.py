#!/usr/bin/python3
"""Check a mytorch checkpoint against the PyTorch reference model (developer tool).

    /usr/bin/python3 tests/pytorch/check_checkpoint.py CHECKPOINT LOGITS [--model NAME] [--tol 1e-5]

CHECKPOINT: a mytorch checkpoint (safetensors). It is loaded into
reference_models.MODELS[NAME] with load_state_dict(strict=True). NAME is the file's
metadata "model" unless --model is given.
LOGITS: a file written by `mytorch eval --dump-logits FILE`. It holds `images`
(N,1,28,28) F32, already normalised, and `logits` (N,10).
The model runs in eval mode on `images`; the script prints the max abs difference from
`logits`. It exits 0 if that is <= tol, and 1 otherwise (also on a load failure).
Needs Debian's python3-torch; set MYTORCH_REFERENCE=DIR if reference_models.py is
not in ../shared/pytorch relative to the repository root.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.environ.get("MYTORCH_REFERENCE",
                         os.path.join(HERE, "..", "..", "..", "shared", "pytorch"))
sys.path.insert(0, os.path.abspath(REF_DIR))
import reference_models  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """Like reference_models.read_safetensors, with more dtypes (BF16 included) and
    clear errors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        if b > len(blob):
            raise ValueError(f"{path}: tensor {k} runs past the end of the file")
        dt = v["dtype"]
        if dt == "BF16":
            u = np.frombuffer(blob[a:b], dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in DTYPES:
            arr = np.frombuffer(blob[a:b], dtype=np.dtype(DTYPES[dt]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {k} has unsupported dtype {dt}")
        out[k] = torch.from_numpy(arr.reshape(v["shape"]).copy())
    return out, meta


def build_model(name, meta):
    key = name.lower().replace("-", "_")
    if key in ("cnn2_relu", "cnn2relu"):
        return reference_models.CNN2(leaky=False)
    if key == "cnn2":
        act = str(meta.get("activation", meta.get("act", "leaky_relu"))).lower()
        return reference_models.CNN2(leaky=(act != "relu"))
    if key not in reference_models.MODELS:
        raise SystemExit(f"unknown model {name!r}; known: {', '.join(reference_models.MODELS)}")
    model = reference_models.MODELS[key]()
    if key == "lenet" and str(meta.get("batchnorm", "1")) == "0":
        # The report's ablation without BatchNorm: norm1 and norm2 become identities.
        model.norm1, model.norm2 = torch.nn.Identity(), torch.nn.Identity()
    if key == "vit" and "vit" in meta:
        # A ViT of another shape: "depth=6 width=64 heads=8 mlp=128 patch=7 dropout=0.2".
        c = dict(kv.split("=") for kv in str(meta["vit"]).split())
        if (int(c["depth"]), int(c["width"]), int(c["heads"]), int(c["mlp"]), int(c["patch"])) != (6, 64, 8, 128, 7):
            raise SystemExit(f"check_checkpoint.py: the reference ViT has the report's shape only, not {meta['vit']}")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("logits")
    ap.add_argument("--model", help="reference model name (default: checkpoint metadata 'model')")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    state, meta = read_safetensors(args.checkpoint)
    name = args.model or meta.get("model")
    if not name:
        print(f"{args.checkpoint}: no 'model' in metadata; pass --model "
              f"({', '.join(reference_models.MODELS)})")
        return 1
    model = build_model(name, meta)

    ref = model.state_dict()
    missing = [k for k in ref if k not in state]
    unexpected = [k for k in state if k not in ref]
    # Like PyTorch's own loader, accept a 1-element tensor for a 0-dim entry. An
    # example is num_batches_tracked stored with shape (1,), as in lenet-reference.
    for k in ref:
        if k in state and ref[k].dim() == 0 and tuple(state[k].shape) == (1,):
            state[k] = state[k].reshape(())
    bad_shape = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(ref[k].shape)}"
                 for k in ref if k in state and tuple(state[k].shape) != tuple(ref[k].shape)]
    if missing or unexpected or bad_shape:
        print(f"FAIL: {args.checkpoint} does not match {name} (strict load)")
        for k in missing:
            print(f"  missing:    {k} {tuple(ref[k].shape)}")
        for k in unexpected:
            print(f"  unexpected: {k} {tuple(state[k].shape)}")
        for s in bad_shape:
            print(f"  shape:      {s}")
        return 1
    # Cast each tensor to the model's dtype, e.g. num_batches_tracked as int64, even
    # if the checkpoint stores it as F32 or I32.
    state = {k: v.to(ref[k].dtype) for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"FAIL: load_state_dict: {e}")
        return 1

    dump, _ = read_safetensors(args.logits)
    if "images" not in dump or "logits" not in dump:
        print(f"FAIL: {args.logits} lacks 'images' and/or 'logits' (has {', '.join(dump)})")
        return 1
    x, want = dump["images"].float(), dump["logits"].float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], args.batch):
            outs.append(model(x[i:i + args.batch]))
    got = torch.cat(outs) if outs else torch.zeros(0, 10)
    if got.shape != want.shape:
        print(f"FAIL: logits shape {tuple(want.shape)} but the model gives {tuple(got.shape)}")
        return 1
    diff = (got - want).abs().max().item() if got.numel() else 0.0
    agree = (got.argmax(1) == want.argmax(1)).float().mean().item() if got.numel() else 1.0
    ok = diff <= args.tol
    scale = want.abs().max().item() if want.numel() else 0.0
    print(f"model={name} n={x.shape[0]} max_abs_diff={diff:.3g} (max |logit| {scale:.3g}) tol={args.tol:g} "
          f"argmax_agree={agree * 100:.2f}% {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
