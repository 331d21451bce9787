# shellcheck shell=bash
# Helpers for scripts that run inside a test/vm guest. Source it:
#   . test/vm/lib.sh        (the command's working directory is the repo root)
# Every function returns non-zero (and says why on stderr) when it fails, so
# scripts can run under `set -e`. Nothing here is meant for the host.

vm_log() { echo "vm: $*" >&2; }
vm_die() { echo "vm: FATAL: $*" >&2; exit 1; }

# vm_wait_for TIMEOUT_S COMMAND... : retries COMMAND every 0.1 s until it succeeds.
vm_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# vm_wait_blockdev PATH [TIMEOUT_S=20]: waits until PATH is a block device.
vm_wait_blockdev() {
	local dev=$1 t=${2:-20}
	vm_wait_for "$t" test -b "$dev" || { vm_log "no block device $dev after ${t}s"; return 1; }
}

# vm_wait_gone PATH [TIMEOUT_S=20]: waits until PATH no longer exists.
vm_wait_gone() {
	local path=$1 t=${2:-20}
	vm_wait_for "$t" test ! -e "$path" || { vm_log "$path still exists after ${t}s"; return 1; }
}

# vm_hugepages COUNT [SIZE_KB=2048]: reserves COUNT hugepages of SIZE_KB and
# checks the kernel really reserved them. /dev/hugepages is already mounted.
vm_hugepages() {
	local n=$1 kb=${2:-2048} f got
	f=/sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages
	[ -w "$f" ] || { vm_log "no ${kb} kB hugepages in this kernel"; return 1; }
	echo "$n" >"$f" || return 1
	got=$(cat "$f")
	[ "$got" -eq "$n" ] || { vm_log "asked for $n hugepages of ${kb} kB, got $got"; return 1; }
}

# ----------------------------------------------------------------- PCI / VFIO

