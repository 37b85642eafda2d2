#!/usr/bin/env bash
# mytorch vs PyTorch on MNIST: seconds per training epoch, test-set inference images/s,
# peak RSS and test accuracy, as medians over N alternating runs.
#
#   bench/run.sh [--models fcn[,..]] [--repeats N] [--threads N] [--smoke] [--out FILE]
#
# --repeats N  measured runs of each framework per model (default 5), after one warm-up
#              run of each that is left out. Runs alternate: mytorch, PyTorch, mytorch, ...
# --threads N  threads for both frameworks (default: nproc); OMP_NUM_THREADS is set too.
# --smoke      1 run, no warm-up, mytorch only; checks that the outputs parse (for CI).
#              Writes no report unless --out is given.
# --out FILE   markdown report (default docs/BENCHMARKS.md; none in smoke mode).
#
# Both frameworks run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the
# environment. mytorch then picks its OpenBLAS core itself (src/kernels/cpu/blas.c);
# PyTorch gets the same core by hand (SkylakeX with AVX-512 F/BW/VL/DQ, else Haswell
# with AVX2+FMA), since Debian's OpenBLAS 0.3.21 can misdetect the CPU.
# PyTorch is Debian's python3-torch ($PYTHON, default /usr/bin/python3); without it
# only mytorch is measured.
set -euo pipefail
cd "$(dirname "$0")/.."

MT=${MYTORCH:-build/mytorch}
PY=${PYTHON:-/usr/bin/python3}
DATA=data/mnist
MODELS=fcn REPEATS=5 THREADS=$(nproc) SMOKE=0 OUT='' OUT_GIVEN=0
CMDLINE="bench/run.sh${*:+ $*}"

die() { echo "run.sh: $*" >&2; exit 2; }
fail() { echo "run.sh: $*" >&2; exit 1; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }

