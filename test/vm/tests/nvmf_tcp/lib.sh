# shellcheck shell=bash disable=SC2034
# Guest-side helpers for the NVMe/TCP kernel-host tests
# (test/vm/tests/test_nvmf_tcp_kernel_host.py): axond running inside the guest,
# the kernel's nvme-tcp host in front of it. Sourced after test/vm/lib.sh,
# from the repository root, under `set -euo pipefail`.

AX_SOCK=/tmp/axond.sock
AX_LOG=/tmp/axond.log
AX_ADDR=127.0.0.1
AX_PORT=4420
AX_PID=
# Host NQNs are always passed explicitly: the guest's /etc/nvme is the host's.
AX_HOST1=nqn.2014-08.org.nvmexpress:uuid:a0a0a0a0-0000-4000-8000-000000000001
AX_HOST2=nqn.2014-08.org.nvmexpress:uuid:a0a0a0a0-0000-4000-8000-000000000002
AX_HOST3=nqn.2014-08.org.nvmexpress:uuid:a0a0a0a0-0000-4000-8000-000000000003
AX_HOSTID1=a0a0a0a0-0000-4000-8000-000000000001
AX_HOSTID2=a0a0a0a0-0000-4000-8000-000000000002
AX_HOSTID3=a0a0a0a0-0000-4000-8000-000000000003
AX_T0=$SECONDS

# A CHECK line the pytest side asserts on, with the seconds since the start.
check() { echo "CHECK $* (t+$((SECONDS - AX_T0))s)"; }

# rpc ARGS...: scripts/rpc.py's command line (SPDK syntax), run by one
# long-lived `rpc.py --server` coprocess: a python start costs a second or two
# under emulation, a request through the coprocess a few milliseconds.
# Prints the command's output; fails (showing the server's message) when the
# command failed.
rpc() {
	local line out='' st=1
	[ -n "${AXRPC_PID:-}" ] || vm_die "rpc: no coprocess (call ax_start first)"
	# --server parses each line as a whole command line: the socket goes in every one.
	printf '%q ' -s "$AX_SOCK" -t 30 "$@" >&"${AXRPC[1]}"
	echo >&"${AXRPC[1]}"
	while IFS= read -r line <&"${AXRPC[0]}"; do
		case $line in
		'**STATUS='*) st=${line#'**STATUS='}; break ;;
		esac
		out+=$line$'\n'
	done
	if [ "$st" != 0 ]; then
		printf 'rpc %s failed:\n%s' "$*" "$out" >&2
		return 1
	fi
	printf '%s' "$out"
}

# rpc_jq FILTER RPC-ARGS...: runs an RPC and prints jq FILTER of its result.
rpc_jq() {
	local filter=$1 out
	shift
	out=$(rpc "$@") || return 1
	jq -r "$filter" <<<"$out"
}

# ax_start CPUMASK [axond options...]: starts the ASan build of axond in the
# background with its log in $AX_LOG and waits until its RPC socket answers.
ax_start() {
	local mask=$1
	shift
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/test/lsan.supp:print_suppressions=0} \
		build/bin/axond --no-huge -s 1024 -m "$mask" -r "$AX_SOCK" --file-prefix axvm "$@" \
		>"$AX_LOG" 2>&1 &
	AX_PID=$!
	[ -n "${AXRPC_PID:-}" ] || coproc AXRPC { scripts/rpc.py --server 2>&1; }
	local deadline=$((SECONDS + 60))
	until [ -S "$AX_SOCK" ] && rpc framework_wait_init >/dev/null 2>&1; do
		kill -0 "$AX_PID" 2>/dev/null || { cat "$AX_LOG"; vm_die "axond exited during start-up"; }
		[ "$SECONDS" -lt "$deadline" ] || { cat "$AX_LOG"; vm_die "axond did not answer in 60s"; }
		sleep 0.2
	done
}

# ax_stop: SIGTERM, expects exit status 0 and no sanitizer report in the log.
ax_stop() {
	local rc=0 i t0=$SECONDS
	kill -TERM "$AX_PID"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$AX_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$AX_PID" 2>/dev/null; then
		kill -KILL "$AX_PID"
		tail -50 "$AX_LOG"
		vm_die "axond did not exit within 30s of SIGTERM"
	fi
	wait "$AX_PID" || rc=$?
	echo "axond exited with status $rc $((SECONDS - t0)) s after SIGTERM:"
	sed -n '/shutting down/,$p' "$AX_LOG" | tail -4
	AX_PID=
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$AX_LOG"; then
		cat "$AX_LOG"
		vm_die "sanitizer report in axond's log"
	fi
	[ "$rc" = 0 ] || { tail -50 "$AX_LOG"; vm_die "axond exited with $rc"; }
}