# vm_pci_find VENDOR:DEVICE: prints the address (0000:00:04.0) of every
# matching PCI function, one per line; fails when there is none.
vm_pci_find() {
	local want=$1 d found=1
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x${want%%:*}:0x${want#*:}" ]; then
			basename "$d"
			found=0
		fi
	done
	return $found
}

# vm_pci_driver BDF: prints the driver bound to BDF (empty when none).
vm_pci_driver() {
	local link=/sys/bus/pci/devices/$1/driver
	[ -e "$link" ] && basename "$(readlink -f "$link")"
	return 0
}

# vm_pci_bind BDF DRIVER: binds BDF to DRIVER (loading it if needed), whatever
# it is bound to now, and waits until the binding shows in sysfs.
vm_pci_bind() {
	local bdf=$1 drv=$2 dev=/sys/bus/pci/devices/$1
	[ -d "$dev" ] || { vm_log "no PCI device $bdf"; return 1; }
	modprobe "$drv" 2>/dev/null
	[ "$(vm_pci_driver "$bdf")" = "$drv" ] && return 0
	if [ -e "$dev/driver" ]; then
		echo "$bdf" >"$dev/driver/unbind" || return 1
	fi
	# driver_override makes the next probe pick exactly this driver.
	echo "$drv" >"$dev/driver_override" || return 1
	echo "$bdf" >/sys/bus/pci/drivers_probe || true
	echo >"$dev/driver_override"
	vm_wait_for 10 test "$(vm_pci_driver "$bdf")" = "$drv" ||
		{ vm_log "$bdf did not bind to $drv (bound to '$(vm_pci_driver "$bdf")')"; return 1; }
}

# vm_pci_iommu_group BDF: prints BDF's IOMMU group number.
vm_pci_iommu_group() {
	local link=/sys/bus/pci/devices/$1/iommu_group
	[ -e "$link" ] || { vm_log "$1 has no IOMMU group (no --iommu?)"; return 1; }
	basename "$(readlink -f "$link")"
}

# vm_vfio_bind BDF: binds BDF to vfio-pci and prints its /dev/vfio/N node.
vm_vfio_bind() {
	local group
	group=$(vm_pci_iommu_group "$1") || return 1
	vm_pci_bind "$1" vfio-pci || return 1
	vm_wait_for 10 test -c "/dev/vfio/$group" || { vm_log "no /dev/vfio/$group"; return 1; }
	echo "/dev/vfio/$group"
}

# vm_vfio_unbind BDF [DRIVER=nvme]: gives BDF back to its kernel driver.
vm_vfio_unbind() {
	vm_pci_bind "$1" "${2:-nvme}"
}

# -------------------------------------------------------------- kernel nvmet

VM_NVMET=/sys/kernel/config/nvmet

# vm_loop_create FILE SIZE: creates a sparse FILE of SIZE (e.g. 64M) and prints
# the loop device attached to it.
vm_loop_create() {
	modprobe loop 2>/dev/null
	truncate -s "$2" "$1" || return 1
	losetup --find --show "$1"
}

# vm_nvmet_subsys NQN: creates a subsystem that accepts any host.
vm_nvmet_subsys() {
	local s=$VM_NVMET/subsystems/$1
	modprobe nvmet || return 1
	mkdir -p "$s" && echo 1 >"$s/attr_allow_any_host"
}

# vm_nvmet_ns NQN NSID PATH: adds namespace NSID backed by PATH (a block device,
# e.g. from vm_loop_create, or a regular file) and enables it.
vm_nvmet_ns() {
	local n=$VM_NVMET/subsystems/$1/namespaces/$2
	[ -e "$3" ] || { vm_log "no backing store $3"; return 1; }
	mkdir -p "$n" && echo -n "$3" >"$n/device_path" && echo 1 >"$n/enable"
}

# vm_nvmet_port PORTID TRTYPE(tcp|rdma) ADDR [SVCID=4420]: creates an IPv4 port.
vm_nvmet_port() {
	local p=$VM_NVMET/ports/$1
	modprobe "nvmet-$2" || return 1
	mkdir -p "$p" &&
		echo "$2" >"$p/addr_trtype" &&
		echo ipv4 >"$p/addr_adrfam" &&
		echo "$3" >"$p/addr_traddr" &&
		echo "${4:-4420}" >"$p/addr_trsvcid"
}

# vm_nvmet_link PORTID NQN: exposes subsystem NQN on port PORTID.
vm_nvmet_link() {
	ln -s "$VM_NVMET/subsystems/$2" "$VM_NVMET/ports/$1/subsystems/$2"
}

# vm_nvmet_target TRTYPE ADDR SVCID NQN BACKING: the common case in one call,
# subsystem NQN with namespace 1 on BACKING, on a new port. Prints the port id.
vm_nvmet_target() {
	local id=1
	modprobe nvmet || return 1
	while [ -e "$VM_NVMET/ports/$id" ]; do id=$((id + 1)); done
	vm_nvmet_subsys "$4" && vm_nvmet_ns "$4" 1 "$5" &&
		vm_nvmet_port "$id" "$1" "$2" "$3" && vm_nvmet_link "$id" "$4" && echo "$id"
}

# vm_nvmet_teardown: removes every port, subsystem and namespace (in the order
# configfs requires) and detaches loop devices backing them.
vm_nvmet_teardown() {
	local p s n dev rc=0
	[ -d "$VM_NVMET" ] || return 0
	for p in "$VM_NVMET"/ports/*; do
		[ -d "$p" ] || continue
		for s in "$p"/subsystems/*; do [ -L "$s" ] && { rm "$s" || rc=1; }; done
		rmdir "$p" || rc=1
	done
	for s in "$VM_NVMET"/subsystems/*; do
		[ -d "$s" ] || continue
		for n in "$s"/namespaces/*; do
			[ -d "$n" ] || continue
			dev=$(cat "$n/device_path")
			echo 0 >"$n/enable"
			rmdir "$n" || rc=1
			[[ $dev == /dev/loop* ]] && losetup -d "$dev"
		done
		rmdir "$s" || rc=1
	done
	return $rc
}

# ---------------------------------------------------------------- NVMe host

# vm_nvme_ns_of NQN: prints the block device of namespace 1 of the connected
# subsystem NQN (/dev/nvme1n1); fails when there is none yet.
vm_nvme_ns_of() {
	local c s dev
	# With native multipath the node is named after the subsystem, else after
	# the controller; look for it under both.
	for s in /sys/class/nvme-subsystem/*; do
		[ "$(cat "$s/subsysnqn" 2>/dev/null)" = "$1" ] || continue
		for dev in "$s"/nvme*n*; do
			[ -e "$dev" ] && { echo "/dev/$(basename "$dev")"; return 0; }
		done
	done
	for c in /sys/class/nvme/*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$1" ] || continue
		for dev in "$c"/nvme*n*; do
			[[ $(basename "$dev") =~ ^nvme[0-9]+n[0-9]+$ ]] && { echo "/dev/$(basename "$dev")"; return 0; }
		done
	done
	return 1
}

# vm_nvme_connect TRTYPE ADDR SVCID NQN [nvme-cli options...]: connects the
# kernel host, waits for the namespace's block device and prints its path.
vm_nvme_connect() {
	local tr=$1 addr=$2 svc=$3 nqn=$4 dev
	shift 4
	modprobe "nvme-$tr" || return 1
	nvme connect -t "$tr" -a "$addr" -s "$svc" -n "$nqn" "$@" >&2 || return 1
	vm_wait_for 20 vm_nvme_ns_of "$nqn" >/dev/null || { vm_log "no namespace for $nqn"; return 1; }
	dev=$(vm_nvme_ns_of "$nqn")
	vm_wait_blockdev "$dev" || return 1
	echo "$dev"
}

# vm_nvme_disconnect NQN: disconnects every controller of subsystem NQN.
vm_nvme_disconnect() {
	nvme disconnect -n "$1" >&2
}
