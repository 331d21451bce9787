#!/usr/bin/env bash
# app/perf's own overhead (issue 7): IOPS per initiator core at QD 128 against
# a null-backed axond NVMe/TCP target on 127.0.0.1, 4 KiB randread, one queue
# pair per initiator core. Runs:
#   - one initiator core (core 1), the target alone on core 0;
#   - two initiator cores (cores 0 and 1) when the machine has only two cores,
#     so core 0 is shared by the target and one perf reactor (said in the
#     output); with three cores or more, cores 1 and 2 and the target alone.
# For each: total IOPS, IOPS per initiator core, perf's CPU (user + sys over
# its whole run, start-up included) and the target's CPU over the run. A
# target near 100% of its core means the target, not perf, sets the figure:
# the IOPS per core is then a lower bound of what perf can drive.
# Each figure is the median of RUNS runs. TCP only: PCIe figures need real
# drives (emulated ones are functional only).
#
# Build used: build/release (see common.sh); --use-build measures build/bin.
#
# Usage: test/bench/nvme_perf.sh [-r RUNS] [-t SECONDS] [-q DEPTH] [--use-build]
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=3
SECS=5
QD=128
USE_BUILD=0
NQN=nqn.2026-01.io.axon:perf
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-q) QD=$2; shift 2 ;;
	--use-build) USE_BUILD=1; shift ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
	echo "nvme_perf.sh needs two cores" >&2
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
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 4096}}]},
 {"subsystem": "nvmf", "config": [
  {"method": "nvmf_create_transport", "params": {"trtype": "TCP", "max_queue_depth": 256}},
  {"method": "nvmf_create_subsystem", "params": {"nqn": "$NQN", "allow_any_host": true}},
  {"method": "nvmf_subsystem_add_listener", "params": {"nqn": "$NQN", "listen_address":
   {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "$PORT"}}},
  {"method": "nvmf_subsystem_add_ns", "params": {"nqn": "$NQN", "namespace": {"nsid": 1, "bdev_name": "Null0"}}}]}]}
EOF
"$BIN/axond" -m 0x1 -s 1024 -r "$TMP/axond.sock" --file-prefix "bench_perf_tgt_$$" \
	-c "$TMP/target.json" >"$TMP/axond.log" 2>&1 &
TGT_PID=$!
BENCH_PIDS+=("$TGT_PID")
if ! bench_wait_rpc "$TMP/axond.sock" "$TGT_PID"; then
	echo "axond did not start; log:" >&2
	cat "$TMP/axond.log" >&2
	exit 1
fi
HZ=$(getconf CLK_TCK)

# mask ncores -> "IOPS IOPS/core perf-CPU% target-CPU%" (or n/a)
perf_run() {
	local mask=$1 ncores=$2 out c0 c1 t0 t1 rc=0 tm
	c0=$(cpu_ticks "$TGT_PID"); t0=$(date +%s.%N)
	tm=$( { TIMEFORMAT='%U %S %R'; time "$BIN/perf" -c "$mask" -s 1024 --no-adaptive-polling \
		--file-prefix "bench_perf_ini_$$" -q "$QD" -o 4096 -w randread -t "$SECS" \
		-r "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:$PORT subnqn:$NQN" \
		>"$TMP/perf.out" 2>"$TMP/perf.err"; } 2>&1 ) || rc=$?
	c1=$(cpu_ticks "$TGT_PID"); t1=$(date +%s.%N)
	out=$(cat "$TMP/perf.out")
	if [ "$rc" -ne 0 ] || ! echo "$out" | grep -q '^Total'; then
		echo "perf -c $mask failed ($rc):" >&2
		{ echo "$out"; tail -5 "$TMP/perf.err"; } | tail -8 >&2
		echo "n/a n/a n/a n/a"
		return
	fi
	echo "$out" | awk -v n="$ncores" -v tm="$tm" -v c=$((c1 - c0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" '
		/^Total/ {split(tm, t, " ");
			printf "%s %.0f %.0f %.1f\n", $2, $2 / n, (t[1] + t[2]) / t[3] * 100,
				c / hz / (t1 - t0) * 100}'
}

if [ "$NCPU" -ge 3 ]; then
	TWO_MASK=0x6
	TWO_NOTE="cores 1 and 2; the target alone on core 0"
else
	TWO_MASK=0x3
	TWO_NOTE="cores 0 and 1: core 0 is SHARED by the target and one perf reactor"
fi
CASES=("one 0x2 1" "two $TWO_MASK 2")
FIELDS=(iops per_core perf_cpu tgt_cpu)
LOAD_BEFORE=$(bench_loadavg)
SHARE=$(bench_spin_share 0 1)
echo "a busy loop gets now (% of core 0, core 1): $SHARE (100 100 on an idle host)"
echo "load average before: $LOAD_BEFORE ($NCPU cores); target axond on core 0"
for run in $(seq "$RUNS"); do
	for c in "${CASES[@]}"; do
		read -r label mask n <<<"$c"
		read -r -a vals <<<"$(perf_run "$mask" "$n")"
		for i in "${!FIELDS[@]}"; do
			echo "${vals[$i]}" >>"$TMP/$label.${FIELDS[$i]}"
		done
		printf '  run %d, %s initiator core(s) (%s): IOPS %s, per core %s, perf CPU %s%%, target CPU %s%%\n' \
			"$run" "$n" "$mask" "${vals[@]}"
	done
done

kill -TERM "$TGT_PID"
rc=0
wait "$TGT_PID" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "axond exited with $rc; log:" >&2
	tail -20 "$TMP/axond.log" >&2
fi

med() {
	if grep -q 'n/a' "$TMP/$1.$2"; then echo "n/a"; else median <"$TMP/$1.$2"; fi
}
echo
echo "== app/perf overhead: 4 KiB randread, QD $QD per qpair, null bdev over NVMe/TCP (127.0.0.1), median of $RUNS run(s) of $SECS s =="
printf '%-26s %12s %16s %10s %11s\n' "initiator" "IOPS" "IOPS per core" "perf CPU" "target CPU"
for c in "${CASES[@]}"; do
	read -r label mask n <<<"$c"
	printf '%-26s %12s %16s %9s%% %10s%%\n' "$n core(s), mask $mask" "$(med "$label" iops)" \
		"$(med "$label" per_core)" "$(med "$label" perf_cpu)" "$(med "$label" tgt_cpu)"
done
echo "two initiator cores: $TWO_NOTE"
echo "(perf CPU: % of one core over its whole run; a target near 100% bounds the figure)"
echo "load average (1, 5, 15 min): before $LOAD_BEFORE, after $(bench_loadavg) ($NCPU cores, shared)"
echo "a busy loop got, before the runs: $SHARE % of the two cores used (100 100 on an idle host)"
