"""The harness itself: the guest's environment, python in the guest, and the
failure paths (failing command, hanging command, guest that cannot start)."""

import os
import pathlib
import subprocess
import time

import pytest

from conftest import REPO, RUN, RC_HARNESS, RC_TIMEOUT, Vm

pytestmark = pytest.mark.vm


def test_guest_environment(vm):
    marker = REPO / "build" / "vm" / f"share-check.{os.getpid()}"
    marker.unlink(missing_ok=True)
    res = vm.run(f"""
        test "$PWD" = {REPO}
        test "$(id -u)" = 0
        test "$(hostname)" = axon-vm
        test "$AXON_VM" = 1 && test "$AXON_VM_LIB" = {REPO}/test/vm/lib.sh
        test "$AXON_VM_FROM_HOST" = "two words"
        # Debian's kernel, not the host's, with a usable module tree.
        case $(uname -r) in *-amd64) ;; *) exit 10;; esac
        modprobe loop && grep -q '^loop ' /proc/modules
        findmnt -n -o FSTYPE /tmp | grep -qx tmpfs
        echo scratch >/tmp/x && test "$(cat /tmp/x)" = scratch
        findmnt -n -o FSTYPE /dev/hugepages | grep -qx hugetlbfs
        vm_hugepages 16
        ip -o link show lo | grep -q 'UP'
        test -c /dev/null && test -d /proc/self && test -d /sys/bus/pci
        # The host root is read-only underneath, the overlay takes writes.
        touch /usr/axon-overlay-check
        # The repository is the host's, writable.
        echo from-guest >{marker}
        echo guest-environment-ok
    """, env={"AXON_VM_FROM_HOST": "two words"})
    assert res.rc == 0, res.output
    assert "guest-environment-ok" in res.output
    assert marker.read_text() == "from-guest\n"
    marker.unlink()
    assert not pathlib.Path("/usr/axon-overlay-check").exists()


def _guest_python(count, word):
    import platform
    import socket
    for i in range(count):
        print(f"{word} {i} on {socket.gethostname()} {platform.release()}")
    return 0 if socket.gethostname() == "axon-vm" else 3


def test_python_function_and_failing_command(vm):
    """A python function runs in the guest; a failing one makes run exit
    non-zero with the guest's output (here printed on failure by --quiet)."""
    res = vm.python(_guest_python, 2, "hello")
    assert res.rc == 0, res.output
    assert "hello 1 on axon-vm" in res.output

    res = vm.python("""
        import sys
        print("output before failing")
        print("on stderr", file=sys.stderr)
        sys.exit(7)
    """, quiet=True)
    assert res.rc == 7, res.output
    assert "output before failing" in res.output
    assert "on stderr" in res.output
    assert "the command failed with status 7" in res.output


def test_hanging_command_is_killed(vm):
    timeout = 45
    start = time.monotonic()
    res = vm.run("echo about-to-hang; sleep 1000", timeout=timeout)
    elapsed = time.monotonic() - start
    assert res.rc == RC_TIMEOUT, res.output
    assert "about-to-hang" in res.output
    assert f"still running after {timeout}s and was killed" in res.output
    assert elapsed < timeout + 30


def test_bad_usage_is_a_harness_error():
    for args in (["--nvme", "x", "--", "true"], ["--", ], ["--bogus", "--", "true"]):
        proc = subprocess.run([str(RUN), *args], capture_output=True, text=True)
        assert proc.returncode == RC_HARNESS, (args, proc.stderr)
        assert "axon-vm:" in proc.stderr


def test_guest_that_cannot_start_fails_the_test():
    """The fixture turns a harness failure into a test failure with the
    reason, never a skip or a pass."""
    broken = Vm(extra_env={"AXON_VM_QEMU": "false"})
    with pytest.raises(pytest.fail.Exception) as failed:
        broken.run("true", timeout=30)
    assert "the guest ended" in str(failed.value)
    assert "without reporting the command's exit status" in str(failed.value)
