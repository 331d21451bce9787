#!/usr/bin/env bash
# The test command: installs what is missing, builds with AddressSanitizer and
# UBSan (plus the libFuzzer targets), and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/pkgdep.sh
./configure --enable-debug --enable-asan --enable-ubsan --enable-fuzz
make -j"$(nproc)"
exec make check
