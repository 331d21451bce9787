#!/usr/bin/env bash
# Installs every Debian package Axon needs to build, test and run.
# Idempotent: quiet and quick when everything is already present.
set -euo pipefail

PACKAGES=(
	# build
	build-essential pkg-config make gcc clang llvm libclang-rt-14-dev
	# libraries
	libdpdk-dev dpdk libnuma-dev libibverbs-dev librdmacm-dev libnvme-dev
	libjansson-dev libjson-c-dev libcunit1-dev liburing-dev libaio-dev uuid-dev libisal-dev
	libsystemd-dev
	# tests, tools and the VM harness
	python3 python3-pytest systemd fio iperf3 util-linux iproute2 procps
	qemu-system-x86 kmod cpio busybox-static nvme-cli rdma-core
	ibverbs-utils rdmacm-utils perftest pciutils
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "pkgdep: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