# On any failure: show what axond said (the last part of its log) and the
# kernel's view, so the test output names the broken step.
ax_on_exit() {
	local rc=$?
	if [ "$rc" != 0 ]; then
		echo "==== failed (status $rc); last lines of $AX_LOG ===="
		tail -80 "$AX_LOG" 2>/dev/null || true
		echo "==== dmesg (nvme) ===="
		dmesg | grep -i nvme | tail -30 || true
	fi
	[ -n "$AX_PID" ] && kill -KILL "$AX_PID" 2>/dev/null
	return "$rc"
}
trap ax_on_exit EXIT

# ax_guest_setup: the kernel host's side of the guest.
# Transparent hugepages off: with THP, Debian's 6.1 nvme-tcp host can hand TCP
# a page fragment that runs past the end of a huge folio (fio's buffers);
# over loopback the *receiver* is axond, and the kernel's hardened usercopy
# check in tcp_recvmsg() then BUGs inside axond's readv ("usercopy: Kernel
# memory exposure attempt detected from page alloc", mm/usercopy.c:101).
# A kernel bug (any userspace target on the same machine hits it, see
# openebs/mayastor#1693), not something axond can avoid: it never touches
# those pages.
ax_guest_setup() {
	echo never >/sys/kernel/mm/transparent_hugepage/enabled
	modprobe nvme-tcp
}

# ax_kernel_ok: fails when the guest kernel oopsed or hit a BUG.
ax_kernel_ok() {
	if dmesg | grep -Eq 'kernel BUG at|Oops:|general protection fault|BUG: '; then
		dmesg | grep -E -A30 'kernel BUG at|Oops:|general protection fault|BUG: ' | head -60
		vm_die "the guest kernel oopsed"
	fi
}

# ax_transport: the transport and the listener of the discovery subsystem.
ax_transport() {
	rpc nvmf_create_transport -t tcp -u 16384 -q 64 -c 4096 -i 131072
	rpc nvmf_subsystem_add_listener discovery -t tcp -a "$AX_ADDR" -s "$AX_PORT" -f ipv4
}

# connect NQN HOSTNQN HOSTID [nvme-cli options...]: the kernel host connects;
# prints the controller (nvmeN) that came up. Waits until it is live.
# shellcheck disable=SC2012 # the entries are nvmeN, nothing to quote
connect() {
	local nqn=$1 hostnqn=$2 hostid=$3 before after c
	shift 3
	before=$(ls /sys/class/nvme 2>/dev/null | sort)
	nvme connect -t tcp -a "$AX_ADDR" -s "$AX_PORT" -n "$nqn" -q "$hostnqn" -I "$hostid" "$@" >&2 ||
		return 1
	after=$(ls /sys/class/nvme | sort)
	c=$(comm -13 <(echo "$before") <(echo "$after") | head -1)
	[ -n "$c" ] || { vm_log "no new controller after nvme connect"; return 1; }
	vm_wait_for 20 grep -qx live "/sys/class/nvme/$c/state" ||
		{ vm_log "$c is $(cat "/sys/class/nvme/$c/state")"; return 1; }
	echo "$c"
}

# ns_dev CTRL NSID: waits for and prints the block device of namespace NSID
# behind controller CTRL, found by its nsid attribute. With native multipath
# the controller holds the hidden path node nvmeScCnN and the block device is
# the subsystem's head, nvmeSnN.
ns_dev() {
	local c=$1 nsid=$2 d name deadline=$((SECONDS + 20))
	while :; do
		for d in /sys/class/nvme/"$c"/nvme*n*; do
			[ "$(cat "$d/nsid" 2>/dev/null)" = "$nsid" ] || continue
			name=$(basename "$d")
			[[ $name =~ ^nvme([0-9]+)c[0-9]+n([0-9]+)$ ]] &&
				name=nvme${BASH_REMATCH[1]}n${BASH_REMATCH[2]}
			if [ -b "/dev/$name" ]; then
				echo "/dev/$name"
				return 0
			fi
		done
		[ "$SECONDS" -lt "$deadline" ] || { vm_log "no namespace $nsid behind $c"; return 1; }
		sleep 0.1
	done
}

# fio_verify DEV BS SIZE [fio options...]: randwrite of SIZE with crc32c
# verify headers, then fio's verify pass reads every block back and checks it.
fio_verify() {
	local dev=$1 bs=$2 size=$3 log=/tmp/fio.$$.log
	shift 3
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bs="$bs" --iodepth=8 --size="$size" --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 --output="$log" "$@" || { cat "$log"; return 1; }
	grep -q 'err= 0' "$log" || { cat "$log"; return 1; }
}

# live_qpairs NQN: the number of queue pairs axond shows for subsystem NQN.
live_qpairs() { rpc_jq length nvmf_subsystem_get_qpairs "$1"; }

# qpairs_are NQN N / ctrlrs_are NQN N: axond shows N queue pairs / controllers
# for NQN. Functions, so that vm_wait_for asks again on every try.
qpairs_are() { [ "$(live_qpairs "$1")" = "$2" ]; }
ctrlrs_are() { [ "$(rpc_jq length nvmf_subsystem_get_controllers "$1")" = "$2" ]; }
