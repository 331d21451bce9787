"""Kernel NVMe/TCP in a guest: the kernel nvmet target on 127.0.0.1:4420,
reached by the kernel nvme-tcp host (stand-ins until Axon's own exist)."""

import pytest

pytestmark = pytest.mark.vm

NQN = "nqn.2024-01.io.axon:vm-tcp"


def test_kernel_nvmet_tcp_discover_connect_fio(vm):
    res = vm.run(f"""
        loop=$(vm_loop_create /tmp/ns1.img 64M)
        vm_nvmet_target tcp 127.0.0.1 4420 {NQN} "$loop" >/dev/null
        modprobe nvme-tcp

        nvme discover -t tcp -a 127.0.0.1 -s 4420 >/tmp/discover
        cat /tmp/discover
        grep -q 'subnqn: *{NQN}$' /tmp/discover
        echo CHECK discover-lists-subsystem

        dev=$(vm_nvme_connect tcp 127.0.0.1 4420 {NQN})
        test -b "$dev"
        echo "CHECK connected $dev"

        fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \\
            --rw=randwrite --bs=4k --iodepth=8 --size=16M \\
            --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \\
            --output=/tmp/fio.log \\
            || {{ cat /tmp/fio.log; exit 1; }}
        grep -q 'err= 0' /tmp/fio.log
        echo CHECK fio-verify-passed

        vm_nvme_disconnect {NQN}
        vm_wait_gone "$dev"
        vm_nvmet_teardown
        test -z "$(ls /sys/kernel/config/nvmet/subsystems)"
        echo CHECK torn-down
    """, timeout=300)
    assert res.rc == 0, res.output
    for check in ("discover-lists-subsystem", "connected /dev/nvme", "fio-verify-passed",
                  "torn-down"):
        assert f"CHECK {check}" in res.output, res.output
