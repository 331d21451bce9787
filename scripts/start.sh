#!/usr/bin/env bash
# The start command: installs what is missing, builds, and starts axond with
# the default configuration (scripts/default_config.json) in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/pkgdep.sh
[ -f mk/config.mk ] || ./configure
make -j"$(nproc)"
SOCK=${AXON_RPC_SOCK:-/var/tmp/axon.sock}
LOG=${AXON_LOG:-/tmp/axond.log}
if [ -S "$SOCK" ] && ./scripts/rpc.py -s "$SOCK" -t 2 axon_get_version >/dev/null 2>&1; then
	echo "axond is already running on $SOCK"
	exit 0
fi
nohup ./build/bin/axond -m 0x1 -r "$SOCK" -c scripts/default_config.json >"$LOG" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	if ./scripts/rpc.py -s "$SOCK" -t 1 framework_wait_init >/dev/null 2>&1; then
		echo "axond started (pid $pid, RPC socket $SOCK, log $LOG)"
		exit 0
	fi
	kill -0 "$pid" 2>/dev/null || { echo "axond failed to start; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
	sleep 0.1
done
echo "axond did not answer on $SOCK within 10 s; see $LOG" >&2
exit 1
