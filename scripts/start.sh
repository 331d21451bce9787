#!/usr/bin/env bash
# The start command: installs what is missing, builds, and starts axond in the
# background with the default configuration (scripts/default_config.json: a
# 256 MiB RAM namespace, 4 KiB blocks, at nqn.2026-01.io.axon:default on
# NVMe/TCP 127.0.0.1:4420, any host allowed). Then it prints the nvme-cli
# lines that attach the namespace on this host.
#
# Environment:
#   AXON_RPC_SOCK   JSON-RPC socket (default /var/tmp/axon.sock)
#   AXON_LOG        axond's output (default /tmp/axond.log)
#   AXON_CONFIG     configuration replayed at start (default scripts/default_config.json)
#   AXON_CORES      reactor core mask (default 0x1)
#   AXON_NO_BUILD=1 skip pkgdep.sh, configure and make (the tree is built already)
#
# Without hugepages axond falls back to ordinary pages by itself (1 GiB).
# Stop it with `kill PID` (printed below) or `scripts/rpc.py spdk_kill_instance SIGTERM`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${AXON_NO_BUILD:-0}" != 1 ]; then
	./scripts/pkgdep.sh
	[ -f mk/config.mk ] || ./configure
	make -j"$(nproc)"
fi
SOCK=${AXON_RPC_SOCK:-/var/tmp/axon.sock}
LOG=${AXON_LOG:-/tmp/axond.log}
CONFIG=${AXON_CONFIG:-scripts/default_config.json}
CORES=${AXON_CORES:-0x1}
RPC=(./scripts/rpc.py -s "$SOCK")

# The nvme-cli lines for every NVMe/TCP listener the running daemon has.
print_connect() {
	local lines
	lines=$("${RPC[@]}" -t 5 nvmf_get_subsystems 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s.get("subtype") != "NVMe":
        continue
    for a in s.get("listen_addresses", []):
        if a.get("trtype", "").upper() == "TCP":
            print("%s %s %s" % (a["traddr"], a["trsvcid"], s["nqn"]))
') || { echo "(nvmf_get_subsystems failed: see scripts/rpc.py -s $SOCK nvmf_get_subsystems)"; return; }
	if [ -z "$lines" ]; then
		echo "(no NVMe/TCP listener is configured)"
		return
	fi
	echo "Attach it on this host (as root; modprobe nvme-tcp first):"
	while read -r addr port nqn; do
		echo "  nvme discover -t tcp -a $addr -s $port"
		echo "  nvme connect -t tcp -a $addr -s $port -n $nqn"
	done <<<"$lines"
	echo "Detach with: nvme disconnect -n <nqn>"
}

if [ -S "$SOCK" ] && "${RPC[@]}" -t 2 spdk_get_version >/dev/null 2>&1; then
	echo "axond is already running on $SOCK"
	print_connect
	exit 0
fi

# A listener in the configuration whose address is taken would make the
# replay fail after EAL start-up; say so plainly before starting.
busy=$(python3 - "$CONFIG" <<'EOF'
import errno, json, socket, sys
doc = json.load(open(sys.argv[1]))
for sub in doc.get("subsystems", []):
    for m in sub.get("config") or []:
        if m.get("method") != "nvmf_subsystem_add_listener":
            continue
        a = m["params"]["listen_address"]
        if a.get("trtype", "").upper() != "TCP":
            continue
        fam = socket.AF_INET6 if a.get("adrfam", "IPv4").lower() == "ipv6" else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((a["traddr"], int(a["trsvcid"])))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    print("%s:%s" % (a["traddr"], a["trsvcid"]))
EOF
)
if [ -n "$busy" ]; then
	for b in $busy; do
		echo "cannot start axond: TCP address $b is already in use" >&2
		ss -Hltnp "sport = :${b##*:}" 2>/dev/null | sed 's/^/  /' >&2 || true
	done
	echo "stop what listens there, or start with another configuration (AXON_CONFIG=...)" >&2
	exit 1
fi

nohup ./build/bin/axond -m "$CORES" -r "$SOCK" -c "$CONFIG" >"$LOG" 2>&1 &
pid=$!
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
	if "${RPC[@]}" -t 1 framework_wait_init >/dev/null 2>&1; then
		echo "axond started (pid $pid, RPC socket $SOCK, log $LOG)"
		print_connect
		echo "Stop it with: kill $pid"
		exit 0
	fi
	kill -0 "$pid" 2>/dev/null || { echo "axond failed to start; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
	sleep 0.1
done
echo "axond did not answer on $SOCK within 30 s; see $LOG" >&2
exit 1
