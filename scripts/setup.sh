#!/usr/bin/env bash
# Prepare the machine for Axon's userspace NVMe driver.
#
#   scripts/setup.sh [config]   reserve hugepages and bind NVMe controllers to vfio-pci
#   scripts/setup.sh reset      bind them back to the kernel's nvme driver
#   scripts/setup.sh status     hugepages, and each NVMe controller with its driver
#                               and block devices
#
# Environment:
#   HUGEMEM      MiB of 2 MiB hugepages to reserve (default 2048, at most half of RAM;
#                0 leaves them alone)
#   PCI_ALLOWED  "BDF BDF ..." to act on only these controllers (default: all)
#
# A controller whose namespaces are in use (mounted, swap, held by another
# block device such as md/dm/LVM, or open by a holder lsblk knows) is never
# taken from the kernel: it is skipped, and the reason is printed.
set -euo pipefail

SYSFS_PCI=${SYSFS_PCI:-/sys/bus/pci}
NVME_CLASS=0x010802
if [[ -z ${HUGEMEM:-} ]]; then
	# The default never takes more than half of RAM: hugepages are not
	# swappable, and a small machine left without memory only crawls.
	mem_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
	HUGEMEM=$((mem_mib / 2 < 2048 ? mem_mib / 2 : 2048))
fi
PCI_ALLOWED=${PCI_ALLOWED:-}

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