while (($#)); do
    case $1 in
        --models) (($# > 1)) || die "--models needs a value"; MODELS=$2; shift 2 ;;
        --repeats) (($# > 1)) || die "--repeats needs a value"; posint "$1" "$2"; REPEATS=$2; shift 2 ;;
        --threads) (($# > 1)) || die "--threads needs a value"; posint "$1" "$2"; THREADS=$2; shift 2 ;;
        --out) (($# > 1)) || die "--out needs a value"; OUT=$2; OUT_GIVEN=1; shift 2 ;;
        --smoke) SMOKE=1; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown flag '$1' (see bench/run.sh --help)" ;;
    esac
done
((SMOKE)) && REPEATS=1
((OUT_GIVEN || SMOKE)) || OUT=docs/BENCHMARKS.md

[[ -x $MT ]] || fail "$MT not found; run 'make build' first"
[[ -f $DATA/train-images-idx3-ubyte || -f $DATA/train-images-idx3-ubyte.gz ]] ||
    fail "no MNIST in $DATA; run 'make data' first"

# Batch sizes: the recipe column of 'mytorch models', else this table.
declare -A BATCH=([fcn]=100 [cnn1]=32 [cnn2]=32 [lenet]=100 [resnet8]=32 [vit]=64)
# Inference batch: mytorch's per-model eval batch ('evalb' column); PyTorch uses the same.
declare -A EVALB=()
# Forward MFLOPs per image ('mytorch models', counted by the ops): a training step costs
# three times the forward (the backward computes two products per forward one).
declare -A MFLOPS=()
MODEL_LIST=$("$MT" models)
IFS=, read -r -a MODEL_ARR <<<"$MODELS"
((${#MODEL_ARR[@]})) || die "--models is empty"
for m in "${MODEL_ARR[@]}"; do
    b=$(awk -v m="$m" 'NR==1{for(i=1;i<=NF;i++) if($i=="batch") c=i; next} $1==m && c{print $c}' <<<"$MODEL_LIST")
    [[ -n $b ]] || die "unknown model '$m' (mytorch models lists: $(awk 'NR>1{printf "%s ",$1}' <<<"$MODEL_LIST"))"
    BATCH[$m]=$b
    EVALB[$m]=$(awk -v m="$m" 'NR==1{for(i=1;i<=NF;i++) if($i=="evalb") c=i; next} $1==m && c{print $c}' <<<"$MODEL_LIST")
    MFLOPS[$m]=$(awk -v m="$m" 'NR==1{for(i=1;i<=NF;i++) if($i=="MFLOPs") c=i; next} $1==m && c{print $c}' <<<"$MODEL_LIST")
    [[ -n ${MFLOPS[$m]} ]] || die "no MFLOPs for '$m' in mytorch models"
    [[ -n ${EVALB[$m]} ]] || EVALB[$m]=1000
done

# --- environment -------------------------------------------------------------------
BASE_ENV=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$THREADS")
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { [[ " $flags " == *" $1 "* ]]; }
PT_CORE=''
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then PT_CORE=SkylakeX
elif has avx2 && has fma; then PT_CORE=Haswell; fi
PT_ENV=("${BASE_ENV[@]}" ${PT_CORE:+OPENBLAS_CORETYPE=$PT_CORE})

HAVE_PT=0
if ((!SMOKE)) && [[ -x $PY ]] && "$PY" -c 'import torch' 2>/dev/null; then HAVE_PT=1; fi
if ((!SMOKE && !HAVE_PT)); then echo "PyTorch was not found ($PY -c 'import torch' failed): measuring mytorch only"; fi

# Flat JSON: jnum KEY / jstr KEY read one line on stdin.
jnum() { sed -n "s/.*\"$1\": *\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" | head -1; }
jstr() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -1; }
median() { sort -g | awk '{v[NR]=$1} END{if(!NR){print "nan"; exit} print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
need() { [[ -n $2 ]] || fail "could not parse $1"; echo "$2"; }

# The machine's SGEMM peak, through mytorch's own GEMM path, in the same environment and
# thread count as the models (a 2048^3 product, best of 5; 256^3 in smoke mode).
SGEMM_SIZE=2048
((SMOKE)) && SGEMM_SIZE=256
SGEMM=$("${BASE_ENV[@]}" "$MT" bench --json --size "$SGEMM_SIZE" --threads "$THREADS") || fail "mytorch bench failed"
PEAK=$(jnum gflops <<<"$SGEMM")
[[ -n $PEAK ]] || fail "could not parse the SGEMM rate from: $SGEMM"
echo "SGEMM ${SGEMM_SIZE}^3 on $THREADS threads: $PEAK GFLOP/s" >&2

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# One mytorch run: train one epoch, then eval --json. Appends
# "epoch_s eval_img_s train_eval_img_s rss_mb acc" to $TMP/$m.mt
run_mytorch() {
    local m=$1 dir=$TMP/run-$1 line ev
    rm -rf "$dir"
    "${BASE_ENV[@]}" "$MT" train --model "$m" --epochs 1 --augment-copies 0 --threads "$THREADS" --batch-size "${BATCH[$m]}" \
        --data "$DATA" --out "$dir" >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; fail "mytorch train $m failed"; }
    # Timing lives in timing.jsonl; runs older than it had it in metrics.jsonl.
    line="$(tail -n 1 "$dir/metrics.jsonl") $(tail -n 1 "$dir/timing.jsonl" 2>/dev/null)"
    ev=$("${BASE_ENV[@]}" "$MT" eval --checkpoint "$dir/best.safetensors" --json --warmup --threads "$THREADS" \
        --data "$DATA" 2>"$TMP/log") || { cat "$TMP/log" >&2; fail "mytorch eval $m failed"; }
    echo "$(need epoch_seconds "$(jnum epoch_seconds <<<"$line")") $(need images_per_s "$(jnum images_per_s <<<"$ev")")" \
        "$(need eval_images_per_s "$(jnum eval_images_per_s <<<"$line")") $(need peak_rss_mb "$(jnum peak_rss_mb <<<"$line")")" \
        "$(need test_accuracy "$(jnum test_accuracy <<<"$line")")" >>"$TMP/$m.$2"
}

# One PyTorch run. Appends "epoch_s infer_img_s - rss_mb acc" to $TMP/$m.pt
run_pytorch() {
    local m=$1 out
    out=$("${PT_ENV[@]}" "$PY" bench/pytorch_bench.py --model "$m" --data "$DATA" --threads "$THREADS" \
        --batch "${BATCH[$m]}" --infer-batch "${EVALB[$m]}" --epochs 1 2>"$TMP/log" | tail -n 1) || { cat "$TMP/log" >&2; fail "PyTorch $m failed"; }
    echo "$(need train_epoch_s "$(jnum train_epoch_s <<<"$out")") $(need infer_images_per_s "$(jnum infer_images_per_s <<<"$out")") -" \
        "$(need peak_rss_mb "$(jnum peak_rss_mb <<<"$out")") $(need test_acc "$(jnum test_acc <<<"$out")")" >>"$TMP/$m.$2"
    PT_BLAS=$(jstr blas <<<"$out") PT_VERSION=$(jstr torch <<<"$out")
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PT_BLAS='' PT_VERSION=''
for m in "${MODEL_ARR[@]}"; do
    echo "== $m (batch ${BATCH[$m]}, $THREADS threads, $REPEATS repeats)" >&2
    if ((!SMOKE)); then
        run_mytorch "$m" warm
        ((HAVE_PT)) && run_pytorch "$m" warm
    fi
    for ((i = 1; i <= REPEATS; i++)); do
        run_mytorch "$m" mt
        echo "   mytorch  run $i: $(tail -n 1 "$TMP/$m.mt")" >&2
        if ((HAVE_PT)); then
            run_pytorch "$m" pt
            echo "   PyTorch  run $i: $(tail -n 1 "$TMP/$m.pt")" >&2
        fi
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- table ---------------------------------------------------------------------------
col() { awk -v c="$2" '{print $c}' "$1" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a=="n/a" || b=="n/a" || b+0==0) print "n/a"; else printf "%.2fx", a/b}'; }
fmt() { awk -v x="$1" -v f="$2" 'BEGIN{if (x=="n/a") print x; else printf f, x}'; }
pct() { awk -v x="$1" 'BEGIN{if (x=="n/a") print x; else printf "%.2f%%", 100*x}'; }
runs() { awk -v c="$2" '{printf "%s%s", (NR > 1 ? " " : ""), $c}' "$1"; }
# Training GFLOP/s: 3 x forward MFLOPs x 60,000 images per epoch; % of the SGEMM peak.
gflops() { awk -v f="$1" -v t="$2" -v p="$PEAK" 'BEGIN{if (t=="n/a" || t+0==0) print "n/a"; else {g=3*f*60000/1000/t; printf "%.1f (%.0f%%)", g, 100*g/p}}'; }
TABLE="| model | batch | mytorch s/epoch | PyTorch s/epoch | speed-up | mytorch GFLOP/s (% peak) | PyTorch GFLOP/s (% peak) | mytorch infer img/s | PyTorch infer img/s | ratio | mytorch RSS MB | PyTorch RSS MB | ratio | accuracy mytorch / PyTorch |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
NOTES=
for m in "${MODEL_ARR[@]}"; do
    mt_s=$(col "$TMP/$m.mt" 1) mt_i=$(col "$TMP/$m.mt" 2) mt_ti=$(col "$TMP/$m.mt" 3)
    mt_r=$(col "$TMP/$m.mt" 4) mt_a=$(col "$TMP/$m.mt" 5)
    pt_s=n/a pt_i=n/a pt_r=n/a pt_a=n/a
    if ((HAVE_PT)); then
        pt_s=$(col "$TMP/$m.pt" 1) pt_i=$(col "$TMP/$m.pt" 2) pt_r=$(col "$TMP/$m.pt" 4) pt_a=$(col "$TMP/$m.pt" 5)
    fi
    TABLE+="
| $m | ${BATCH[$m]} | $(fmt "$mt_s" %.3f) | $(fmt "$pt_s" %.3f) | $(ratio "$pt_s" "$mt_s") | $(gflops "${MFLOPS[$m]}" "$mt_s") | $(gflops "${MFLOPS[$m]}" "$pt_s") | $(fmt "$mt_i" %.0f) | $(fmt "$pt_i" %.0f) | $(ratio "$mt_i" "$pt_i") | $(fmt "$mt_r" %.1f) | $(fmt "$pt_r" %.1f) | $(ratio "$pt_r" "$mt_r") | $(pct "$mt_a") / $(pct "$pt_a") |"
    NOTES+="- $m, every run: mytorch s/epoch [$(runs "$TMP/$m.mt" 1)], infer img/s [$(runs "$TMP/$m.mt" 2)]; in-training test pass (timing.jsonl eval_images_per_s) median $(fmt "$mt_ti" %.0f) img/s"
    ((HAVE_PT)) && NOTES+="; PyTorch s/epoch [$(runs "$TMP/$m.pt" 1)], infer img/s [$(runs "$TMP/$m.pt" 2)]"
    NOTES+=$'\n'
done

if ((SMOKE)); then
    # need() has already checked that every field parsed; check the medians too.
    ! grep -q nan <<<"$TABLE" || fail "smoke: a median came out as nan"
    echo "smoke: outputs parse" >&2
fi
echo "$TABLE"
printf '%s' "$NOTES"
((HAVE_PT)) || echo "($( ((SMOKE)) && echo "smoke mode" || echo "PyTorch not found"): mytorch only)"
[[ -n $OUT ]] || exit 0

# --- report --------------------------------------------------------------------------
MT_VERSION=$("${BASE_ENV[@]}" "$MT" version | paste -sd';' | sed 's/;/; /g')
PT_CORENAME=n/a
if ((HAVE_PT)); then
    PT_CORENAME=$("${PT_ENV[@]}" "$PY" -c 'import torch, ctypes
f = ctypes.CDLL("libblas.so.3").openblas_get_corename; f.restype = ctypes.c_char_p; print(f().decode())' 2>/dev/null || echo unknown)
fi
OPENBLAS_PKG=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' 'libopenblas0*' 2>/dev/null |
    awk '$1 == "ii" {printf "%s%s %s", (n++ ? ", " : ""), $2, $3}' || true)
LIBBLAS=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
mkdir -p "$(dirname "$OUT")"
{
    echo "# Benchmarks: mytorch vs PyTorch on MNIST"
    echo
    echo "Generated by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "Command: \`$CMDLINE\`"
    echo
    echo "## Machine and versions"
    echo
    echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores online; memory $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "- Load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- mytorch: $MT_VERSION"
    echo "- SGEMM peak, measured in this run: $PEAK GFLOP/s (\`mytorch bench --size $SGEMM_SIZE --threads $THREADS\`, ${SGEMM_SIZE}^3, best of 5, through mytorch's GEMM)"
    echo "- PyTorch: $( ((HAVE_PT)) && echo "torch $PT_VERSION via $PY; BLAS: $PT_BLAS; OpenBLAS core $PT_CORENAME (OPENBLAS_CORETYPE=${PT_CORE:-unset})" || echo "not found")"
    echo "- OpenBLAS packages: ${OPENBLAS_PKG:-unknown}; libblas.so.3 alternative -> $LIBBLAS"
    echo "- Environment for both: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (PyTorch then gets the core above), OMP_NUM_THREADS=$THREADS, --threads $THREADS, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
    echo
    echo "## Results"
    echo
    echo "Medians of $REPEATS run(s) per framework$( ((SMOKE)) || echo ", after one warm-up run of each that is left out")$( ((HAVE_PT)) && echo "; runs alternate mytorch, PyTorch"). Each run trains"
    echo "one epoch on the 60,000 training images from a fresh process, then measures inference"
    echo "on the 10,000 test images in batches of the model's eval batch (both frameworks; fcn 1000). Speed-up = PyTorch s/epoch / mytorch"
    echo "s/epoch; inference ratio = mytorch img/s / PyTorch img/s; RSS ratio = PyTorch / mytorch."
    echo "GFLOP/s is the training rate: 3 x the forward FLOPs per image (\`mytorch models\`, counted by the ops) x 60,000 images / s/epoch, for both frameworks (the same model, so the same FLOPs), with its share of the SGEMM peak above."
    echo "Inference is timed on a warm second pass in both: \`mytorch eval --json --warmup\` and"
    echo "bench/pytorch_bench.py (which warms up once). RSS is the peak of the"
    echo "training process (which also runs the test pass) for both."
    echo
    echo "$TABLE"
    echo
    printf '%s' "$NOTES"
} >"$OUT"
echo "report written to $OUT"
