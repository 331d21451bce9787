#!/usr/bin/env bash
# NVMe/TCP target benchmark (issue 6). axond on core 0 exports a null bdev
# (nsid 1) and a 256 MiB malloc bdev (nsid 2) over NVMe/TCP on 127.0.0.1;
# app/perf on core 1 drives them, one queue pair. Workloads:
#   4 KiB randread at QD 1, 32 and 128; 4 KiB randwrite at QD 32 (null bdev);
#   128 KiB sequential read at QD 16 (null bdev, and malloc: with its copy).
# For each: IOPS, MiB/s, average, p50 and p99 latency (perf's figures, in us)
# and axond's CPU over the run (utime + stime from /proc/PID/stat, % of one
# core), and how long axond waited runnable while something else had its core
# (schedstat; 0 on an idle host). In the same invocation, single-stream loopback TCP throughput from
# iperf3 (server on core 0, client on core 1): the ceiling for 128 KiB.
# Each figure is the median of RUNS runs; the runs of all workloads are
# interleaved, so that a burst of load elsewhere spreads over them.
# Figures, not pass/fail; the goals of issue 6 are printed beside them.
#
# axond runs as configured by default (adaptive polling on: it never sleeps
# while it has work); --target-poll gives it --no-adaptive-polling. perf
# always polls (--no-adaptive-polling): a load generator must not sleep.
#
# Build used: an optimised copy without sanitizers, built into build/release
# (see common.sh); --use-build measures build/bin (as configured, usually ASan).
# --profile also records axond with linux-perf during one 4 KiB QD 32 run and
# prints its hottest symbols.
#
# Usage: test/bench/nvmf_tcp.sh [-r RUNS] [-t SECONDS] [--target-poll] [--profile] [--use-build]
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=3
SECS=5
USE_BUILD=0
TARGET_POLL=0
PROFILE=0
TGT_CORE=0
INI_CORE=1
NQN=nqn.2026-01.io.axon:bench
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	--target-poll) TARGET_POLL=1; shift ;;
	--profile) PROFILE=1; shift ;;
	--use-build) USE_BUILD=1; shift ;;
	-h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
if [ "$(nproc)" -lt 2 ]; then
	echo "nvmf_tcp.sh needs two cores" >&2
	exit 1
fi
if ! command -v iperf3 >/dev/null; then
	echo "nvmf_tcp.sh needs iperf3 (apt-get install iperf3)" >&2
	exit 1
fi

if bench_select_build "$USE_BUILD"; then
	bench_make_nvmf
fi
bench_tmpdir

