"""An emulated PCIe NVMe controller behind an emulated IOMMU: visible as
1b36:0010, handed to vfio-pci and back to the kernel nvme driver."""

import pytest

pytestmark = pytest.mark.vm


def test_pcie_nvme_vfio_round_trip(vm):
    res = vm.run("""
        bdf=$(vm_pci_find 1b36:0010)
        test "$(echo "$bdf" | wc -l)" = 1
        echo "CHECK found $bdf driver=$(vm_pci_driver "$bdf")"
        vm_wait_blockdev /dev/nvme0n1
        test "$(cat /sys/block/nvme0n1/size)" = $((256 * 1024 * 2))

        node=$(vm_vfio_bind "$bdf")
        test -c "$node"
        test "$(vm_pci_driver "$bdf")" = vfio-pci
        vm_wait_gone /dev/nvme0n1
        echo "CHECK vfio $node"

        vm_vfio_unbind "$bdf"
        vm_wait_blockdev /dev/nvme0n1
        dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=4 oflag=direct status=none
        echo "CHECK back $(vm_pci_driver "$bdf") /dev/nvme0n1"
    """, nvme="1:256M", iommu=True, timeout=300)
    assert res.rc == 0, res.output
    assert "CHECK found 0000:" in res.output and "driver=nvme" in res.output
    assert "CHECK vfio /dev/vfio/" in res.output
    assert "CHECK back nvme /dev/nvme0n1" in res.output
