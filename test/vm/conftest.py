"""pytest glue for the QEMU harness (test/vm/run).

A test asks for the ``vm`` fixture and runs a bash script or a python function
in a fresh guest:

    @pytest.mark.vm
    def test_something(vm):
        res = vm.run("nvme list", nvme="1")
        assert res.rc == 0, res.output

Each call boots its own guest. The result carries the command's exit status and
everything the guest printed (console, stdout and stderr merged). When the
harness itself fails (the guest cannot boot, the cache cannot be prepared) the
test fails with the harness's reason: VM tests are never skipped.
"""

import dataclasses
import inspect
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

VM_DIR = pathlib.Path(__file__).resolve().parent
REPO = VM_DIR.parent.parent
RUN = VM_DIR / "run"

# test/vm/run's own exit statuses (see its header).
RC_TIMEOUT = 124
RC_HARNESS = 125

# Every bash script starts with this: strict mode and the guest helpers.
SCRIPT_PRELUDE = "set -euo pipefail\n. test/vm/lib.sh\n"

# Extra seconds the host-side watchdog gives run beyond the guest's timeout
# (fetching the kernel on the first run, QEMU start and shutdown).
HOST_GRACE_S = 300


@dataclasses.dataclass
class VmResult:
    """What a guest run produced."""

    rc: int
    output: str
    seconds: float

    @property
    def timed_out(self):
        return self.rc == RC_TIMEOUT

    def __iter__(self):
        # Lets a test write `rc, out = vm.run(...)`.
        return iter((self.rc, self.output))


def _options(nvme=None, iommu=False, rdma=False, mem=None, smp=None,
             timeout=300, env=None, quiet=False, keep_log=False):
    opts = []
    if nvme is not None:
        opts += ["--nvme", str(nvme)]
    if iommu:
        opts.append("--iommu")
    if rdma:
        opts.append("--rdma")
    if mem is not None:
        opts += ["--mem", str(mem)]
    if smp is not None:
        opts += ["--smp", str(smp)]
    opts += ["--timeout", str(timeout)]
    for name, value in (env or {}).items():
        opts += ["--env", f"{name}={value}"]
    if quiet:
        opts.append("--quiet")
    if keep_log:
        opts.append("--keep-log")
    return opts, timeout


def _harness_reason(output):
    lines = [l for l in output.splitlines() if l.startswith("axon-vm: ")]
    return "\n".join(lines[-6:]) or "no message from test/vm/run"


class Vm:
    """Runs commands in guests. Options of run/python map to test/vm/run's:
    nvme="N[:SIZE]", iommu=True, rdma=True, mem=MiB, smp=N, timeout=seconds
    (default 300), env={NAME: value}, quiet=True, keep_log=True."""

    def __init__(self, run_path=RUN, extra_env=None):
        self.run_path = str(run_path)
        self.extra_env = extra_env or {}

    def command(self, argv, **options):
        """Runs argv (a list) in a guest; returns a VmResult. Fails the test
        when the harness could not run it (status 125)."""
        opts, timeout = _options(**options)
        cmd = [self.run_path, *opts, "--", *argv]
        env = dict(os.environ, **self.extra_env)
        start = time.monotonic()
        chunks = []
        # Stream the guest's output into the test's stdout as it comes (pytest
        # shows it on failure, or live with -s) and keep a copy for the result.
        # run enforces the timeout itself; the watchdog only catches a stuck
        # run, killing its whole process group (run and its QEMU).
        with subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace",
                              start_new_session=True) as proc:
            stuck = threading.Event()

            def kill():
                stuck.set()
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            watchdog = threading.Timer(timeout + HOST_GRACE_S, kill)
            watchdog.start()
            try:
                for line in proc.stdout:
                    chunks.append(line)
                    sys.stdout.write(line)
                proc.wait()
            finally:
                watchdog.cancel()
        if stuck.is_set():
            pytest.fail(f"test/vm/run did not return within {timeout + HOST_GRACE_S}s "
                        "and was killed:\n" + "".join(chunks)[-8000:], pytrace=False)
        result = VmResult(proc.returncode, "".join(chunks), time.monotonic() - start)
        if result.rc == RC_HARNESS:
            pytest.fail("the VM harness failed (status 125):\n"
                        + _harness_reason(result.output)
                        + "\n---- full output ----\n" + result.output[-8000:],
                        pytrace=False)
        return result

    def run(self, script, **options):
        """Runs a bash script (strict mode, test/vm/lib.sh sourced) as root in
        the repository root of a guest."""
        return self.command(["bash", "-c", SCRIPT_PRELUDE + textwrap.dedent(script),
                             "vm-script"], **options)

    def python(self, code, *args, **options):
        """Runs python code in a guest. `code` is a source string or a
        self-contained top-level function (it imports what it uses), called
        with `args` (literals); its return value becomes the exit status."""
        if callable(code):
            src = textwrap.dedent(inspect.getsource(code))
            call = f"{code.__name__}(*{args!r})"
            code = f"{src}\nimport sys\nsys.exit({call})\n"
        elif args:
            raise TypeError("args only go with a function")
        return self.command(["python3", "-c", textwrap.dedent(code)], **options)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "vm: boots a QEMU guest through test/vm/run (slow; never skipped)")


def pytest_collection_modifyitems(items):
    # A test using the fixture is a VM test even if it forgot the marker.
    for item in items:
        if "vm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.vm)


@pytest.fixture
def vm():
    """A Vm: vm.run(script, **opts), vm.python(code_or_function, *args, **opts),
    vm.command(argv, **opts)."""
    return Vm()
