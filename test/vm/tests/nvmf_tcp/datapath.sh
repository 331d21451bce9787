# shellcheck shell=bash
# Guest script: axond in the guest, the kernel's nvme-tcp host in front of it.
# Discovery, identity, namespace hot add/remove, fio verify with digests off
# and on, disconnect/reconnect, and the user's walkthrough to a mounted ext4.
# Run by test/vm/tests/test_nvmf_tcp_kernel_host.py (test/vm/lib.sh sourced).
. test/vm/tests/nvmf_tcp/lib.sh

NQN=nqn.2026-01.io.axon:vm-data
SN=AXONVM0001
MN="Axon VM Test Controller"
UUID1=6f1c2a3e-9d4b-4c55-8e21-0a1b2c3d4e51
UUID2=6f1c2a3e-9d4b-4c55-8e21-0a1b2c3d4e52
# Bytes per block size: emulation moves a few MB/s at 4 KiB.
declare -A FIO_SIZE=([4k]=8M [128k]=16M [1m]=16M)

ax_guest_setup
ax_start 0x3
ax_transport
rpc bdev_malloc_create -b Malloc0 64 512 >/dev/null
rpc nvmf_create_subsystem "$NQN" -s "$SN" -d "$MN" -a -m 8
rpc nvmf_subsystem_add_ns "$NQN" Malloc0 -n 1 -u "$UUID1" >/dev/null
rpc nvmf_subsystem_add_listener "$NQN" -t tcp -a "$AX_ADDR" -s "$AX_PORT" -f ipv4
check axond-configured

# ---- discovery --------------------------------------------------------------------
nvme discover -t tcp -a "$AX_ADDR" -s "$AX_PORT" -q "$AX_HOST1" -I "$AX_HOSTID1" >/tmp/disc
cat /tmp/disc
grep -Eq "^subnqn: +$NQN\$" /tmp/disc
grep -Eq '^trsvcid: +4420$' /tmp/disc
grep -Eq '^trtype: +tcp$' /tmp/disc
check discover-lists-subsystem

# ---- identity as the kernel sees it -------------------------------------------------
c=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1")
dev=$(ns_dev "$c" 1)
blk=${dev#/dev/}
echo "controller $c namespace 1 $dev"
test "$(xargs <"/sys/class/nvme/$c/serial")" = "$SN"
test "$(xargs <"/sys/class/nvme/$c/model")" = "$MN"
test "$(cat "/sys/class/nvme/$c/subsysnqn")" = "$NQN"
test "$(cat "/sys/class/nvme/$c/transport")" = tcp
nvme id-ctrl "/dev/$c" -o json >/tmp/idctrl.json
test "$(jq -r '.sn | rtrimstr(" ")' /tmp/idctrl.json | xargs)" = "$SN"
test "$(jq -r .mn /tmp/idctrl.json | xargs)" = "$MN"
test "$(jq -r .subnqn /tmp/idctrl.json)" = "$NQN"
test "$(blockdev --getsize64 "$dev")" = $((64 << 20))
test "$(blockdev --getss "$dev")" = 512
test "$(cat "/sys/block/$blk/uuid")" = "$UUID1"
nvme id-ns "$dev" -o json >/tmp/idns.json
jq -e '.nsze == 131072 and .ncap == 131072 and .lbafs[.flbas % 16].ds == 9' /tmp/idns.json
nvme ns-descs "$dev" | tee /tmp/descs
grep -qi "uuid *: *$UUID1" /tmp/descs
lsblk -dno SIZE,SERIAL,MODEL "$dev" | tee /tmp/lsblk
grep -q "^ *64M $SN *$MN *\$" /tmp/lsblk
check identity-matches-rpc

# ---- namespace hot add and remove while connected -----------------------------------
rpc bdev_malloc_create -b Malloc1 32 4096 >/dev/null
test "$(rpc nvmf_subsystem_add_ns "$NQN" Malloc1 -n 2 -u "$UUID2")" = 2
dev2=$(ns_dev "$c" 2)
echo "hot-added namespace 2: $dev2"
nvme list-ns "/dev/$c" | tee /tmp/listns
grep -q ':0x2$' /tmp/listns
test "$(blockdev --getsize64 "$dev2")" = $((32 << 20))
test "$(blockdev --getss "$dev2")" = 4096
test "$(cat "/sys/block/${dev2#/dev/}/uuid")" = "$UUID2"
fio_verify "$dev2" 4k 4M
check ns-hot-add-seen
rpc nvmf_subsystem_remove_ns "$NQN" 2
vm_wait_gone "$dev2"
nvme list-ns "/dev/$c" | tee /tmp/listns
! grep -q ':0x2$' /tmp/listns || vm_die "namespace 2 still listed"
grep -q ':0x1$' /tmp/listns
rpc bdev_malloc_delete Malloc1
check ns-hot-remove-seen

# ---- fio verify, digests off ------------------------------------------------------
for bs in 4k 128k 1m; do
	fio_verify "$dev" "$bs" "${FIO_SIZE[$bs]}"
	check "fio-verify-nodigest-$bs"
done

# ---- disconnect, then reconnect with header and data digests --------------------------
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"
vm_wait_for 10 qpairs_are "$NQN" 0
ctrlrs_are "$NQN" 0
check disconnect-leaves-nothing

rpc log_set_print_level debug
rpc log_set_flag nvmf_tcp
c=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1" -g -G)
rpc log_clear_flag nvmf_tcp
rpc log_set_print_level notice
dev=$(ns_dev "$c" 1)
# Every queue (admin and I/O) asked for both digests in its ICReq.
n_ic=$(grep -c 'ICReq hpda [0-9]* dgst 0x3' "$AX_LOG" || true)
n_q=$(live_qpairs "$NQN")
echo "ICReqs with both digests: $n_ic, queue pairs: $n_q"
[ "$n_q" -ge 2 ] && [ "$n_ic" -eq "$n_q" ]
check reconnect-with-digests
for bs in 4k 128k 1m; do
	fio_verify "$dev" "$bs" "${FIO_SIZE[$bs]}"
	check "fio-verify-digest-$bs"
done
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"

# ---- the README's path: a filesystem on the remote namespace -------------------------
c=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1")
dev=$(ns_dev "$c" 1)
mkfs.ext4 -q -F "$dev"
mkdir -p /tmp/mnt
mount "$dev" /tmp/mnt
head -c 3M /dev/urandom >/tmp/mnt/payload
sum=$(sha256sum </tmp/mnt/payload)
umount /tmp/mnt
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"
echo 3 >/proc/sys/vm/drop_caches
c=$(connect "$NQN" "$AX_HOST1" "$AX_HOSTID1")
dev=$(ns_dev "$c" 1)
mount "$dev" /tmp/mnt
test "$(sha256sum </tmp/mnt/payload)" = "$sum"
umount /tmp/mnt
nvme disconnect -n "$NQN" >/dev/null
vm_wait_gone "$dev"
check ext4-survives-reconnect

vm_wait_for 10 qpairs_are "$NQN" 0
ax_stop
ax_kernel_ok
check axond-clean-exit
