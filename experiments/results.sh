#!/usr/bin/env bash
# Writes docs/RESULTS.md from runs/experiments/*/metrics.jsonl: final and best test
# accuracy of each experiment beside the report's, with the time per epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/RESULTS.md}

# The report's test accuracies (REFERENCE.md): final epoch for Part I and the cnn1 study,
# best epoch for lenet and its ablations; fcn: "about 95%".
declare -A report=([fcn]="about 95" [cnn1]=98.45 [cnn2_leaky]=99.26 [cnn2_relu]=98.98 [lenet]=99.26 [resnet8]=99.28
    [lenet_mse]=97.62 [lenet_nobn]=98.61 [lenet_noaug]=99.03
    [cnn1_lr0.002]=98.41 [cnn1_lr0.05]=98.30 [cnn1_wd1e-4]=98.32 [cnn1_wd1e-2]=97.97
    [cnn2_leaky_cosine]=99.26 [cnn2_relu_cosine]=98.98 [lenet_cosine]=99.26 [resnet8_cosine]=99.28
    [vit]=98.83 [vit_cosine10]=98.83 [cnn2_leaky_aug]=99.26 [vit_cosine20]=98.83)

tmp=$(mktemp)
{
    echo "# Results"
    echo
    echo "Each row is one run of \`experiments/run.sh NAME\` (the flags are in experiments/list.tsv), on"
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores. Accuracy is on the 10,000"
    echo "MNIST test images after the last epoch, and at the best epoch; time is training only,"
    echo "per epoch (median), without the evaluation. The report column is the report's final-epoch"
    echo "accuracy for Part I models and the cnn1 study, its best epoch for lenet and its ablations."
    echo
    echo "| experiment | flags | epochs | final acc. | best acc. (epoch) | report | s/epoch |"
    echo "|---|---|---|---|---|---|---|"
    while IFS=$'\t' read -r name flags; do
        [[ -z "$name" || "$name" == \#* ]] && continue
        m=runs/experiments/$name/metrics.jsonl
        if [[ ! -s "$m" ]]; then
            echo "| $name | \`$flags\` | not run | | | ${report[$name]:-}% | |"
            continue
        fi
        # Median training seconds per epoch (portable awk: no asort).
        # Timing is in timing.jsonl (metrics.jsonl in runs made before it).
        t=runs/experiments/$name/timing.jsonl
        [[ -s "$t" ]] || t=$m
        med=$(sed -n 's/.*"epoch_seconds":\([0-9.]*\).*/\1/p' "$t" | sort -n |
            awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
        awk -v name="$name" -v flags="$flags" -v rep="${report[$name]:-}" -v med="$med" '
            function field(k,   r) { r = $0; sub(".*\"" k "\":", "", r); sub("[,}].*", "", r); return r }
            { n++; acc = field("test_accuracy") + 0
              if (acc > best) { best = acc; at = field("epoch") } last = acc }
            END {
                printf "| %s | `%s` | %d | %.2f%% | %.2f%% (%d) | %s%% | %.1f |\n", name, flags, n, 100 * last, 100 * best, at, rep, med
            }' "$m"
    done < experiments/list.tsv
    # What the numbers mean, kept by hand beside the list (not generated).
    if [[ -s experiments/notes.md ]]; then
        echo
        cat experiments/notes.md
    fi
} > "$tmp"
mv "$tmp" "$out"
echo "results.sh: wrote $out"
