"""lib/rdma on soft-RoCE, in one guest boot:

- build/bin/rdma_vm_check (test/unit/lib/rdma/vm_check) enumerates the rxe
  devices, checks lib/env memory is registered (--no-huge: one walk;
  hugepages: growth and shrink through memory events), registers a caller
  buffer, translates buffers through the RDMA memory domain, and connects two
  QPs through the RDMA CM on one address (10.99.0.1, where soft-RoCE loops
  back inside rxe0) for an RDMA WRITE and an RDMA READ with data verified;
- a real axond answers rdma_get_devices through scripts/rpc.py.
"""

import os

import pytest

pytestmark = pytest.mark.vm

# Overridable for trying a differently built daemon.
AXOND = os.environ.get("AXON_VM_AXOND", "build/bin/axond")


def test_rdma_lib_devices_memory_domain_cm_and_rpc(vm):
    res = vm.run(f"""
        check=build/bin/rdma_vm_check
        $check "$AXON_VM_RDMA_DEV0" "$AXON_VM_RDMA_ADDR0" 4791
        echo "CHECK vm_check no-huge passed"
        vm_hugepages 256
        $check "$AXON_VM_RDMA_DEV0" "$AXON_VM_RDMA_ADDR0" 4792 huge
        echo "CHECK vm_check hugepages passed"

        sock=/tmp/axond.sock
        {AXOND} -r $sock >/tmp/axond.log 2>&1 &
        pid=$!
        vm_wait_for 30 test -S $sock
        python3 scripts/rpc.py -s $sock rdma_get_devices >/tmp/devices.json
        cat /tmp/devices.json
        python3 - <<'EOF'
import json
devs = {{d["name"]: d for d in json.load(open("/tmp/devices.json"))}}
assert set(devs) >= {{"rxe0", "rxe1"}}, devs.keys()
for name in ("rxe0", "rxe1"):
    d = devs[name]
    assert d["memory_domain"] == "rdma:" + name, d
    port = d["ports"][0]
    assert port["port"] == 1 and port["state"] == "active", port
    assert port["link_layer"] == "Ethernet" and port["active_mtu"] >= 256, port
    assert port["gid0"].startswith("fe80:"), port
    mem = d["registered_memory"]
    assert mem["total_bytes"] >= 2 << 20 and mem["regions"] >= 1, mem
    assert mem["env_bytes"] <= mem["total_bytes"], mem
print("CHECK rdma_get_devices rxe0 rxe1 ports active, memory registered")
EOF
        kill -TERM $pid
        wait $pid
        if grep -E 'Sanitizer|runtime error' /tmp/axond.log; then exit 1; fi
        echo "CHECK axond clean exit"
    """, rdma=True, timeout=150)
    out = res.output
    assert res.rc == 0, out
    for line in ("CHECK device rxe0 found", "CHECK domain rdma:rxe0",
                 "CHECK env memory registered", "CHECK memory event: growth registered",
                 "CHECK memory event: shrink unregistered",
                 "CHECK user registration register/translate/unregister",
                 "CHECK connected through the CM on 10.99.0.1, shared PD",
                 "CHECK rdma write 131072 bytes verified",
                 "CHECK rdma read 131072 bytes verified", "CHECK disconnected",
                 "CHECK vm_check no-huge passed", "CHECK vm_check hugepages passed",
                 "CHECK rdma_get_devices rxe0 rxe1", "CHECK axond clean exit"):
        assert line in out, f"missing {line!r}:\n{out}"
