#!/usr/bin/env bash
# Builds every libFuzzer harness (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each for SECONDS over a scratch copy of its seed
# corpus (tests/fuzz/corpus/NAME/), so nothing is written into the repository. Fails on
# any crash, leak, timeout or sanitizer report; the reproducer is kept and named.
#
# Usage: tests/fuzz/run.sh SECONDS [HARNESS ...]     (default: every harness)
# Environment: BUILD (default build-fuzz), CC (default clang), NICE (default 10).
# Prints one line per harness: name, seconds, executions, corpus size.
set -euo pipefail
cd "$(dirname "$0")/../.."

if (($# < 1)) || ! [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: tests/fuzz/run.sh SECONDS [HARNESS ...]" >&2
    exit 2
fi
seconds=$1
shift
build=${BUILD:-build-fuzz}
cc=${CC:-clang}
nice_level=${NICE:-10}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc not found (scripts/install-deps.sh installs clang)" >&2
    exit 1
fi

harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
    for src in tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$src" .c)"); done
fi
for h in "${harnesses[@]}"; do
    [[ -f tests/fuzz/$h.c ]] || { echo "run.sh: no harness tests/fuzz/$h.c" >&2; exit 2; }
done

cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug -DMT_FUZZ=ON \
    -DMT_BUILD_TESTS=OFF -DMT_WERROR=ON >/dev/null
nice -n "$nice_level" cmake --build "$build" -j "$(nproc)" --target "${harnesses[@]}" >/dev/null

work=$(mktemp -d /tmp/mt_fuzz_run_XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
for h in "${harnesses[@]}"; do
    corpus=$work/$h
    mkdir -p "$corpus" "$work/$h-artifacts"
    if [[ -d tests/fuzz/corpus/$h ]]; then cp tests/fuzz/corpus/$h/* "$corpus"/; fi
    seeds=$(find "$corpus" -type f | wc -l)
    log=$work/$h.log
    rc=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a reader that allocates
    # what a hostile header asks for is a bug.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        nice -n "$nice_level" "$build/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$h-artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    units=$(find "$corpus" -type f | wc -l)
    if ((rc != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        failed=1
        keep=$(mktemp -d /tmp/mt_fuzz_fail_XXXXXX)
        cp -r "$log" "$work/$h-artifacts" "$keep"/
        echo "FAIL $h (exit $rc): log and reproducer in $keep" >&2
        grep -m 5 -E 'ERROR|runtime error|SUMMARY' "$log" >&2 || tail -n 20 "$log" >&2
    else
        printf '%-20s %6ss %12s executions  corpus %d seeds -> %d inputs  crashes 0\n' \
            "$h" "$seconds" "${runs:-?}" "$seeds" "$units"
    fi
done
exit $failed
