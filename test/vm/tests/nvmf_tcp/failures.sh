# shellcheck shell=bash
# Guest script: axond in the guest, hosts that misbehave. A host that is not
# allowed, a host killed mid-I/O next to one that keeps working, keep-alive
# timeouts (a silent raw host; a kernel host whose packets stop arriving).
# Run by test/vm/tests/test_nvmf_tcp_kernel_host.py (test/vm/lib.sh sourced).
. test/vm/tests/nvmf_tcp/lib.sh

NQN=nqn.2026-01.io.axon:vm-hosts

# One block device per controller and namespace (nvme<ctrl>n<ns>), even for
# two controllers of one subsystem: the victim and the survivor below must
# not share a multipath head that would fail I/O over between them.
modprobe nvme_core multipath=N
ax_guest_setup
ax_start 0x3
ax_transport
rpc bdev_malloc_create -b Malloc0 32 512 >/dev/null
rpc bdev_malloc_create -b Malloc1 32 512 >/dev/null
rpc nvmf_create_subsystem "$NQN" -s AXONVM0002 -m 4
rpc nvmf_subsystem_add_ns "$NQN" Malloc0 -n 1 >/dev/null
rpc nvmf_subsystem_add_ns "$NQN" Malloc1 -n 2 >/dev/null
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a "$AX_ADDR" -s "$AX_PORT" -f ipv4
test "$(rpc_jq '.[0].allow_any_host' nvmf_get_subsystems "$NQN")" = false
check axond-configured

# ---- a host that is not allowed ---------------------------------------------------
nvme discover -t tcp -a "$AX_ADDR" -s "$AX_PORT" -q "$AX_HOST3" -I "$AX_HOSTID3" >/tmp/disc || true
! grep -q "$NQN" /tmp/disc || vm_die "discovery shows $NQN to a host that is not allowed"
if nvme connect -t tcp -a "$AX_ADDR" -s "$AX_PORT" -n "$NQN" -q "$AX_HOST3" -I "$AX_HOSTID3" \
	2>/tmp/connect.err; then
	vm_die "a host that is not allowed connected"
fi
cat /tmp/connect.err
dmesg | grep -q "Connect for subsystem $NQN is not allowed, hostnqn: $AX_HOST3" ||
	{ dmesg | tail -5; vm_die "the kernel did not report Connect Invalid Host"; }
test -z "$(ls /sys/class/nvme)"
ctrlrs_are "$NQN" 0
check host-refused

rpc nvmf_subsystem_add_host "$NQN" "$AX_HOST3"
nvme discover -t tcp -a "$AX_ADDR" -s "$AX_PORT" -q "$AX_HOST3" -I "$AX_HOSTID3" >/tmp/disc
grep -q "$NQN" /tmp/disc
c=$(connect "$NQN" "$AX_HOST3" "$AX_HOSTID3")
dev=$(ns_dev "$c" 1)
dd if="$dev" of=/dev/null bs=4k count=16 iflag=direct status=none
test "$(rpc_jq '.[0].hostnqn' nvmf_subsystem_get_controllers "$NQN")" = "$AX_HOST3"
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"
check host-allowed-after-add-host

# ---- a host killed mid-I/O next to one that keeps going ------------------------------
rpc nvmf_subsystem_add_host "$NQN" "$AX_HOST1"
rpc nvmf_subsystem_add_host "$NQN" "$AX_HOST2"
vm_wait_for 10 qpairs_are "$NQN" 0
# The survivor: namespace 2, from 127.0.0.1. The victim: namespace 1, from
# 127.0.0.2 so its sockets can be told apart. (Both name their source address:
# nvme-cli refuses a second connection to the same target as "already
# connected", whatever the host NQN, unless the host addresses differ.)
cs=$(connect "$NQN" "$AX_HOST2" "$AX_HOSTID2" -w 127.0.0.1)
ds=$(ns_dev "$cs" 2)
cv=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1" -w 127.0.0.2)
dv=$(ns_dev "$cv" 1)
cntlid_s=$(cat "/sys/class/nvme/$cs/cntlid")
cntlid_v=$(cat "/sys/class/nvme/$cv/cntlid")
echo "survivor $cs ($ds, cntlid $cntlid_s), victim $cv ($dv, cntlid $cntlid_v)"
rpc nvmf_subsystem_get_qpairs "$NQN" >/tmp/qp.json
nq_s=$(jq "[.[] | select(.cntlid == $cntlid_s)] | length" /tmp/qp.json)
nq_v=$(jq "[.[] | select(.cntlid == $cntlid_v)] | length" /tmp/qp.json)
echo "queue pairs: survivor $nq_s, victim $nq_v"
[ "$nq_s" -ge 2 ] && [ "$nq_v" -ge 2 ]

