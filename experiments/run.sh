#!/usr/bin/env bash
# Runs the report's full recipe for each named experiment (all when none are named), one
# after another, into runs/experiments/NAME/, then rewrites docs/RESULTS.md.
#
#   experiments/run.sh                  # everything (hours on 2 cores: see docs/RESULTS.md)
#   experiments/run.sh cnn1 lenet       # some
#   THREADS=2 experiments/run.sh fcn    # thread count (default: all cores)
#
# Each experiment is one line of experiments/list.tsv: name, then the mytorch train flags.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MYTORCH:-build/mytorch}
[[ -x "$bin" ]] || { echo "run.sh: $bin not found; run 'make build' first" >&2; exit 1; }

names=("$@")
if ((${#names[@]} == 0)); then
    mapfile -t names < <(awk -F'\t' '!/^#/ && NF {print $1}' experiments/list.tsv)
fi
mkdir -p runs/experiments
for name in "${names[@]}"; do
    flags=$(awk -F'\t' -v n="$name" '$1 == n {print $2}' experiments/list.tsv)
    [[ -n "$flags" ]] || { echo "run.sh: no experiment '$name' in experiments/list.tsv" >&2; exit 2; }
    out=runs/experiments/$name
    echo "== $name: mytorch train $flags"
    # shellcheck disable=SC2086  # the flags are words on purpose
    "$bin" train $flags --threads "${THREADS:-0}" --out "$out" 2>"$out.progress.log" | tee "$out.log"
done
experiments/results.sh
