#!/usr/bin/env bash
# Runs the whole suite against an already built tree: every CUnit binary under
# build/unit, the libFuzzer targets (when built), the pytest functional tests
# and the VM tests. Prints one summary line at the end; exits non-zero if any
# part failed. Environment:
#   AXON_FUZZ_SECONDS   seconds per fuzz target (default 60)
#   AXON_SKIP_VM=1      skip VM tests (for quick local runs only; never in CI)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export AXON_ROOT="$ROOT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/test/lsan.supp:print_suppressions=0}"

# pytest comes from Debian's python3-pytest; a python3 earlier on PATH (pyenv,
# a virtualenv) may lack it, so use the first interpreter that has it.
PYTHON=""
for py in python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null && "$py" -c 'import pytest' 2>/dev/null; then
		PYTHON=$py
		break
	fi
done

passed=0
failed=0
failures=()

run_part() { # name, command...
	local name=$1; shift
	echo "=== $name"
	local start=$SECONDS
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok ($((SECONDS - start)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED ($((SECONDS - start)) s)"
	fi
}

# The release build (what scripts/start.sh makes: -O2, no sanitizers) must be
# as warning-free as the debug build the tests run on; -O2 finds other warnings.
release_build() {
	local v=(BUILD_DIR="$ROOT/build/release-check" CONFIG_DEBUG=n CONFIG_ASAN=n
		CONFIG_UBSAN=n CONFIG_FUZZ=n)
	make -s -j"$(nproc)" -C lib "${v[@]}" all && make -s -j"$(nproc)" -C drivers "${v[@]}" all &&
		make -s -j"$(nproc)" -C app "${v[@]}" all
}
run_part "release build (-O2, -Werror)" release_build

# Unit tests: every executable the unit Makefiles produced.
if [ -d build/unit ]; then
	while IFS= read -r ut; do
		run_part "unit ${ut#build/unit/}" "$ut"
	done < <(find build/unit -type f -executable | sort)
fi

# Fuzz targets, each with its seed corpus, for a bounded time.
if [ -d build/fuzz ]; then
	secs=${AXON_FUZZ_SECONDS:-60}
	while IFS= read -r fz; do
		name=$(basename "$fz")
		corpus_src="test/fuzz/corpus/$name"
		work=$(mktemp -d)
		[ -d "$corpus_src" ] && cp -r "$corpus_src/." "$work/"
		run_part "fuzz $name (${secs}s)" "$fz" -max_total_time="$secs" -timeout=10 \
			-rss_limit_mb=4096 -print_final_stats=1 "$work"
		rm -rf "$work"
	done < <(find build/fuzz -maxdepth 1 -type f -executable | sort)
fi

# Functional and VM tests (pytest).
if compgen -G "test/functional/test_*.py" >/dev/null; then
	run_part "functional (pytest)" "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider test/functional
fi
if [ "${AXON_SKIP_VM:-0}" != 1 ] && compgen -G "test/vm/tests/test_*.py" >/dev/null; then
	run_part "vm (pytest)" "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider test/vm/tests
fi

echo
if [ "$failed" -ne 0 ]; then
	printf 'failed part: %s\n' "${failures[@]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