# "00:04.0" -> "0000:00:04.0"
normalize_bdf() {
	local b=$1
	[[ $b =~ ^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] && b="0000:$b"
	[[ $b =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]] ||
		die "'$1' is not a PCI address (like 0000:00:04.0)"
	echo "${b,,}"
}

# Every NVMe controller, or those of PCI_ALLOWED (which must be NVMe controllers).
nvme_devices() {
	local dev bdf
	if [[ -n $PCI_ALLOWED ]]; then
		for bdf in $PCI_ALLOWED; do
			bdf=$(normalize_bdf "$bdf")
			[[ -e $SYSFS_PCI/devices/$bdf ]] || die "$bdf: no such PCI device"
			[[ $(cat "$SYSFS_PCI/devices/$bdf/class") == "$NVME_CLASS" ]] ||
				die "$bdf: not an NVMe controller"
			echo "$bdf"
		done
		return
	fi
	for dev in "$SYSFS_PCI"/devices/*; do
		[[ -e $dev/class && $(cat "$dev/class") == "$NVME_CLASS" ]] && basename "$dev"
	done
	return 0
}

driver_of() {
	local link=$SYSFS_PCI/devices/$1/driver
	if [[ -L $link ]]; then basename "$(readlink "$link")"; else echo "-"; fi
}

# Namespace block devices of a controller bound to nvme (nvme0n1 ...).
block_devices() {
	local ns
	for ns in "$SYSFS_PCI"/devices/"$1"/nvme/nvme*/nvme*n*; do
		[[ -e $ns/dev ]] && basename "$ns"
	done
	return 0
}

# Why the block device (or one of its partitions) is in use; nothing if it is not.
blockdev_in_use() {
	local blk=$1 part name major_minor
	for part in /sys/block/"$blk" /sys/block/"$blk"/"$blk"*; do
		[[ -e $part/dev ]] || continue
		name=$(basename "$part")
		major_minor=$(cat "$part/dev")
		if [[ -n $(ls -A "$part/holders" 2>/dev/null) ]]; then
			echo "/dev/$name is held by $(ls "$part/holders" | tr '\n' ' ')"
			return
		fi
		if awk -v mm="$major_minor" '$3 == mm { found = 1 } END { exit !found }' \
			/proc/self/mountinfo; then
			echo "/dev/$name is mounted"
			return
		fi
		if awk -v d="/dev/$name" '$1 == d { found = 1 } END { exit !found }' /proc/swaps; then
			echo "/dev/$name is active swap"
			return
		fi
		if command -v lsblk >/dev/null &&
			[[ -n $(lsblk -nro MOUNTPOINT "/dev/$name" 2>/dev/null | tr -d '[:space:]') ]]; then
			echo "/dev/$name has a mount point (lsblk)"
			return
		fi
	done
}

bind_driver() {
	local bdf=$1 driver=$2 dev=$SYSFS_PCI/devices/$1
	echo "$driver" >"$dev/driver_override"
	if [[ -L $dev/driver ]]; then
		echo "$bdf" >"$dev/driver/unbind"
	fi
	echo "$bdf" >"$SYSFS_PCI/drivers_probe"
}

setup_hugepages() {
	local hp_kb pages got dir
	[[ $HUGEMEM == 0 ]] && return
	hp_kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
	[[ -n $hp_kb ]] || die "this kernel has no hugepages"
	pages=$(((HUGEMEM * 1024 + hp_kb - 1) / hp_kb))
	echo "$pages" >/proc/sys/vm/nr_hugepages
	got=$(cat /proc/sys/vm/nr_hugepages)
	if ((got < pages)); then
		echo "setup.sh: only $got of $pages hugepages of ${hp_kb} kB could be reserved" >&2
	fi
	if ! awk '$3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; then
		dir=/dev/hugepages
		mkdir -p "$dir"
		mount -t hugetlbfs nodev "$dir"
	fi
	echo "hugepages: $got x ${hp_kb} kB"
}

do_config() {
	local bdf driver old reason blk
	setup_hugepages
	modprobe vfio-pci 2>/dev/null || [[ -d $SYSFS_PCI/drivers/vfio-pci ]] ||
		die "cannot load vfio-pci"
	for bdf in $(nvme_devices); do
		driver=$(driver_of "$bdf")
		if [[ $driver == vfio-pci ]]; then
			echo "$bdf: already bound to vfio-pci"
			continue
		fi
		reason=
		for blk in $(block_devices "$bdf"); do
			reason=$(blockdev_in_use "$blk")
			[[ -n $reason ]] && break
		done
		if [[ -n $reason ]]; then
			echo "$bdf: skipped, in use: $reason"
			continue
		fi
		if [[ ! -e $SYSFS_PCI/devices/$bdf/iommu_group ]]; then
			echo "$bdf: skipped: no IOMMU group (boot with intel_iommu=on or amd_iommu=on)"
			continue
		fi
		old=$driver
		[[ $old == - ]] && old="no driver"
		bind_driver "$bdf" vfio-pci
		driver=$(driver_of "$bdf")
		[[ $driver == vfio-pci ]] || die "$bdf: binding to vfio-pci failed (now: $driver)"
		echo "$bdf: $old -> vfio-pci" \
			"(/dev/vfio/$(basename "$(readlink "$SYSFS_PCI/devices/$bdf/iommu_group")"))"
	done
}

do_reset() {
	local bdf driver
	modprobe nvme 2>/dev/null || true
	for bdf in $(nvme_devices); do
		driver=$(driver_of "$bdf")
		if [[ $driver != vfio-pci && $driver != - ]]; then
			echo "$bdf: left with $driver"
			continue
		fi
		# An empty override lets the kernel pick the device's own driver again.
		echo "" >"$SYSFS_PCI/devices/$bdf/driver_override"
		[[ $driver == - ]] || echo "$bdf" >"$SYSFS_PCI/devices/$bdf/driver/unbind"
		echo "$bdf" >"$SYSFS_PCI/drivers_probe"
		echo "$bdf: $driver -> $(driver_of "$bdf")"
	done
}

do_status() {
	local bdf dev blks hp_kb
	hp_kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
	echo "hugepages: $(cat /proc/sys/vm/nr_hugepages) x ${hp_kb:-?} kB" \
		"($(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo) free)"
	printf '%-14s %-11s %-10s %s\n' BDF VENDOR:DEV DRIVER "BLOCK DEVICES"
	for bdf in $(nvme_devices); do
		dev=$SYSFS_PCI/devices/$bdf
		blks=$(block_devices "$bdf" | tr '\n' ' ')
		printf '%-14s %-11s %-10s %s\n' "$bdf" \
			"$(sed 's/^0x//' "$dev/vendor"):$(sed 's/^0x//' "$dev/device")" \
			"$(driver_of "$bdf")" "${blks:--}"
	done
}

[[ $(id -u) == 0 || ${1:-} == status || ${1:-} == help ]] || die "must run as root"
case "${1:-config}" in
config) do_config ;;
reset) do_reset ;;
status) do_status ;;
help | -h | --help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
