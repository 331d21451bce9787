"""Axon's userspace NVMe driver on emulated PCIe controllers behind an
emulated IOMMU: scripts/setup.sh hands both controllers to vfio-pci, Axon
identifies them and runs 4 KiB random reads and writes on both, setup.sh
reset gives them back to the kernel, and data written before (in a region
Axon never wrote) is intact."""

import os
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.vm

IO_TOOL = "build/test/nvme_pcie_io"

# DPDK memory lives at high virtual addresses (certainly under ASan); with
# IOVA = VA the emulated IOMMU must translate 48 bits, not QEMU's default 39.
AW_BITS = "-global intel-iommu.aw-bits=48"

SCRIPT = r"""
tool=""" + IO_TOOL + r"""
vm_wait_blockdev /dev/nvme0n1
vm_wait_blockdev /dev/nvme1n1
mapfile -t bdfs < <(vm_pci_find 1b36:0010)
test ${#bdfs[@]} = 2

# A pattern in MiB 16..32 of each namespace, written by the kernel.
# Axon only ever writes from 64 MiB on; swap (below) only touches the first MiB.
dd if=/dev/urandom of=/tmp/pattern bs=1M count=16 status=none
for n in 0 1; do
    dd if=/tmp/pattern of=/dev/nvme${n}n1 bs=1M seek=16 oflag=direct status=none
done
sync
before=$(sha256sum /tmp/pattern | cut -d' ' -f1)
echo "CHECK pattern $before"

# A controller still bound to the kernel is refused, with the way to hand it over.
if "$tool" -r "trtype:PCIe traddr:${bdfs[0]}" -w identify -N >/tmp/refused.out 2>&1; then
    echo "FAIL: a controller bound to nvme was attached"; exit 1
fi
grep -q "bound to driver 'nvme', not vfio-pci.*scripts/setup.sh" /tmp/refused.out
echo "CHECK refused $(grep -o "bound to driver 'nvme'[^:]*" /tmp/refused.out)"

# A namespace in use (here: active swap) keeps its controller with the kernel.
mkswap /dev/nvme1n1 >/dev/null
swapon /dev/nvme1n1
HUGEMEM=256 scripts/setup.sh | tee /tmp/setup.out
grep -q "${bdfs[1]}: skipped, in use: /dev/nvme1n1 is active swap" /tmp/setup.out
test "$(vm_pci_driver "${bdfs[1]}")" = nvme
echo "CHECK skipped in use"
swapoff /dev/nvme1n1
PCI_ALLOWED="${bdfs[1]}" HUGEMEM=0 scripts/setup.sh
scripts/setup.sh status
for b in "${bdfs[@]}"; do
    test "$(vm_pci_driver "$b")" = vfio-pci
done
vm_wait_gone /dev/nvme0n1
echo "CHECK bound vfio-pci ${bdfs[*]}"

trids=()
for b in "${bdfs[@]}"; do trids+=(-r "trtype:PCIe traddr:$b"); done

# app/identify and app/perf, once they are linked with the PCIe transport.
has_pcie() { [ -x "$1" ] && grep -q pcie_ctrlr_construct "$1"; }
if has_pcie build/bin/identify; then
    for b in "${bdfs[@]}"; do
        build/bin/identify -r "trtype:PCIe traddr:$b" | tee /tmp/identify.out
        grep -q "QEMU NVMe Ctrl" /tmp/identify.out
    done
    echo "CHECK app/identify"
else
    echo "NOTE build/bin/identify lacks the PCIe transport: not run"
fi

# identify (controller data), verify (PRPs and SGLs), then 4 KiB random
# reads and writes on both controllers at once.
"$tool" "${trids[@]}" -w identify,verify,randread,randwrite -t 2 -q 32 -s 64 -n 64 \
    | tee /tmp/io.out
grep -q "model      QEMU NVMe Ctrl" /tmp/io.out
grep -q "serial     axonvm1" /tmp/io.out

if has_pcie build/bin/perf; then
    for b in "${bdfs[@]}"; do
        build/bin/perf -r "trtype:PCIe traddr:$b" -q 32 -o 4096 -w randread -t 2
    done
    echo "CHECK app/perf randread"
else
    echo "NOTE build/bin/perf lacks the PCIe transport: not run"
fi

# Without hugepages: EAL --no-huge memory, IOVA = VA, still mapped by VFIO.
"$tool" -r "trtype:PCIe traddr:${bdfs[0]}" -w verify -N -s 64 -n 64 | tail -n 3

scripts/setup.sh reset
vm_wait_blockdev /dev/nvme0n1
vm_wait_blockdev /dev/nvme1n1
scripts/setup.sh status
for n in 0 1; do
    after=$(dd if=/dev/nvme${n}n1 bs=1M skip=16 count=16 iflag=direct status=none |
            sha256sum | cut -d' ' -f1)
    test "$after" = "$before"
    echo "CHECK intact nvme${n}n1"
done
echo "CHECK done"
"""


def test_nvme_pcie_vfio(vm, monkeypatch):
    build = subprocess.run(["make", "-s", "-C", "test/unit/drivers/nvme/pcie"], cwd=REPO,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    extra = os.environ.get("AXON_VM_QEMU_EXTRA", "")
    if "aw-bits" not in extra:
        monkeypatch.setenv("AXON_VM_QEMU_EXTRA", (extra + " " + AW_BITS).strip())

    res = vm.run(SCRIPT, nvme="2:512M", iommu=True, timeout=240)
    out = res.output
    assert res.rc == 0, out
    assert "CHECK pattern" in out
    assert "CHECK refused bound to driver 'nvme'" in out
    assert "CHECK skipped in use" in out
    assert "CHECK bound vfio-pci 0000:" in out
    for bdf in ("0000:00:04.0", "0000:00:05.0"):
        assert f"controller trtype:PCIe traddr:{bdf}" in out, out
        assert f"CHECK identify {bdf}" in out
        assert f"CHECK verify {bdf}" in out
    assert "CHECK randread 2 controllers" in out
    assert "CHECK randwrite 2 controllers" in out
    assert out.count("CHECK pcie_io ok") == 2, out
    assert "CHECK intact nvme0n1" in out and "CHECK intact nvme1n1" in out
    assert "CHECK done" in out
