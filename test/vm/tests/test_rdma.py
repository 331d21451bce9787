"""Soft-RoCE in a guest: rping over both veth addresses, and the kernel
nvme-rdma host against the kernel nvmet-rdma target."""

import pytest

pytestmark = pytest.mark.vm

NQN = "nqn.2024-01.io.axon:vm-rdma"


def test_soft_roce_rping_and_nvme_rdma(vm):
    res = vm.run(f"""
        for addr in "$AXON_VM_RDMA_ADDR0" "$AXON_VM_RDMA_ADDR1"; do
            rping -s -a "$addr" -C 3 >/tmp/rping-server.log 2>&1 &
            server=$!
            # The server takes a while to start under emulation: wait for its
            # listening CM id instead of sleeping.
            vm_wait_for 30 sh -c "rdma res show cm_id | grep -q 'LISTEN.*src-addr $addr:'"
            timeout 60 rping -c -a "$addr" -C 3 -v
            wait "$server"
            echo "CHECK rping $addr"
        done

        loop=$(vm_loop_create /tmp/ns1.img 32M)
        vm_nvmet_target rdma "$AXON_VM_RDMA_ADDR0" 4420 {NQN} "$loop" >/dev/null
        dev=$(vm_nvme_connect rdma "$AXON_VM_RDMA_ADDR0" 4420 {NQN})
        grep -qx rdma /sys/class/nvme/*/transport
        echo "CHECK nvme-rdma $dev"

        head -c 8M /dev/urandom >/tmp/pattern
        dd if=/tmp/pattern of="$dev" bs=1M count=8 oflag=direct status=none
        dd if="$dev" of=/tmp/readback bs=1M count=8 iflag=direct status=none
        cmp /tmp/pattern /tmp/readback
        echo "CHECK dd-8MiB-direct"

        vm_nvme_disconnect {NQN}
        vm_nvmet_teardown
    """, rdma=True, timeout=300)
    assert res.rc == 0, res.output
    assert "CHECK rping 10.99.0.1" in res.output
    assert "CHECK rping 10.99.0.2" in res.output
    assert "CHECK nvme-rdma /dev/nvme" in res.output
    assert "CHECK dd-8MiB-direct" in res.output
