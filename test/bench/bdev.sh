#!/usr/bin/env bash
# Block layer benchmark (issue 4). Prints a table, each figure the median of RUNS:
#   - bdevperf, null bdev, 4 KiB randread, QD 128, one core: IOPS, with the
#     layer as configured (statistics on, no QoS) and, when the layer offers the
#     RPCs, with a QoS limit set high enough never to throttle and with a latency
#     histogram on (the per-I/O cost of those features);
#   - aio and uring bdevs over a 1 GiB file (O_DIRECT): 4 KiB randread and
#     randwrite at QD 32, beside fio (ioengine=libaio / io_uring, direct=1, same
#     file, same depth, one job, pinned to the same core);
#   - 128 KiB sequential read on the same file, MiB/s, beside fio.
# Figures, not pass/fail.
#
# Build used: an optimised copy without sanitizers, built by this script into
# build/release (same sources, CONFIG_DEBUG/ASAN/UBSAN=n on the make command
# line; the configured tree under build/ is left as it is). --use-build
# measures build/bin instead (the configured, usually ASan, build).
#
# Usage: test/bench/bdev.sh [-r RUNS] [-t SECONDS] [-d DIR] [--use-build]
#   DIR holds the 1 GiB test file (default /var/tmp; it must allow O_DIRECT).
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=3
SECS=5
DIR=/var/tmp
USE_BUILD=0
CORE=1 # bdevperf and fio run on the same core; core 0 keeps the rest of the system
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-d) DIR=$2; shift 2 ;;
	--use-build) USE_BUILD=1; shift ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
if [ "$(nproc)" -lt 2 ]; then
	echo "bdev.sh needs two cores" >&2
	exit 1
fi
if ! command -v fio >/dev/null; then
	echo "bdev.sh needs fio (apt-get install fio)" >&2
	exit 1
fi

if bench_select_build "$USE_BUILD"; then
	# Only what bdevperf links: a module elsewhere in lib/ may be mid-work.
	for d in log util env thread dma jsonrpc rpc event bdev; do
		bench_make "lib/$d"
	done
	# The drivers measured here, and a bdevperf linking just them (another
	# driver in progress must not stop the benchmark).
	for d in null aio uring; do
		bench_make "drivers/bdev/$d"
	done
	bench_make app/bdevperf BDEV_DRIVERS="bdev_null bdev_aio bdev_uring" -B
fi

bench_tmpdir # median and the clean-up of TMP and BENCH_FILES: common.sh
FILE=$DIR/axon_bdev_bench_$$.img
BENCH_FILES+=("$FILE")

