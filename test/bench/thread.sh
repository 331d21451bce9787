#!/usr/bin/env bash
# Threading benchmark on two cores (0 and 1). Prints, each the median of RUNS:
#   - messages/s between two reactors (axon_thread_send_msg), beside a plain
#     DPDK rte_ring MP/SC loop between the same two cores in the same run;
#   - the time of one empty poller iteration (the whole reactor loop);
#   - axond's CPU use over IDLE seconds, adaptive polling on and off.
#
# Build used: an optimised copy without sanitizers, built by this script into
# build/release (same sources, CONFIG_DEBUG/ASAN/UBSAN=n on the make command
# line; the configured tree under build/ is left as it is). --use-build
# measures build/bin instead (the configured, usually ASan, build).
#
# Usage: test/bench/thread.sh [-r RUNS] [-i IDLE_SECONDS] [-n MESSAGES] [--use-build]
set -euo pipefail
source "$(dirname "$0")/common.sh"
RUNS=3
IDLE=10
MESSAGES=20000000
USE_BUILD=0
while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-i) IDLE=$2; shift 2 ;;
	-n) MESSAGES=$2; shift 2 ;;
	--use-build) USE_BUILD=1; shift ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 1 ;;
	esac
done
if [ "$(nproc)" -lt 2 ]; then
	echo "thread.sh needs two cores" >&2
	exit 1
fi

if bench_select_build "$USE_BUILD"; then
	bench_make lib
	bench_make app/axond
	bench_make test/bench
fi
bench_tmpdir # median, cpu_ns and the clean-up of TMP and BENCH_PIDS: common.sh

# ---- messages and pollers ----------------------------------------------------
: >"$TMP/ring" ; : >"$TMP/msg" ; : >"$TMP/poll" ; : >"$TMP/pollcpu"
for i in $(seq "$RUNS"); do
	out=$("$BIN/thread_bench" -m 0x3 --no-huge -s 1024 --file-prefix "bench_$$_$i" -n "$MESSAGES")
	echo "$out" | awk '/^rte_ring_mp_sc:/ {print $2}' >>"$TMP/ring"
	echo "$out" | awk '/^axon_send_msg:/ {print $2}' >>"$TMP/msg"
	echo "$out" | awk '/^empty_poller_iteration:/ {print $2}' >>"$TMP/poll"
	echo "$out" | awk '/^empty_poller_iteration_cpu:/ {print $2}' >>"$TMP/pollcpu"
	echo "run $i: $(echo "$out" | grep -v '^cores' | tr '\n' ' ')"
done

# ---- axond idle CPU ------------------------------------------------------------

# The share of a core a plain busy loop gets here (1.0 on an unloaded host).
spin_share() {
	taskset -c 1 sh -c 'while :; do :; done' &
	local pid=$! a b t0 t1
	BENCH_PIDS+=("$pid")
	sleep 0.5
	a=$(cpu_ns "$pid"); t0=$(date +%s.%N)
	sleep 2
	b=$(cpu_ns "$pid"); t1=$(date +%s.%N)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	awk -v d=$((b - a)) -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.0f", d / 1e9 / (t1 - t0) * 100}'
}

idle_cpu() { # run-id, extra axond args... -> % of one core over IDLE seconds
	local id=$1; shift
	local sock="$TMP/axond_$id.sock" pid a b t0 t1 rc
	"$BIN/axond" -m 0x3 --no-huge -s 1024 -r "$sock" --file-prefix "bench_axond_$$_$id" "$@" \
		>"$TMP/axond_$id.log" 2>&1 &
	pid=$!
	BENCH_PIDS+=("$pid")
	for _ in $(seq 300); do
		[ -S "$sock" ] && python3 scripts/rpc.py -s "$sock" -t 1 spdk_get_version >/dev/null 2>&1 && break
		sleep 0.1
	done
	sleep 1
	a=$(cpu_ns "$pid"); t0=$(date +%s.%N)
	sleep "$IDLE"
	b=$(cpu_ns "$pid"); t1=$(date +%s.%N)
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "axond exited with $rc; log:" >&2
		cat "$TMP/axond_$id.log" >&2
		exit 1
	fi
	awk -v d=$((b - a)) -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.3f", d / 1e9 / (t1 - t0) * 100}'
}

: >"$TMP/on" ; : >"$TMP/off"
for i in $(seq "$RUNS"); do
	on=$(idle_cpu "on_$i")
	off=$(idle_cpu "off_$i" --no-adaptive-polling)
	echo "$on" >>"$TMP/on"
	echo "$off" >>"$TMP/off"
	echo "run $i: axond idle CPU, adaptive on ${on}%, off ${off}% (2 reactors; % of one core)"
done
spin=$(spin_share)

echo
echo "== thread benchmark, 2 cores, median of $RUNS run(s) =="
printf 'messages between two reactors:  %8.2f M/s   (goal >= 10 M/s)\n' "$(median <"$TMP/msg")"
printf 'plain rte_ring MP/SC, same run:  %8.2f M/s   (1 enqueue per message, dequeue bursts of 32)\n' "$(median <"$TMP/ring")"
printf 'one empty poller iteration:      %8.1f ns   (wall time; %.1f ns of the reactor'"'"'s CPU time)\n' \
	"$(median <"$TMP/poll")" "$(median <"$TMP/pollcpu")"
printf 'axond idle CPU, adaptive on:     %8.3f %%    of one core, both reactors together, over %s s (goal < 2%%)\n' "$(median <"$TMP/on")" "$IDLE"
printf 'axond idle CPU, adaptive off:    %8.2f %%    of one core (2 polling reactors: 200%% at most)\n' "$(median <"$TMP/off")"
printf 'a plain busy loop gets here:     %8s %%    of one core (scheduler share on this host)\n' "$spin"
