"""Axon's userspace NVMe/TCP host (app/identify, app/perf) against the Linux
kernel nvmet target on 127.0.0.1, with digests off and on. One guest."""

import pytest

pytestmark = pytest.mark.vm

NQN = "nqn.2024-01.io.axon:host-tcp"


def test_identify_and_perf_against_kernel_nvmet(vm):
    res = vm.run(f"""
        for b in identify perf; do test -x build/bin/$b || vm_die "build/bin/$b missing: make -C app/$b"; done
        loop=$(vm_loop_create /tmp/ns1.img 64M)
        vm_nvmet_target tcp 127.0.0.1 4420 {NQN} "$loop" >/dev/null
        DISC="trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420"
        T="$DISC subnqn:{NQN}"

        build/bin/identify -r "$DISC" >/tmp/disc.txt
        cat /tmp/disc.txt
        grep -q "subnqn *{NQN}$" /tmp/disc.txt
        echo CHECK discovery-log-lists-subsystem

        build/bin/identify --json -r "$T" >/tmp/id.json
        python3 - <<'PY'
import json
d = json.load(open("/tmp/id.json"))
c = d["controller"]
assert c["subnqn"] == "{NQN}" and c["model_number"] == "Linux" and not c["discovery"], c
ns = d["namespaces"]
assert len(ns) == 1 and ns[0]["nsid"] == 1 and ns[0]["size_bytes"] == 64 << 20, ns
PY
        echo CHECK identify-json

        build/bin/identify -H -D -r "$T" | grep -q "size_bytes *67108864"
        echo CHECK identify-digests

        perf() {{ build/bin/perf --no-huge -s 256 --print-level warn "$@"; }}
        perf -r "$T" -q 16 -o 4096 -w randread -t 2 | tee /tmp/p1
        grep -Eq '^Total +[0-9]+\\.[0-9]+ ' /tmp/p1
        ! grep -q 'I/O errors' /tmp/p1
        echo CHECK perf-randread

        perf -r "$T" -q 8 -o 64k -w randwrite -t 2 -H -D | tee /tmp/p2
        grep -Eq '^Total +[0-9]+\\.[0-9]+ ' /tmp/p2
        echo CHECK perf-randwrite-digests

        perf -r "$T" -c 0x3 -q 8 -o 8k -w randrw -M 70 -t 2 -H -L | tee /tmp/p3
        grep -q 'Latency histogram' /tmp/p3
        grep -Eq '^Total +[0-9]+\\.[0-9]+ ' /tmp/p3
        echo CHECK perf-randrw-two-cores

        if build/bin/perf --no-huge -s 256 -r "trtype:TCP traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2024-01.io.axon:nope" -t 1 2>/tmp/p4; then
            vm_die "perf against a missing subsystem succeeded"
        fi
        grep -q "connect admin queue" /tmp/p4
        echo CHECK bad-subnqn-fails-naming-step

        vm_nvmet_teardown
        echo CHECK torn-down
    """, timeout=240)
    assert res.rc == 0, res.output
    for check in ("discovery-log-lists-subsystem", "identify-json", "identify-digests",
                  "perf-randread", "perf-randwrite-digests", "perf-randrw-two-cores",
                  "bad-subnqn-fails-naming-step", "torn-down"):
        assert f"CHECK {check}" in res.output, res.output