# The victim first (it runs until killed), then the survivor, each seen with
# I/O in flight.
busy() { [ "$(awk '{print $1 + $2}' "/sys/block/${1#/dev/}/inflight")" -gt 0 ]; }
fio --name=victim --thread --filename="$dv" --direct=1 --ioengine=libaio --rw=randwrite \
	--bs=128k --iodepth=16 --size=32M --time_based --runtime=120 --output=/tmp/fio.victim \
	>/dev/null 2>&1 &
fio_v=$!
vm_wait_for 30 busy "$dv" || { cat /tmp/fio.victim; vm_die "no I/O in flight on the victim's $dv"; }
fio --name=survivor --filename="$ds" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=16M --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--verify_state_save=0 --output=/tmp/fio.survivor >/dev/null 2>&1 &
fio_s=$!
vm_wait_for 30 busy "$ds" || { cat /tmp/fio.survivor; vm_die "no I/O in flight on the survivor's $ds"; }
ss -tn src 127.0.0.2 dport = :4420 | tee /tmp/ss.before
test "$(tail -n +2 /tmp/ss.before | wc -l)" = "$nq_v"
# The host dies: its connections are reset under the I/O, the process is
# killed, and the kernel host is stopped from reconnecting.
ss -K src 127.0.0.2 dport = :4420 >/dev/null
kill -9 "$fio_v"
kill -0 "$fio_s" 2>/dev/null || vm_die "the survivor's fio ended before the victim died: make it longer"
echo 1 >"/sys/class/nvme/$cv/delete_controller"
wait "$fio_v" || true
check victim-killed

# axond drops every victim queue pair and keeps the survivor's.
gone() {
	rpc nvmf_subsystem_get_qpairs "$NQN" >/tmp/qp.json &&
		[ "$(jq "[.[] | select(.cntlid == $cntlid_v)] | length" /tmp/qp.json)" = 0 ]
}
vm_wait_for 20 gone || { cat /tmp/qp.json; vm_die "victim queue pairs left in axond"; }
test "$(jq length /tmp/qp.json)" = "$nq_s"
test "$(jq "[.[] | select(.cntlid == $cntlid_s and .state == \"active\")] | length" /tmp/qp.json)" = "$nq_s"
test "$(rpc_jq '[.[].cntlid] | @sh' nvmf_subsystem_get_controllers "$NQN")" = "$cntlid_s"
check victim-qpairs-gone-survivor-kept
wait "$fio_s" || { cat /tmp/fio.survivor; vm_die "the survivor's fio failed"; }
grep -q 'err= 0' /tmp/fio.survivor
fio_verify "$ds" 128k 4M
check survivor-io-verified
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$ds"
vm_wait_for 10 qpairs_are "$NQN" 0
check all-qpairs-gone

# ---- keep-alive timeout: a raw host that goes silent ---------------------------------
python3 test/vm/tests/nvmf_tcp/kato_raw.py "$AX_PORT" "$NQN" "$AX_HOST1" >/tmp/kato.out 2>&1 &
kato_pid=$!
vm_wait_for 30 grep -q READY /tmp/kato.out || { cat /tmp/kato.out; vm_die "raw host did not connect"; }
vm_wait_for 10 ctrlrs_are "$NQN" 0 || {
	rpc nvmf_subsystem_get_controllers "$NQN"
	vm_die "the silent host's controller is still there"
}
wait "$kato_pid" || { cat /tmp/kato.out; vm_die "axond did not close the silent host's connection"; }
cat /tmp/kato.out
# KATO 1000 ms: gone after 1 to 2 s; allow for a loaded machine.
awk '/^CLOSED after/ { exit !($3 >= 0.9 && $3 <= 5) }' /tmp/kato.out
grep -q 'keep alive timeout (1000 ms)' "$AX_LOG"
check kato-raw-host-torn-down

# ---- keep-alive timeout: a kernel host whose packets stop arriving -------------------
c=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1" -k 1 --reconnect-delay=1)
dev=$(ns_dev "$c" 1)
cntlid=$(cat "/sys/class/nvme/$c/cntlid")
# While the host is there, a 1 s keep-alive holds (its Keep Alive commands
# arrive in time).
sleep 3
test "$(cat "/sys/class/nvme/$c/state")" = live
test "$(rpc_jq '[.[].cntlid] | @sh' nvmf_subsystem_get_controllers "$NQN")" = "$cntlid"
modprobe sch_netem
tc qdisc add dev lo root netem loss 100%
t0=$SECONDS
vm_wait_for 15 ctrlrs_are "$NQN" 0 ||
	{ tc qdisc del dev lo root; vm_die "axond kept the controller of a host it no longer hears"; }
echo "controller gone after $((SECONDS - t0)) s"
tc qdisc del dev lo root
# The kernel host notices (its own keep-alive, or the reset its retransmits
# meet), reconnects as a new controller (axond hands out controller IDs
# round-robin, so a new cntlid), and its namespace works again.
reconnected() {
	grep -qx live "/sys/class/nvme/$c/state" && [ "$(cat "/sys/class/nvme/$c/cntlid")" != "$cntlid" ]
}
vm_wait_for 60 reconnected || vm_die "the kernel host did not come back ($(cat "/sys/class/nvme/$c/state"))"
vm_wait_for 10 ctrlrs_are "$NQN" 1
dd if="$dev" of=/dev/null bs=4k count=16 iflag=direct status=none
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"
check kato-kernel-host-torn-down-and-back

vm_wait_for 10 qpairs_are "$NQN" 0
ax_stop
ax_kernel_ok
check axond-clean-exit
