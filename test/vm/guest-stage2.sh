#!/bin/bash
# PID 1 of the guest after switch_root (stage 2), run from the repository share.
# Finishes the system set-up (pseudo filesystems, modules, loopback, the options'
# devices), runs the command from /run/axon-vm/cmd as root in the repository
# root, writes its exit status to /run/axon-vm/rc (a file on the host) and
# powers off. Nothing here may exit early: PID 1 exiting panics the kernel, and
# the host would then only see "no exit status". Set-up failures are reported
# as status 125 instead.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
RUN=/run/axon-vm
# shellcheck source=/dev/null
. "$RUN/boot.env"

setup_error=
uptime_ms() { local u; read -r u _ </proc/uptime; u=${u/./}; echo $((10#$u * 10)); }
setup() { # description, command...
	local what=$1 t0
	shift
	[ -n "$setup_error" ] && return 1
	t0=$(uptime_ms 2>/dev/null || echo 0)
	if ! "$@"; then
		setup_error="$what"
		echo "axon-vm: guest set-up failed: $what"
		return 1
	fi
	# Emulation is slow but no step should take seconds: say which one did.
	t0=$(($(uptime_ms 2>/dev/null || echo 0) - t0))
	if [ "$t0" -ge 2000 ] || [ "${AXON_VM_TRACE:-0}" = 1 ]; then
		echo "axon-vm: set-up step '$what' took ${t0} ms"
	fi
	return 0
}

# Each exec of a dynamically linked program costs a few hundred ms under
# emulation; the static busybox takes a tenth of that, so the plain steps use it.
bb=/bin/busybox

mount_fs() { # type, target, options
	$bb mkdir -p "$2" && $bb mount -t "$1" -o "$3" "$1" "$2"
}

# The serial console turns \n into \r\n by default; the host wants plain lines.
$bb stty -F /dev/console -onlcr 2>/dev/null

# /proc first: setup() times the steps with /proc/uptime.
$bb mount -t proc -o nosuid,nodev,noexec proc /proc ||
	{ setup_error="mount /proc"; echo "axon-vm: guest set-up failed: mount /proc"; }
setup "mount /sys" mount_fs sysfs /sys nosuid,nodev,noexec
# modprobe looks in /lib/modules/$(uname -r): show it the unpacked Debian tree.
# Bound before /tmp is mounted over, in case the cache lives in the host's /tmp.
read -r kver </proc/sys/kernel/osrelease
setup "bind the module tree" $bb mkdir -p "/lib/modules/$kver"
setup "bind the module tree" $bb mount --bind "$AXON_VM_MODULES" "/lib/modules/$kver"
setup "mount /dev/pts" mount_fs devpts /dev/pts gid=5,mode=620,ptmxmode=666
setup "mount /dev/shm" mount_fs tmpfs /dev/shm mode=1777,nosuid,nodev
# The repository share may sit under the host's /tmp (a CI clone does), which
# the guest's own tmpfs /tmp would hide: move it aside and back on top.
case "$AXON_VM_REPO" in
/tmp/*)
	setup "keep the repository over /tmp" $bb mkdir -p /run/axon-vm-repo
	setup "keep the repository over /tmp" $bb mount --move "$AXON_VM_REPO" /run/axon-vm-repo
	setup "mount /tmp" mount_fs tmpfs /tmp mode=1777,nosuid,nodev
	setup "keep the repository over /tmp" $bb mkdir -p "$AXON_VM_REPO"
	setup "keep the repository over /tmp" $bb mount --move /run/axon-vm-repo "$AXON_VM_REPO"
	;;
*)
	setup "mount /tmp" mount_fs tmpfs /tmp mode=1777,nosuid,nodev
	;;
esac
setup "mount /dev/hugepages" mount_fs hugetlbfs /dev/hugepages mode=1770
$bb mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
[ -e /dev/fd ] || $bb ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || $bb ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || $bb ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || $bb ln -s /proc/self/fd/2 /dev/stderr

setup "modprobe configfs" modprobe configfs
setup "mount configfs" $bb mount -t configfs configfs /sys/kernel/config

$bb hostname axon-vm
echo axon-vm >/etc/hostname
setup "loopback up" $bb ip link set lo up

if [ "${AXON_VM_NVME_COUNT:-0}" -gt 0 ]; then
	setup "modprobe nvme" modprobe nvme
	wait_nvme() {
		local i n d
		for ((i = 0; i < 300; i++)); do
			n=0
			for d in /dev/nvme*n*; do
				[[ $d =~ ^/dev/nvme[0-9]+n[0-9]+$ ]] && n=$((n + 1))
			done
			[ "$n" -ge "$AXON_VM_NVME_COUNT" ] && return 0
			$bb sleep 0.1
		done
		echo "axon-vm: found $n of $AXON_VM_NVME_COUNT NVMe namespaces"
		return 1
	}
	setup "wait for the emulated NVMe namespaces" wait_nvme
fi

if [ "${AXON_VM_RDMA:-0}" = 1 ]; then
	# The RDMA CM does not resolve routes over lo: each address lives on one
	# end of a veth pair, with its own rxe device on top.
	for m in veth rdma_rxe rdma_ucm ib_uverbs; do
		setup "modprobe $m" modprobe $m
	done
	setup "veth pair" ip link add "$AXON_VM_RDMA_IF0" type veth peer name "$AXON_VM_RDMA_IF1"
	setup "address 0" ip addr add "$AXON_VM_RDMA_ADDR0/24" dev "$AXON_VM_RDMA_IF0"
	setup "address 1" ip addr add "$AXON_VM_RDMA_ADDR1/24" dev "$AXON_VM_RDMA_IF1"
	setup "link 0 up" ip link set "$AXON_VM_RDMA_IF0" up
	setup "link 1 up" ip link set "$AXON_VM_RDMA_IF1" up
	setup "rxe 0" rdma link add "$AXON_VM_RDMA_DEV0" type rxe netdev "$AXON_VM_RDMA_IF0"
	setup "rxe 1" rdma link add "$AXON_VM_RDMA_DEV1" type rxe netdev "$AXON_VM_RDMA_IF1"
fi

if [ "${AXON_VM_IOMMU:-0}" = 1 ]; then
	setup "modprobe vfio-pci" modprobe vfio-pci
fi

read -r up _ </proc/uptime
echo "axon-vm: guest ready after ${up}s"

rc=125
if [ -z "$setup_error" ]; then
	# shellcheck source=/dev/null
	. "$RUN/env"
	if cd "$AXON_VM_REPO"; then
		# Its own session and process group: a `kill 0` or a group signal in
		# the command never reaches this PID 1. Not interactive: empty stdin.
		setsid --wait bash "$RUN/cmd" </dev/null
		rc=$?
	fi
fi

$bb dmesg >"$RUN/dmesg" 2>/dev/null
echo "$rc" >"$RUN/rc.tmp" && $bb mv "$RUN/rc.tmp" "$RUN/rc"
$bb sync
$bb poweroff -f
sleep 10