PORT=$(bench_free_port)
cat >"$TMP/target.json" <<EOF
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 4096}},
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 4096}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "max_queue_depth": 256}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
   "serial_number": "AXONBENCH0001", "model_number": "Axon benchmark"}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "listen_address":
   {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Null0"}}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"nsid": 2, "bdev_name": "Malloc0"}}}]}]}
EOF

TGT_ARGS=()
[ "$TARGET_POLL" = 1 ] && TGT_ARGS+=(--no-adaptive-polling)
"$BIN/axond" -m "$((1 << TGT_CORE))" -s 1024 -r "$TMP/axond.sock" --file-prefix "bench_nvmf_tgt_$$" \
	-c "$TMP/target.json" "${TGT_ARGS[@]}" >"$TMP/axond.log" 2>&1 &
TGT_PID=$!
BENCH_PIDS+=("$TGT_PID")
if ! bench_wait_rpc "$TMP/axond.sock" "$TGT_PID"; then
	echo "axond did not start; log:" >&2
	cat "$TMP/axond.log" >&2
	exit 1
fi
HZ=$(getconf CLK_TCK)

# nsid qd size pattern -> "IOPS MiB/s avg p50 p99 cpu% wait%" (or n/a for each)
perf_run() {
	local nsid=$1 qd=$2 size=$3 pattern=$4 t0 t1 c0 c1 w0 w1 out rc=0
	c0=$(cpu_ticks "$TGT_PID"); w0=$(wait_ns "$TGT_PID"); t0=$(date +%s.%N)
	out=$("$BIN/perf" -c "$((1 << INI_CORE))" -s 1024 --no-adaptive-polling \
		--file-prefix "bench_nvmf_ini_$$" -q "$qd" -o "$size" -w "$pattern" -t "$SECS" \
		-r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN ns:$nsid" \
		2>"$TMP/perf.err") || rc=$?
	c1=$(cpu_ticks "$TGT_PID"); w1=$(wait_ns "$TGT_PID"); t1=$(date +%s.%N)
	if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^Total'; then
		echo "perf -q $qd -o $size -w $pattern on nsid $nsid failed ($rc):" >&2
		{ echo "$out"; tail -5 "$TMP/perf.err"; } | tail -8 >&2
		echo "n/a n/a n/a n/a n/a n/a n/a"
		return
	fi
	echo "$out" | awk -v c=$((c1 - c0)) -v w=$((w1 - w0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
		'/^Total/ {printf "%s %s %s %s %s %.1f %.1f\n", $2, $3, $4, $7, $8,
			c / hz / (t1 - t0) * 100, w / 1e9 / (t1 - t0) * 100}'
}

# -> single-stream loopback MiB/s (receiver side), or n/a
iperf_run() {
	local port out
	port=$(bench_free_port)
	iperf3 -s -1 -B 127.0.0.1 -p "$port" -A "$TGT_CORE" >/dev/null 2>&1 &
	local spid=$!
	BENCH_PIDS+=("$spid")
	sleep 0.3
	if ! out=$(iperf3 -c 127.0.0.1 -p "$port" -A "$INI_CORE" -t "$SECS" -J 2>"$TMP/iperf.err"); then
		kill "$spid" 2>/dev/null || true
		echo "iperf3 failed: $(tail -2 "$TMP/iperf.err")" >&2
		echo "n/a"
		return
	fi
	wait "$spid" 2>/dev/null || true
	echo "$out" | python3 -c 'import json, sys
print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8 / 1048576))'
}

# label nsid qd size pattern description
WORKLOADS=(
	"rr_qd1    1 1   4096   randread  4 KiB randread QD 1 (null)"
	"rr_qd32   1 32  4096   randread  4 KiB randread QD 32 (null)"
	"rr_qd128  1 128 4096   randread  4 KiB randread QD 128 (null)"
	"rw_qd32   1 32  4096   randwrite 4 KiB randwrite QD 32 (null)"
	"seq128    1 16  131072 read      128 KiB read QD 16 (null)"
	"seq128_m  2 16  131072 read      128 KiB read QD 16 (malloc)"
)
FIELDS=(iops mibps avg p50 p99 cpu wait)

LOAD_BEFORE=$(bench_loadavg)
SHARE=$(bench_spin_share "$TGT_CORE" "$INI_CORE")
echo "a busy loop gets now (% of core $TGT_CORE, core $INI_CORE): $SHARE (100 100 on an idle host)"
echo "load average before: $LOAD_BEFORE ($(nproc) cores; axond on core $TGT_CORE, perf on core $INI_CORE)"
for run in $(seq "$RUNS"); do
	for w in "${WORKLOADS[@]}"; do
		read -r label nsid qd size pattern desc <<<"$w"
		r=$(perf_run "$nsid" "$qd" "$size" "$pattern")
		read -r -a vals <<<"$r"
		for i in "${!FIELDS[@]}"; do
			echo "${vals[$i]}" >>"$TMP/$label.${FIELDS[$i]}"
		done
		printf '  run %d %-34s IOPS %10s  MiB/s %8s  avg %7s  p50 %7s  p99 %8s us  axond CPU %5s%% waited %5s%%\n' \
			"$run" "$desc" "${vals[@]}"
	done
	r=$(iperf_run)
	echo "$r" >>"$TMP/iperf.mibps"
	echo "  run $run iperf3 single stream, loopback: $r MiB/s"
done

PROFILE_OUT=""
if [ "$PROFILE" = 1 ]; then
	if command -v /usr/bin/perf >/dev/null && [ -x /usr/bin/perf ]; then
		echo "profiling axond during one 4 KiB randread QD 32 run..."
		/usr/bin/perf record -q -g -o "$TMP/perf.data" -p "$TGT_PID" -- sleep "$SECS" \
			>/dev/null 2>"$TMP/record.err" &
		rec=$!
		perf_run 1 32 4096 randread >/dev/null
		wait "$rec" || true
		PROFILE_OUT=$(/usr/bin/perf report -i "$TMP/perf.data" --no-children --sort symbol \
			--stdio 2>/dev/null | grep -E '^ +[0-9]+\.[0-9]+%' | head -25 || true)
	else
		PROFILE_OUT="(linux-perf is not installed: apt-get install linux-perf)"
	fi
fi

kill -TERM "$TGT_PID"
rc=0
wait "$TGT_PID" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "axond exited with $rc; log:" >&2
	tail -20 "$TMP/axond.log" >&2
fi
LOAD_AFTER=$(bench_loadavg)

med() { # label field -> median, or n/a
	if grep -q 'n/a' "$TMP/$1.$2"; then echo "n/a"; else median <"$TMP/$1.$2"; fi
}
pct() { # a b -> 100 a / b, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.0f", 100 * a / b}'
}

echo
echo "== NVMe/TCP target benchmark, median of $RUNS run(s) of $SECS s =="
echo "axond: core $TGT_CORE, adaptive polling $([ "$TARGET_POLL" = 1 ] && echo off || echo on); perf: core $INI_CORE, one qpair; 127.0.0.1"
printf '%-36s %11s %9s %9s %9s %9s %10s %8s\n' "workload" "IOPS" "MiB/s" "avg(us)" "p50(us)" "p99(us)" "axond CPU" "waited"
for w in "${WORKLOADS[@]}"; do
	read -r label nsid qd size pattern desc <<<"$w"
	printf '%-36s %11s %9s %9s %9s %9s %9s%% %7s%%\n' "$desc" "$(med "$label" iops)" \
		"$(med "$label" mibps)" "$(med "$label" avg)" "$(med "$label" p50)" \
		"$(med "$label" p99)" "$(med "$label" cpu)" "$(med "$label" wait)"
done
IPERF=$(med iperf mibps)
printf '%-36s %21s\n' "iperf3 single stream (ceiling)" "$IPERF MiB/s"
echo "(axond CPU: utime + stime, % of one core; waited: % of the run axond was runnable"
echo " but another task had core $TGT_CORE: 0 on an idle host)"
echo
echo "goals (issue 6, one target core, one initiator core):"
printf '  4 KiB randread QD 32   >= 800000 IOPS       now %s\n' "$(med rr_qd32 iops)"
printf '  4 KiB randread QD 1    avg < 12 us          now %s us\n' "$(med rr_qd1 avg)"
printf '  128 KiB read QD 16     >= 80%% of iperf3     now %s%% (null), %s%% (malloc)\n' \
	"$(pct "$(med seq128 mibps)" "$IPERF")" "$(pct "$(med seq128_m mibps)" "$IPERF")"
echo "load average (1, 5, 15 min): before $LOAD_BEFORE, after $LOAD_AFTER ($(nproc) cores, shared)"
echo "a busy loop got, before the runs: $SHARE % of the two cores used (100 100 on an idle host)"
if [ -n "$PROFILE_OUT" ]; then
	echo
	echo "hottest symbols in axond (linux-perf, 4 KiB randread QD 32):"
	echo "$PROFILE_OUT"
fi
