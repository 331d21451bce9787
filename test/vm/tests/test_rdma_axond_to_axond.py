"""Axond to axond over soft-RoCE, and a disconnect storm (issue 8, VM tests).

One guest (test/vm/tests/rdma_a2a/run.sh): axond A exports a malloc bdev over
NVMe/RDMA on 10.99.0.1:4420; axond B attaches it with bdev_nvme over RDMA and
re-exports Nvme0n1 over NVMe/TCP on 127.0.0.1:4421; the kernel nvme-tcp host
runs fio verify=crc32c (4 KiB and 128 KiB) end to end. Then B attaches and
detaches a second controller to another subsystem of A in a loop (up to 200
cycles within 90 s; on a loaded machine it goes on until 50 are done, 150 s at
most) while fio verify runs on the kernel -> B -> A path all the time: A's VmRSS after the storm stays within 8 MiB of its VmRSS
after 20 cycles, A holds no queue pair of the storm's subsystem and the same
ones of the background connection, and both daemons exit 0 on SIGTERM with no
sanitizer report. Each step prints a CHECK line with the seconds since start.
"""

import re

import pytest

pytestmark = pytest.mark.vm

TIMEOUT_S = 420


def test_axond_to_axond_and_disconnect_storm(vm):
    res = vm.run(". test/vm/tests/rdma_a2a/run.sh", rdma=True, timeout=TIMEOUT_S)
    out = res.output
    print(f"axond to axond + storm: guest run took {res.seconds:.0f} s")
    print("\n".join(l for l in out.splitlines()
                    if l.startswith(("CHECK", "storm:", "axond A VmRSS", "NOTE:"))))
    done = set(re.findall(r"^CHECK (\S+)", out, re.M))
    checks = ["axonds-configured", "tcp-host-connected-to-b", "fio-verify-4k",
              "fio-verify-128k", "tcp-host-disconnected", "data-kept-across-reconnect",
              "storm-left-nothing-on-a", "memory-flat", "verify-after-storm",
              "axonds-clean-exit"]
    missing = [c for c in checks if c not in done]
    storm = [c for c in done if c.startswith("storm-cycles-")]
    assert res.rc == 0 and not missing and storm, \
        f"status {res.rc}, missing checks {missing}\n" + out[-12000:]
    assert int(storm[0].rsplit("-", 1)[1]) >= 50, out[-4000:]
