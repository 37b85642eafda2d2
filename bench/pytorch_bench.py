#!/usr/bin/python3
"""PyTorch baseline for mytorch's benchmarks (developer tool; needs Debian python3-torch).

    /usr/bin/python3 bench/pytorch_bench.py --model fcn --data DIR --threads 2 \
        --batch 100 --epochs 1 [--lr 0.1 --momentum 0.9 --weight-decay 5e-4]

Loads MNIST from the IDX files in DIR (plain or .gz). Normalisation is
(x/255-0.1307)/0.3081, except resnet8, which uses x/255 as in the report. Builds the
reference model, trains on shuffled batches, times test-set inference, and prints ONE
JSON line. Timings leave out loading and normalising the data: the whole train set is
one preloaded tensor before the clock starts.

--model is one of reference_models.MODELS: fcn, cnn1, cnn2, lenet, resnet8, vit.
Defaults follow the report:
- fcn, lenet: batch 100, SGD lr 0.1, momentum 0.9, wd 5e-4
- cnn1: batch 32, SGD lr 0.01, momentum 0.5, wd 1e-3
- cnn2, resnet8: batch 32, SGD lr 0.01, momentum 0.5, wd 1e-4
- vit: batch 64, Adam lr 1e-3
--lr, --momentum and --weight-decay override these.
--fake N uses N random batches instead of MNIST (a smoke test; the accuracy means nothing).
"""
import argparse
import gzip
import json
import os
import resource
import sys
import time

DEFAULTS = {  # batch, optimizer, lr, momentum, weight_decay
    "fcn": (100, "sgd", 0.1, 0.9, 5e-4),
    "lenet": (100, "sgd", 0.1, 0.9, 5e-4),
    "cnn1": (32, "sgd", 0.01, 0.5, 1e-3),
    "cnn2": (32, "sgd", 0.01, 0.5, 1e-4),
    "resnet8": (32, "sgd", 0.01, 0.5, 1e-4),
    "vit": (64, "adam", 1e-3, 0.0, 0.0),
}


def parse():
    ap = argparse.ArgumentParser(description="PyTorch MNIST benchmark baseline")
    ap.add_argument("--model", default="fcn", choices=sorted(DEFAULTS))
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--momentum", type=float)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--infer-batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fake", type=int, default=0, metavar="N",
                    help="use N random training batches and 1000 random test images instead of MNIST")
    return ap.parse_args()


args = parse()
# Set the thread counts for OpenMP and the BLAS before torch loads them. Debian's torch
# uses OpenBLAS (the openmp variant).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.environ.get("MYTORCH_REFERENCE",
                         os.path.join(HERE, "..", "..", "shared", "pytorch"))
sys.path.insert(0, os.path.abspath(REF_DIR))
import reference_models  # noqa: E402


def read_idx(folder, name):
    p = os.path.join(folder, name)
    if os.path.exists(p):
        with open(p, "rb") as f:
            return f.read()
    with gzip.open(p + ".gz", "rb") as f:
        return f.read()


def load_split(folder, prefix):
    img = read_idx(folder, f"{prefix}-images-idx3-ubyte")
    lab = read_idx(folder, f"{prefix}-labels-idx1-ubyte")
    magic, n, rows, cols = np.frombuffer(img[:16], dtype=">u4")
    lmagic, ln = np.frombuffer(lab[:8], dtype=">u4")
    if magic != 0x803 or lmagic != 0x801 or n != ln:
        raise SystemExit(f"{folder}/{prefix}: bad IDX header")
    x = np.frombuffer(img[16:], dtype=np.uint8).reshape(int(n), 1, int(rows), int(cols))
    y = np.frombuffer(lab[8:], dtype=np.uint8)
    return x, y


def normalise(x_u8, model):
    x = torch.from_numpy(x_u8.copy()).float()  # in place from here on: keeps peak RSS low
    x.div_(255.0)
    if model != "resnet8":
        x.sub_(0.1307).div_(0.3081)
    return x


def blas_info():
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                base = os.path.basename(path)
                if any(s in base for s in ("blas", "mkl_rt", "libmkl", "blis")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    names = []
    for p in sorted(libs):
        d, b = os.path.basename(os.path.dirname(p)), os.path.basename(p)
        if b.startswith("libopenblas"):  # e.g. openblas-openmp/libopenblasp-r0.3.21.so
            ver = b.split("-r", 1)[-1].split(".so")[0] if "-r" in b else ""
            names.append(f"{d if d.startswith('openblas') else 'openblas'} {ver}".strip())
        elif "mkl" in b:
            names.append("mkl")
        elif "blis" in b:
            names.append("blis")
    cfg = torch.__config__.show()
    tag = next((t.split("=")[1].rstrip(",") for t in cfg.split() if t.startswith("BLAS_INFO=")), "?")
    return (", ".join(sorted(set(names))) or "unknown") + f" (BLAS_INFO={tag})"


def main():
    torch.set_num_threads(args.threads)
    batch0, opt_name, lr0, mom0, wd0 = DEFAULTS[args.model]
    batch = args.batch or batch0
    lr = lr0 if args.lr is None else args.lr
    momentum = mom0 if args.momentum is None else args.momentum
    wd = wd0 if args.weight_decay is None else args.weight_decay

    torch.manual_seed(args.seed)
    if args.fake:
        xtr = torch.randn(args.fake * batch, 1, 28, 28)
        ytr = torch.randint(0, 10, (args.fake * batch,))
        xte = torch.randn(1000, 1, 28, 28)
        yte = torch.randint(0, 10, (1000,))
    else:
        xtr_u8, ytr_u8 = load_split(args.data, "train")
        xte_u8, yte_u8 = load_split(args.data, "t10k")
        xtr, xte = normalise(xtr_u8, args.model), normalise(xte_u8, args.model)
        ytr = torch.from_numpy(ytr_u8.astype(np.int64))
        yte = torch.from_numpy(yte_u8.astype(np.int64))

    model = reference_models.MODELS[args.model]()
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)

    n = xtr.shape[0]
    epoch_times, last_loss = [], float("nan")
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        last_loss = loss.item()
        epoch_times.append(time.perf_counter() - t0)

    model.eval()

    def infer():
        correct = 0
        with torch.no_grad():
            for i in range(0, xte.shape[0], args.infer_batch):
                correct += (model(xte[i:i + args.infer_batch]).argmax(1) == yte[i:i + args.infer_batch]).sum().item()
        return correct

    infer()  # warm-up
    t0 = time.perf_counter()
    correct = infer()
    infer_s = time.perf_counter() - t0

    epoch_s = sum(epoch_times) / len(epoch_times)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    res = {
        "framework": "pytorch",
        "model": args.model,
        "threads": args.threads,
        "batch": batch,
        "train_epoch_s": round(epoch_s, 4),
        "train_images_per_s": round(n / epoch_s, 1),
        "test_acc": round(correct / xte.shape[0], 6),
        "infer_images_per_s": round(xte.shape[0] / infer_s, 1),
        "peak_rss_mb": round(rss_kb / 1024.0, 1),
        "torch": torch.__version__,
        "blas": blas_info(),
        "epochs": args.epochs,
        "optimizer": f"{opt_name} lr={lr:g} momentum={momentum:g} weight_decay={wd:g}",
        "final_train_loss": round(last_loss, 5),
    }
    if args.fake:
        res["fake_data"] = True
    print(json.dumps(res))


if __name__ == "__main__":
    main()
