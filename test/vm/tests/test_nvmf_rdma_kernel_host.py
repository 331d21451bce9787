"""Kernel host, axond target, over soft-RoCE (issue 8).

axond (build/bin/axond, linked with drivers/nvmf/rdma) exports a malloc bdev
over NVMe/RDMA on 10.99.0.1:4420 (the target and the host share the address:
soft-RoCE loops it back inside rxe0). The kernel nvme-rdma host discovers it,
connects, and fio verifies data (crc32c) at 4 KiB, 128 KiB and 1 MiB, writes
then reads. Then the host's controller is deleted in the middle of I/O:
axond stays up, nvmf_subsystem_get_qpairs is empty, the transport holds no
queue pair, request or buffer (nvmf_get_stats), a new connection works, and
SIGTERM stops axond with status 0 and no sanitizer report.

The whole configuration is replayed from a file at start (-c): every
scripts/rpc.py call costs seconds under emulation.
"""

import os

import pytest

pytestmark = pytest.mark.vm

# Overridable for trying a differently built daemon.
AXOND = os.environ.get("AXON_VM_AXOND", "build/bin/axond")
NQN = "nqn.2024-01.io.axon:vm-rdma-target"

CONFIG = """{
  "subsystems": [
    {"subsystem": "bdev", "config": [
      {"method": "bdev_malloc_create",
       "params": {"name": "Malloc0", "num_blocks": 16384, "block_size": 4096}}]},
    {"subsystem": "nvmf", "config": [
      {"method": "nvmf_create_transport",
       "params": {"trtype": "RDMA", "max_queue_depth": 64, "num_shared_buffers": 511,
                  "buf_cache_size": 16, "max_srq_depth": 256, "num_cqe": 1024}},
      {"method": "nvmf_create_subsystem",
       "params": {"nqn": "%(nqn)s", "allow_any_host": true, "serial_number": "AXONRDMA01"}},
      {"method": "nvmf_subsystem_add_ns",
       "params": {"nqn": "%(nqn)s", "namespace": {"bdev_name": "Malloc0"}}},
      {"method": "nvmf_subsystem_add_listener",
       "params": {"nqn": "%(nqn)s", "listen_address": {"trtype": "RDMA", "adrfam": "IPv4",
                  "traddr": "10.99.0.1", "trsvcid": "4420"}}},
      {"method": "nvmf_subsystem_add_listener",
       "params": {"nqn": "nqn.2014-08.org.nvmexpress.discovery",
                  "listen_address": {"trtype": "RDMA", "adrfam": "IPv4",
                                     "traddr": "10.99.0.1", "trsvcid": "4420"}}}]}
  ]
}""" % {"nqn": NQN}

# Waits (bounded) until the target holds nothing for the subsystem: no queue
# pair in lib/nvmf, none (live or draining), no request and no buffer in the
# RDMA transport's poll groups. Prints what it saw last on failure.
CHECK_CLEAN = r"""
import json, sys, time
sys.path.insert(0, "scripts")
from rpc.client import Client
sock, nqn = sys.argv[1], sys.argv[2]
deadline = time.time() + 30
while True:
    with Client(sock, timeout=30) as c:
        qpairs = c.call("nvmf_subsystem_get_qpairs", {"nqn": nqn})
        stats = c.call("nvmf_get_stats")
    rdma = [t for g in stats["poll_groups"] for t in g["transports"] if t["trtype"] == "RDMA"]
    held = sum(t["qpairs"] + t["draining_qpairs"] + t["requests_in_use"] + t["buffers_in_use"]
               for t in rdma)
    if not qpairs and rdma and held == 0:
        flushes = sum(d["flush_errors"] for t in rdma for d in t["devices"])
        print("CHECK no qpairs, requests or buffers left (%d poll groups, %d flush errors)"
              % (len(rdma), flushes))
        sys.exit(0)
    if time.time() > deadline:
        print(json.dumps(qpairs, indent=1), json.dumps(rdma, indent=1))
        sys.exit(1)
    time.sleep(0.5)
"""


