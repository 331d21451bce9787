# Shared by the benchmarks in test/bench (sourced, not run). It moves to the
# repository root and defines:
#   ROOT                      the repository root
#   bench_select_build U      U=1: measure build/bin as configured; else the
#                             optimised copy in build/release. Sets BIN, prints
#                             which; returns 0 when the caller must build.
#   bench_make DIR [ARGS...]  make DIR into build/release (-O2, no sanitizers:
#                             CONFIG_DEBUG/ASAN/UBSAN=n on the make command line,
#                             so the configured tree under build/ is untouched)
#   bench_tmpdir              makes TMP; on exit TMP, BENCH_FILES and every pid in
#                             BENCH_PIDS still running are cleaned up
#   median                    numbers on stdin -> their median
#   cpu_ns PID                CPU time of all its threads so far, in ns
#   wait_ns PID               time all its threads waited runnable on a run queue, ns
#   cpu_ticks PID             utime + stime from /proc/PID/stat, in clock ticks
#   bench_wait_rpc SOCK PID   wait (30 s at most) until SOCK answers; fails if PID dies
#   bench_loadavg             the 1, 5 and 15 minute load averages
#   bench_free_port           a TCP port on 127.0.0.1 nobody listens on now
#   bench_spin_share CORE...  the % of each core a plain busy loop gets now (100
#                             on an idle host): how shared the machine is
#   bench_make_nvmf           build axond (NVMe/TCP target) and perf, TCP only
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
BENCH_REL=(BUILD_DIR="$ROOT/build/release" CONFIG_DEBUG=n CONFIG_ASAN=n CONFIG_UBSAN=n)
BENCH_PIDS=()
BENCH_FILES=()

bench_select_build() {
	if [ "$1" = 1 ]; then
		BIN=$ROOT/build/bin
		echo "build: build/bin (as configured: $(grep -E '^CONFIG_(DEBUG|ASAN|UBSAN)' mk/config.mk | tr '\n' ' '))"
		return 1
	fi
	BIN=$ROOT/build/release/bin
	echo "build: build/release (-O2, no sanitizers); building..."
	return 0
}

bench_make() {
	local dir=$1
	shift
	make -s -j"$(nproc)" -C "$dir" "${BENCH_REL[@]}" "$@" all >/dev/null
}

bench_cleanup() {
	local p
	for p in "${BENCH_PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	for p in "${BENCH_FILES[@]:-}"; do
		[ -n "$p" ] && rm -f "$p"
	done
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
	return 0
}

bench_tmpdir() {
	TMP=$(mktemp -d)
	trap bench_cleanup EXIT
}

median() {
	sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

cpu_ns() { # schedstat: ns resolution
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

wait_ns() { # schedstat's second field: runnable but not running (another task had the core)
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%.0f", s}'
}

cpu_ticks() {
	sed 's/.*) //' /proc/"$1"/stat | awk '{print $12 + $13}'
}

bench_wait_rpc() {
	local sock=$1 pid=$2 i
	for i in $(seq 300); do
		if [ -S "$sock" ] && python3 scripts/rpc.py -s "$sock" -t 1 spdk_get_version >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

bench_loadavg() {
	cut -d' ' -f1-3 /proc/loadavg
}

bench_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_app_libs() { # app dir -> the AXON_LIBS its Makefile links (with the release variables)
	make -s -C "$1" "${BENCH_REL[@]}" --eval='bench-print-libs: ; @echo $(AXON_LIBS)' bench-print-libs
}

bench_lib_dir() { # module name -> its directory: lib/nvmf, drivers/nvmf/tcp (nvmf_tcp), ...
	if [ -d "lib/$1" ]; then
		echo "lib/$1"
	else
		echo "drivers/${1%%_*}/${1#*_}"
	fi
}

bench_make_nvmf() {
	local app libs l
	# axond and perf linked with their modules minus the RDMA and PCIe
	# transports (not measured here; another helper's work in progress there
	# must not stop the benchmark), like bdev.sh's bdevperf. -Wno-error: an
	# -O2-only warning must not stop the measurement either (it is printed).
	for app in axond perf; do
		libs=""
		for l in $(bench_app_libs "app/$app"); do
			case $l in *_rdma | *_pcie) continue ;; esac
			bench_make "$(bench_lib_dir "$l")" LOCAL_CFLAGS=-Wno-error
			libs+="$l "
		done
		bench_make "app/$app" LOCAL_CFLAGS=-Wno-error AXON_LIBS="${libs% }" -B
	done
}

bench_spin_share() {
	local c pids=() a=() b=() t0 t1 i out=""
	for c in "$@"; do
		taskset -c "$c" sh -c 'while :; do :; done' &
		pids+=($!)
		BENCH_PIDS+=($!)
	done
	sleep 0.3
	for i in "${!pids[@]}"; do a[$i]=$(cpu_ns "${pids[$i]}"); done
	t0=$(date +%s.%N)
	sleep 2
	for i in "${!pids[@]}"; do b[$i]=$(cpu_ns "${pids[$i]}"); done
	t1=$(date +%s.%N)
	for i in "${!pids[@]}"; do
		kill "${pids[$i]}"
		wait "${pids[$i]}" 2>/dev/null || true
		out+="$(awk -v d=$((b[i] - a[i])) -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.0f", d / 1e9 / (t1 - t0) * 100}') "
	done
	echo "${out% }"
}
