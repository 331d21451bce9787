"""The NVMe bdev (drivers/bdev/nvme) against the Linux kernel nvmet TCP target:
bdevperf verify with digests on, then faults: the target's port is removed
mid-I/O and restored (the bdev reconnects and verify carries on without a
failed I/O), and removed for good with a short loss timeout (I/O fails
cleanly, bdevperf ends). One guest."""

import pytest

pytestmark = pytest.mark.vm

NQN = "nqn.2024-01.io.axon:bdev-nvme"


def test_bdev_nvme_on_kernel_nvmet(vm):
    res = vm.run(f"""
        test -x build/bin/bdevperf || vm_die "build/bin/bdevperf missing: make -C app/bdevperf"
        loop=$(vm_loop_create /tmp/ns1.img 64M)
        port=$(vm_nvmet_target tcp 127.0.0.1 4420 {NQN} "$loop")
        link="$VM_NVMET/ports/$port/subsystems/{NQN}"

        config() {{  # config FILE EXTRA-PARAMS-JSON
            cat >"$1" <<EOF
{{"subsystems": [{{"subsystem": "bdev", "config": [
  {{"method": "bdev_nvme_attach_controller",
   "params": {{"name": "Nvme0", "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
              "trsvcid": "4420", "subnqn": "{NQN}" $2}}}}]}}]}}
EOF
        }}
        bdevperf() {{ build/bin/bdevperf --no-huge -s 1024 "$@"; }}
        total() {{ grep -E '^Total ' "$1" | awk '{{print $4}}'; }}  # failed I/O
        running() {{ vm_wait_for 60 grep -q 'bdevperf started' "$1"; sleep 2; }}  # I/O flows

        config /tmp/digests.json ', "hdgst": true, "ddgst": true'
        bdevperf -c /tmp/digests.json -q 16 -o 4096 -w verify -t 3 | tee /tmp/v1
        grep -q '^Nvme0n1 ' /tmp/v1
        [ "$(total /tmp/v1)" = 0 ]
        echo CHECK verify-digests

        # The port goes away mid-I/O and comes back: I/O waits, then resumes.
        config /tmp/reconnect.json ', "ctrlr_loss_timeout_sec": 30, "reconnect_delay_sec": 1'
        bdevperf -c /tmp/reconnect.json -q 16 -o 4096 -w verify -t 12 >/tmp/v2 2>&1 &
        bp=$!
        running /tmp/v2
        rm "$link"
        echo CHECK port-removed
        sleep 3
        ln -s "$VM_NVMET/subsystems/{NQN}" "$link"
        wait $bp || {{ cat /tmp/v2; vm_die "bdevperf failed across the reconnect"; }}
        cat /tmp/v2
        grep -q 'admin connection lost; reconnecting' /tmp/v2
        grep -q 'controller reconnected' /tmp/v2
        [ "$(total /tmp/v2)" = 0 ]
        echo CHECK reconnect-verify-resumes

        # Gone for good, short loss timeout: I/O fails cleanly, nothing hangs.
        config /tmp/loss.json ', "ctrlr_loss_timeout_sec": 2, "reconnect_delay_sec": 1'
        bdevperf -c /tmp/loss.json -q 16 -o 4096 -w verify -t 8 >/tmp/v3 2>&1 &
        bp=$!
        running /tmp/v3
        rm "$link"
        rc=0; timeout 60 tail --pid=$bp -f /dev/null || rc=$?
        [ $rc = 0 ] || vm_die "bdevperf hung after the loss timeout"
        wait $bp || true
        cat /tmp/v3
        grep -q 'controller lost' /tmp/v3
        [ "$(total /tmp/v3)" -gt 0 ]
        echo CHECK loss-timeout-fails-io

        vm_nvmet_teardown
        echo CHECK torn-down
    """, timeout=180)
    assert res.rc == 0, res.output
    for check in ("verify-digests", "port-removed", "reconnect-verify-resumes",
                  "loss-timeout-fails-io", "torn-down"):
        assert f"CHECK {check}" in res.output, res.output