def test_kernel_host_axond_rdma_target(vm):
    res = vm.run(f"""
        vm_hugepages 256
        cat >/tmp/axond.json <<'EOF'
{CONFIG}
EOF
        cat >/tmp/check_clean.py <<'EOF'
{CHECK_CLEAN}
EOF
        sock=/tmp/axond.sock
        {AXOND} -r $sock -m 0x3 -c /tmp/axond.json >/tmp/axond.log 2>&1 &
        pid=$!
        trap 'kill -9 $pid 2>/dev/null || true; tail -n 40 /tmp/axond.log' ERR
        modprobe nvme-rdma
        vm_wait_for 60 sh -c 'grep -q "listening on 10.99.0.1 port 4420" /tmp/axond.log'
        echo "CHECK axond listening"

        nvme discover -t rdma -a 10.99.0.1 -s 4420 >/tmp/discover
        grep -q 'subnqn: *{NQN}$' /tmp/discover
        grep -q 'trtype: *rdma' /tmp/discover
        echo "CHECK discover lists the subsystem over rdma"

        dev=$(vm_nvme_connect rdma 10.99.0.1 4420 {NQN})
        grep -qx rdma /sys/class/nvme/*/transport
        echo "CHECK connected $dev"

        for bs in 4k 128k 1m; do
            case $bs in 4k) size=1m; qd=8;; 128k) size=4m; qd=4;; 1m) size=8m; qd=2;; esac
            fio --name=v$bs --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \\
                --bs=$bs --iodepth=$qd --size=$size --verify=crc32c --do_verify=1 \\
                --verify_fatal=1 --verify_state_save=0 --output=/tmp/fio-$bs.log \\
                || {{ cat /tmp/fio-$bs.log; exit 1; }}
            grep -q 'err= 0' /tmp/fio-$bs.log
            fio --name=r$bs --filename="$dev" --direct=1 --ioengine=libaio --rw=read \\
                --bs=$bs --iodepth=$qd --size=$size --verify=crc32c --verify_only=1 \\
                --verify_fatal=1 --verify_state_save=0 --output=/tmp/fio-r$bs.log \\
                || {{ cat /tmp/fio-r$bs.log; exit 1; }}
            echo "CHECK fio verify $bs randwrite+read"
        done

        # Kill the host's connection in the middle of I/O.
        fio --name=storm --filename="$dev" --direct=1 --ioengine=libaio --rw=randrw \\
            --bs=64k --iodepth=16 --size=16m --time_based --runtime=30 \\
            --output=/tmp/fio-storm.log &
        fio_pid=$!
        ctrl=
        for c in /sys/class/nvme/nvme*; do
            if grep -qx {NQN} $c/subsysnqn 2>/dev/null; then ctrl=$c; fi
        done
        test -n "$ctrl"
        # A reset tears the queues down under the I/O in flight (delete first
        # drains the block layer), then the host reconnects; then delete.
        sleep 3
        echo 1 > $ctrl/reset_controller
        vm_wait_for 30 grep -qx live $ctrl/state
        sleep 2
        echo 1 > $ctrl/delete_controller
        wait $fio_pid || true
        kill -0 $pid
        echo "CHECK axond up after the controller was deleted mid-I/O"
        python3 /tmp/check_clean.py $sock {NQN}

        dev=$(vm_nvme_connect rdma 10.99.0.1 4420 {NQN})
        head -c 1M /dev/urandom >/tmp/pattern
        dd if=/tmp/pattern of="$dev" bs=1M count=1 oflag=direct status=none
        dd if="$dev" of=/tmp/readback bs=1M count=1 iflag=direct status=none
        cmp /tmp/pattern /tmp/readback
        vm_nvme_disconnect {NQN}
        echo "CHECK reconnected and verified after the kill"
        python3 /tmp/check_clean.py $sock {NQN}

        trap - ERR
        kill -TERM $pid
        rc=0; wait $pid || rc=$?
        if [ $rc -ne 0 ] || grep -E 'Sanitizer|runtime error|LeakSanitizer' /tmp/axond.log; then
            tail -n 60 /tmp/axond.log; exit 1
        fi
        echo "CHECK axond clean exit"
        grep -E 'connection ends|rejecting|ERROR' /tmp/axond.log | tail -n 20
    """, rdma=True, timeout=200)
    out = res.output
    print(out)  # shown with -s: the target's view of the disconnects
    assert res.rc == 0, out
    for line in ("CHECK axond listening", "CHECK discover lists the subsystem over rdma",
                 "CHECK connected /dev/nvme", "CHECK fio verify 4k randwrite+read",
                 "CHECK fio verify 128k randwrite+read", "CHECK fio verify 1m randwrite+read",
                 "CHECK axond up after the controller was deleted mid-I/O",
                 "CHECK no qpairs, requests or buffers left",
                 "CHECK reconnected and verified after the kill", "CHECK axond clean exit"):
        assert line in out, f"missing {line!r}:\n{out}"
