"""Axon's NVMe/TCP target against the Linux kernel host: axond runs inside the
guest (ASan build, --no-huge), the kernel's nvme-tcp, nvme-cli and fio in
front of it on 127.0.0.1:4420. Two guests: the data path, then hosts that
misbehave. The guest scripts are test/vm/tests/nvmf_tcp/*.sh; each step
prints a CHECK line (with the seconds since the script started), so a
failure names the step, and the script prints axond's log and the kernel's
nvme messages when it fails."""

import re

import pytest

pytestmark = pytest.mark.vm

# One guest each; the budget of the whole VM suite is 10 minutes, and each of
# these takes 1.5-2.5 minutes (more on a loaded machine).
TIMEOUT_S = 420


def run_script(vm, name):
    res = vm.run(f". test/vm/tests/nvmf_tcp/{name}.sh", timeout=TIMEOUT_S)
    print(f"{name}: guest run took {res.seconds:.0f} s")
    return res


def assert_checks(res, checks):
    out = res.output
    done = set(re.findall(r"^CHECK (\S+)", out, re.M))
    missing = [c for c in checks if c not in done]
    assert res.rc == 0 and not missing, \
        f"status {res.rc}, missing checks {missing}\n" + out[-12000:]


def test_kernel_host_data_path(vm):
    """Discovery, identity (size, serial, model, UUID), namespace hot add and
    remove while connected, fio verify=crc32c at 4 KiB / 128 KiB / 1 MiB with
    digests off then on (reconnect with -g -G), disconnect leaves nothing
    behind, and ext4 written, unmounted, disconnected, reconnected and read
    back."""
    res = run_script(vm, "datapath")
    assert_checks(res, [
        "axond-configured", "discover-lists-subsystem", "identity-matches-rpc",
        "ns-hot-add-seen", "ns-hot-remove-seen",
        "fio-verify-nodigest-4k", "fio-verify-nodigest-128k", "fio-verify-nodigest-1m",
        "disconnect-leaves-nothing", "reconnect-with-digests",
        "fio-verify-digest-4k", "fio-verify-digest-128k", "fio-verify-digest-1m",
        "ext4-survives-reconnect", "axond-clean-exit",
    ])


def test_kernel_host_failures(vm):
    """A host that is not allowed is refused (and not shown by discovery)
    until nvmf_subsystem_add_host; a host whose connections are reset under
    I/O and whose fio is killed leaves no queue pair behind while another
    host's verified I/O goes on; keep-alive timeouts for a silent raw host
    (KATO 1000 ms) and for a kernel host whose packets stop arriving (it
    reconnects when they flow again)."""
    res = run_script(vm, "failures")
    assert_checks(res, [
        "axond-configured", "host-refused", "host-allowed-after-add-host",
        "victim-killed", "victim-qpairs-gone-survivor-kept", "survivor-io-verified",
        "all-qpairs-gone", "kato-raw-host-torn-down", "kato-kernel-host-torn-down-and-back",
        "axond-clean-exit",
    ])
