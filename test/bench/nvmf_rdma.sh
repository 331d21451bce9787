#!/usr/bin/env bash
# NVMe-oF RDMA target benchmark (issue 8). axond on core 0 exports a null bdev
# over NVMe/RDMA on 10.99.0.1:4420 (soft-RoCE, rxe0); app/perf on core 1 drives
# it over trtype:RDMA, one queue pair. Workloads: 4 KiB randread at QD 1 and
# 32, 128 KiB sequential read at QD 16. Prints IOPS, MiB/s and perf's average,
# p50 and p99 latency (us), the median of RUNS runs of SECONDS each.
#
# SOFT-ROCE UNDER EMULATION IS FOR CORRECTNESS ONLY: the host has no RDMA NIC,
# so this runs in the test/vm guest (QEMU TCG, rdma_rxe over a veth pair),
# where every byte is copied by the emulated CPU. The figures show that the
# path works and how it scales with queue depth, never what Axon does on a
# real RoCE/InfiniBand NIC. On a machine with one, run it with --in-guest
# (and -a ADDR) directly.
#
# On the host it builds an optimised copy (-O2, no sanitizers, RDMA included)
# into build/release_rdma, then boots the guest with test/vm/run --rdma and runs
# itself there with --in-guest. --use-build measures build/bin (as configured,
# usually ASan+UBSan) instead.
#
# Usage: test/bench/nvmf_rdma.sh [-r RUNS] [-t SECONDS] [--use-build]
#        test/bench/nvmf_rdma.sh --in-guest [-r RUNS] [-t SECONDS] [-a ADDR] [--bin DIR]
set -euo pipefail
# shellcheck source=test/bench/common.sh
source "$(dirname "$0")/common.sh"
# Our own release tree: nvmf_tcp.sh builds a TCP-only axond into build/release.
# shellcheck disable=SC2034 # read by bench_make and bench_app_libs (common.sh)
BENCH_REL=(BUILD_DIR="$ROOT/build/release_rdma" CONFIG_DEBUG=n CONFIG_ASAN=n CONFIG_UBSAN=n)
RUNS=3
SECS=5
USE_BUILD=0
IN_GUEST=0
ADDR=${AXON_VM_RDMA_ADDR0:-10.99.0.1}
BIN_ARG=
NQN=nqn.2026-01.io.axon:bench-rdma
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-a) ADDR=$2; shift 2 ;;
	--bin) BIN_ARG=$2; shift 2 ;;
	--use-build) USE_BUILD=1; shift ;;
	--in-guest) IN_GUEST=1; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done

NOTE="NOTE: soft-RoCE (rdma_rxe) under QEMU emulation: for correctness only, not performance figures."

# ---- host side: build, then run in the guest ----------------------------------------
if [ "$IN_GUEST" = 0 ]; then
	grep -Eq "^CONFIG_RDMA *:?= *y" mk/config.mk || { echo "RDMA is not configured (mk/config.mk)" >&2; exit 1; }
	if [ "$USE_BUILD" = 1 ]; then
		BIN=$ROOT/build/bin
		echo "build: build/bin (as configured: $(grep -E '^CONFIG_(DEBUG|ASAN|UBSAN)' mk/config.mk | tr '\n' ' '))"
	else
		BIN=$ROOT/build/release_rdma/bin
		echo "build: build/release_rdma (-O2, no sanitizers, RDMA); building..."
		# -Wno-error: an -O2-only warning must not stop the measurement (it is printed).
		for app in axond perf; do
			for l in $(bench_app_libs "app/$app"); do
				bench_make "$(bench_lib_dir "$l")" LOCAL_CFLAGS=-Wno-error
			done
			bench_make "app/$app" LOCAL_CFLAGS=-Wno-error
		done
	fi
	echo "$NOTE"
	exec test/vm/run --rdma --timeout $((240 + RUNS * 3 * (SECS + 10))) -- \
		test/bench/nvmf_rdma.sh --in-guest -r "$RUNS" -t "$SECS" --bin "$BIN"
fi

# ---- in the guest (or on a machine with an RDMA NIC) --------------------------------
BIN=${BIN_ARG:-$ROOT/build/bin}
for b in axond perf; do
	[ -x "$BIN/$b" ] || { echo "$BIN/$b missing" >&2; exit 1; }
