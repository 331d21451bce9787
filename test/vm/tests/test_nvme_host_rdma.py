"""Axon's userspace NVMe/RDMA host (app/identify, app/perf, bdevperf through
bdev_nvme) against the Linux kernel nvmet-rdma target on soft-RoCE, in one
guest boot. Target and host both use 10.99.0.1 (rxe0 loops back inside the
device)."""

import os

import pytest

pytestmark = pytest.mark.vm

NQN = "nqn.2024-01.io.axon:host-rdma"
# Overridable for trying a differently built bdevperf.
BDEVPERF = os.environ.get("AXON_VM_BDEVPERF", "build/bin/bdevperf")


def test_identify_perf_bdevperf_against_kernel_nvmet_rdma(vm):
    res = vm.run(f"""
        for b in identify perf; do test -x build/bin/$b || vm_die "build/bin/$b missing: make -C app/$b"; done
        loop=$(vm_loop_create /tmp/ns1.img 64M)
        vm_nvmet_target rdma "$AXON_VM_RDMA_ADDR0" 4420 {NQN} "$loop" >/dev/null
        DISC="trtype:RDMA adrfam:IPv4 traddr:$AXON_VM_RDMA_ADDR0 trsvcid:4420"
        T="$DISC subnqn:{NQN}"
        # Every DMA byte is registered with both rxe devices at start: keep it small.
        opts="--no-huge -s 64"

        build/bin/identify $opts -r "$T" >/tmp/id.txt
        cat /tmp/id.txt
        grep -Eq "^ *transport +RDMA$" /tmp/id.txt
        grep -Eq "^ *subnqn +{NQN}$" /tmp/id.txt
        grep -Eq "^ *size_bytes +67108864$" /tmp/id.txt
        echo "CHECK identify-controller-over-rdma (${{SECONDS}} s)"

        perf() {{ build/bin/perf --no-huge -s 128 --print-level warn "$@"; }}
        perf -r "$T" -q 16 -o 4096 -w randread -t 2 | tee /tmp/p1
        grep -Eq '^Total +[0-9]+\\.[0-9]+ ' /tmp/p1
        ! grep -q 'I/O errors' /tmp/p1
        echo "CHECK perf-randread-4k (${{SECONDS}} s)"

        perf -r "$T" -q 16 -o 4096 -w randwrite -t 2 | tee /tmp/p2
        grep -Eq '^Total +[0-9]+\\.[0-9]+ ' /tmp/p2
        ! grep -q 'I/O errors' /tmp/p2
        echo "CHECK perf-randwrite-4k (${{SECONDS}} s)"

        # The target drops the subsystem mid-run (its port stops listening), then brings
        # it back: the qpairs fail on DISCONNECTED, reset.c retries while the CM connect
        # is rejected (no listener), and reconnects the controller once it listens again.
        port=$(ls /sys/kernel/config/nvmet/ports)
        build/bin/perf --no-huge -s 128 -r "$T" -q 8 -o 4096 -w randrw -M 50 -t 60 >/tmp/p3 2>&1 &
        pid=$!
        vm_wait_for 60 grep -q "^perf: 1 namespace" /tmp/p3
        sleep 1
        rm /sys/kernel/config/nvmet/ports/$port/subsystems/{NQN}
        vm_wait_for 20 grep -q "connection rejected" /tmp/p3
        ln -s /sys/kernel/config/nvmet/subsystems/{NQN} /sys/kernel/config/nvmet/ports/$port/subsystems/{NQN}
        vm_wait_for 30 grep -q "controller reconnected" /tmp/p3 || {{ cat /tmp/p3; vm_die "no reconnect"; }}
        kill -INT $pid
        wait $pid || true
        cat /tmp/p3
        grep -q "the target disconnected" /tmp/p3
        grep -q "admin connection lost; reconnecting" /tmp/p3
        grep -q "controller reconnected" /tmp/p3
        grep -q "connection rejected" /tmp/p3
        if grep -E 'Sanitizer|runtime error' /tmp/p3; then exit 1; fi
        echo "CHECK reconnect-after-target-loss (${{SECONDS}} s)"

        # bdev_nvme over RDMA: bdevperf attaches the controller from its config.
        cat >/tmp/bdevperf.json <<JSON
{{"subsystems": [{{"subsystem": "bdev", "config": [
  {{"method": "bdev_set_options", "params": {{"bdev_io_pool_size": 1023, "small_buf_pool_size": 511,
                                             "large_buf_pool_size": 63}}}},
  {{"method": "bdev_nvme_attach_controller",
  "params": {{"name": "Nvme0", "trtype": "RDMA", "adrfam": "IPv4", "traddr": "$AXON_VM_RDMA_ADDR0",
              "trsvcid": "4420", "subnqn": "{NQN}"}}}}]}}]}}
JSON
        if ! {BDEVPERF} --no-huge -s 160 -c /tmp/bdevperf.json -q 16 -o 4k -w verify -t 3 >/tmp/bp 2>&1; then
            cat /tmp/bp
            grep -q "not available in this build" /tmp/bp &&
                vm_die "{BDEVPERF} lacks the RDMA transport: link nvme_rdma and rdma (app/bdevperf/Makefile)"
            vm_die "bdevperf verify over RDMA failed"
        fi
        cat /tmp/bp
        grep -Eq '^Total +[0-9.]+ +[0-9.]+ +0 +0 ' /tmp/bp
        echo "CHECK bdevperf-verify-over-rdma (${{SECONDS}} s)"

        vm_nvmet_teardown
        echo "CHECK torn-down (${{SECONDS}} s)"
    """, rdma=True, timeout=240)
    assert res.rc == 0, res.output
    for check in ("identify-controller-over-rdma", "perf-randread-4k", "perf-randwrite-4k",
                  "reconnect-after-target-loss",
                  "bdevperf-verify-over-rdma", "torn-down"):
        assert f"CHECK {check}" in res.output, res.output