config() { # file, then "method params-json" pairs -> a bdevperf JSON config
	local out=$1 sep=""
	shift
	{
		printf '{"subsystems":[{"subsystem":"bdev","config":['
		while [ $# -gt 0 ]; do
			printf '%s{"method":"%s","params":%s}' "$sep" "$1" "$2"
			sep=","
			shift 2
		done
		printf ']}]}\n'
	} >"$out"
}

# bdevperf config, extra args... -> "IOPS MiB/s" of the Total line (or "n/a n/a")
bdevperf_run() {
	local cfg=$1 out
	shift
	if ! out=$("$BIN/bdevperf" --no-huge -s 1024 -m "$((1 << CORE))" -c "$cfg" -t "$SECS" "$@" \
		--file-prefix "bench_bdev_$$" 2>"$TMP/bdevperf.err"); then
		echo "bdevperf $* failed:" >&2
		tail -5 "$TMP/bdevperf.err" >&2
		echo "n/a n/a"
		return
	fi
	echo "$out" | awk '/^Total/ {print $2, $3}'
}

# fio engine rw bs -> "IOPS MiB/s"
fio_run() {
	fio --name=bench --filename="$FILE" --ioengine="$1" --rw="$2" --bs="$3" --iodepth="$4" \
		--direct=1 --numjobs=1 --cpus_allowed="$CORE" --time_based --runtime="$SECS" \
		--ramp_time=0 --group_reporting --output-format=json 2>/dev/null |
		python3 -c 'import json, sys
j = json.load(sys.stdin)["jobs"][0]
iops = j["read"]["iops"] + j["write"]["iops"]
bw = (j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1048576
print("%.2f %.2f" % (iops, bw))'
}

# label, command... : run RUNS times; the medians go to $TMP/<label>.{iops,mibps}
measure() {
	local label=$1 r
	shift
	: >"$TMP/$label.iops"
	: >"$TMP/$label.mibps"
	for i in $(seq "$RUNS"); do
		r=$("$@")
		echo "$r" | awk '{print $1}' >>"$TMP/$label.iops"
		echo "$r" | awk '{print $2}' >>"$TMP/$label.mibps"
		echo "  $label run $i: $r (IOPS MiB/s)"
	done
}

med() { # label kind -> median, or n/a
	if grep -q 'n/a' "$TMP/$1.$2"; then echo "n/a"; else median <"$TMP/$1.$2"; fi
}

# ---- null bdev: per-I/O overhead -------------------------------------------------
NULL='{"name":"Null0","num_blocks":2097152,"block_size":4096}'
config "$TMP/null.json" bdev_null_create "$NULL"
config "$TMP/null_qos.json" bdev_null_create "$NULL" \
	bdev_set_qos_limit '{"name":"Null0","rw_ios_per_sec":1000000000}'
config "$TMP/null_hist.json" bdev_null_create "$NULL" \
	bdev_enable_histogram '{"name":"Null0","enable":true}'
echo "null bdev, 4 KiB randread, QD 128, core $CORE, $SECS s per run"
measure null bdevperf_run "$TMP/null.json" -q 128 -o 4096 -w randread
measure null_qos bdevperf_run "$TMP/null_qos.json" -q 128 -o 4096 -w randread
measure null_hist bdevperf_run "$TMP/null_hist.json" -q 128 -o 4096 -w randread

# ---- aio and uring against fio on a 1 GiB file -----------------------------------------
echo "writing the 1 GiB test file $FILE"
dd if=/dev/urandom of="$FILE" bs=1M count=1024 oflag=direct status=none
config "$TMP/aio.json" bdev_aio_create "{\"name\":\"Aio0\",\"filename\":\"$FILE\"}"
config "$TMP/uring.json" bdev_uring_create "{\"name\":\"Uring0\",\"filename\":\"$FILE\"}"
for wl in randread randwrite; do
	echo "$wl, 4 KiB, QD 32"
	measure "aio_$wl" bdevperf_run "$TMP/aio.json" -q 32 -o 4096 -w "$wl"
	measure "fio_libaio_$wl" fio_run libaio "$wl" 4k 32
	measure "uring_$wl" bdevperf_run "$TMP/uring.json" -q 32 -o 4096 -w "$wl"
	measure "fio_io_uring_$wl" fio_run io_uring "$wl" 4k 32
done
echo "sequential read, 128 KiB, QD 32"
measure aio_seq bdevperf_run "$TMP/aio.json" -q 32 -o 128k -w read
measure fio_libaio_seq fio_run libaio read 128k 32
measure uring_seq bdevperf_run "$TMP/uring.json" -q 32 -o 128k -w read
measure fio_io_uring_seq fio_run io_uring read 128k 32

ratio() { # a b -> a/b with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b}'
}

echo
echo "== bdev benchmark, median of $RUNS run(s) of $SECS s, one core (core $CORE) =="
printf '%-46s %14s\n' "null bdev, 4 KiB randread, QD 128" "IOPS"
printf '  %-44s %14s   (goal >= 17M per core)\n' "statistics on, no QoS (default)" "$(med null iops)"
printf '  %-44s %14s\n' "QoS limit set (1G IOPS: never throttles)" "$(med null_qos iops)"
printf '  %-44s %14s\n' "latency histogram on" "$(med null_hist iops)"
echo "  (statistics cannot be switched off in the layer: no such option)"
echo
printf '%-28s %14s %14s %8s\n' "1 GiB file, O_DIRECT, QD 32" "bdevperf IOPS" "fio IOPS" "ratio"
for wl in randread randwrite; do
	a=$(med "aio_$wl" iops); f=$(med "fio_libaio_$wl" iops)
	printf '  %-26s %14s %14s %8s\n' "aio  4 KiB $wl" "$a" "$f" "$(ratio "$a" "$f")"
	u=$(med "uring_$wl" iops); g=$(med "fio_io_uring_$wl" iops)
	printf '  %-26s %14s %14s %8s\n' "uring 4 KiB $wl" "$u" "$g" "$(ratio "$u" "$g")"
done
printf '%-28s %14s %14s %8s\n' "128 KiB sequential read" "bdevperf MiB/s" "fio MiB/s" "ratio"
a=$(med aio_seq mibps); f=$(med fio_libaio_seq mibps)
printf '  %-26s %14s %14s %8s\n' "aio (fio libaio)" "$a" "$f" "$(ratio "$a" "$f")"
u=$(med uring_seq mibps); g=$(med fio_io_uring_seq mibps)
printf '  %-26s %14s %14s %8s\n' "uring (fio io_uring)" "$u" "$g" "$(ratio "$u" "$g")"
echo "(goal: bdevperf >= 1.0x fio per core)"