done
bench_tmpdir
echo "$NOTE"
cat >"$TMP/target.json" <<JSON
{"subsystems": [
 {"subsystem": "bdev", "config": [
  {"method": "bdev_set_options", "params": {"bdev_io_pool_size": 2047, "small_buf_pool_size": 1023,
   "large_buf_pool_size": 127}},
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 4096}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "RDMA", "max_queue_depth": 128,
   "in_capsule_data_size": 4096, "max_io_size": 131072, "num_shared_buffers": 1023,
   "buf_cache_size": 32, "max_srq_depth": 512, "num_cqe": 2048}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true,
   "serial_number": "AXONBENCHRDMA1", "model_number": "Axon RDMA benchmark"}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Null0"}}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "listen_address":
   {"trtype": "RDMA", "adrfam": "IPv4", "traddr": "$ADDR", "trsvcid": "4420"}}}]}]}
JSON

# Every DMA byte is registered with every RDMA device at start: small memory.
"$BIN/axond" --no-huge -s 256 -m 0x1 -r "$TMP/axond.sock" --file-prefix "bench_rdma_tgt_$$" \
	-c "$TMP/target.json" >"$TMP/axond.log" 2>&1 &
TGT_PID=$!
BENCH_PIDS+=("$TGT_PID")
for _ in $(seq 600); do
	grep -q "axond started on" "$TMP/axond.log" && break
	kill -0 "$TGT_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "listening on $ADDR port 4420" "$TMP/axond.log"; then
	echo "axond did not start; log:" >&2
	cat "$TMP/axond.log" >&2
	exit 1
fi

# qd size pattern -> "IOPS MiB/s avg p50 p99" (n/a each on failure)
perf_run() {
	local qd=$1 size=$2 pattern=$3 out rc=0
	out=$("$BIN/perf" --no-huge -s 128 -c 0x2 --no-adaptive-polling --file-prefix "bench_rdma_ini_$$" \
		-q "$qd" -o "$size" -w "$pattern" -t "$SECS" \
		-r "trtype:RDMA adrfam:IPv4 traddr:$ADDR trsvcid:4420 subnqn:$NQN ns:1" \
		2>"$TMP/perf.err") || rc=$?
	if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^Total'; then
		echo "perf -q $qd -o $size -w $pattern failed ($rc):" >&2
		{ echo "$out"; tail -5 "$TMP/perf.err"; } | tail -8 >&2
		echo "n/a n/a n/a n/a n/a"
		return
	fi
	echo "$out" | awk '/^Total/ {print $2, $3, $4, $7, $8}'
}

WORKLOADS=(
	"rr_qd1   1  4096   randread 4 KiB randread QD 1"
	"rr_qd32  32 4096   randread 4 KiB randread QD 32"
	"seq128   16 131072 read     128 KiB read QD 16"
)
FIELDS=(iops mibps avg p50 p99)
echo "axond (core 0) and perf (core 1) on $ADDR:4420, $(basename "$(dirname "$BIN")")/bin; load average $(bench_loadavg)"
for run in $(seq "$RUNS"); do
	for w in "${WORKLOADS[@]}"; do
		read -r label qd size pattern desc <<<"$w"
		read -r -a vals <<<"$(perf_run "$qd" "$size" "$pattern")"
		for i in "${!FIELDS[@]}"; do echo "${vals[$i]}" >>"$TMP/$label.${FIELDS[$i]}"; done
		printf '  run %d %-26s IOPS %9s  MiB/s %8s  avg %9s  p50 %9s  p99 %9s us\n' \
			"$run" "$desc" "${vals[@]}"
	done
done

kill -TERM "$TGT_PID"
rc=0
wait "$TGT_PID" || rc=$?
if [ "$rc" -ne 0 ] || grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TMP/axond.log"; then
	echo "axond exited with $rc; log:" >&2
	tail -30 "$TMP/axond.log" >&2
	exit 1
fi

med() { if grep -q 'n/a' "$TMP/$1.$2"; then echo "n/a"; else median <"$TMP/$1.$2"; fi; }
echo
echo "== NVMe/RDMA target benchmark, median of $RUNS run(s) of $SECS s =="
echo "$NOTE"
printf '%-28s %10s %9s %10s %10s %10s\n' workload IOPS MiB/s "avg(us)" "p50(us)" "p99(us)"
for w in "${WORKLOADS[@]}"; do
	read -r label qd size pattern desc <<<"$w"
	printf '%-28s %10s %9s %10s %10s %10s\n' "$desc" "$(med "$label" iops)" "$(med "$label" mibps)" \
		"$(med "$label" avg)" "$(med "$label" p50)" "$(med "$label" p99)"
done
echo "load average after: $(bench_loadavg) (guest)"
