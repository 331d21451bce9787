"""Start and stop a real axond for functional tests.

    d = Axond(tmp_path, '-c', cfg, cores='0x3').wait_ready()
    d.rpc('framework_get_reactors')        # scripts/rpc.py, decoded JSON
    d.stop()                               # SIGTERM, exit 0, no sanitizer report

Each instance gets its own RPC socket under tmpdir and its own EAL file
prefix, so tests can run several daemons side by side. By default it runs with
--no-huge -s 1024 on core 0. Its stdout and stderr go to <tmpdir>/<name>.log;
stop() asserts exit code 0 and that the log holds no AddressSanitizer,
LeakSanitizer or UBSan report.
"""
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
AXOND = os.path.join(ROOT, 'build', 'bin', 'axond')
RPC_PY = os.path.join(ROOT, 'scripts', 'rpc.py')
LSAN_SUPP = os.path.join(ROOT, 'test', 'lsan.supp')
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                   'SUMMARY: UndefinedBehaviorSanitizer')

_serial = itertools.count()


class RpcError(AssertionError):
    """rpc.py exited non-zero; .stderr holds the server's message."""

    def __init__(self, args, returncode, stdout, stderr):
        super().__init__("rpc.py %s failed (%d):\nstdout: %s\nstderr: %s"
                         % (' '.join(args), returncode, stdout, stderr))
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def sanitizer_env(env=None):
    """The environment for a sanitized axond: leaks checked, our LSan suppressions."""
    env = dict(os.environ if env is None else env)
    env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0:halt_on_error=1')
    env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
    env.setdefault('LSAN_OPTIONS', 'suppressions=%s:print_suppressions=0' % LSAN_SUPP)
    return env


def run_axond(*args, timeout=60, env=None):
    """Run axond to completion (for -h, bad options); returns CompletedProcess (text)."""
    return subprocess.run([AXOND] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=sanitizer_env(env))


def sanitizer_report(text):
    """The first sanitizer mark found in text, or None."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            return mark
    return None


class Axond:
    """One axond process. Arguments after tmpdir are extra command-line words."""

    def __init__(self, tmpdir, *args, name='axond', cores='0x1', no_huge=True, mem_mb=1024,
                 sock=None, env=None, start=True):
        serial = next(_serial)
        self.name = name
        self.tmpdir = str(tmpdir)
        self.sock = sock or os.path.join(self.tmpdir, '%s.sock' % name)
        self.logpath = os.path.join(self.tmpdir, '%s.log' % name)
        self.file_prefix = 'axon_test_%d_%d' % (os.getpid(), serial)
        self.cmd = [AXOND, '-r', self.sock, '-m', cores, '--file-prefix', self.file_prefix]
        if no_huge:
            self.cmd.append('--no-huge')
        if mem_mb:
            self.cmd += ['-s', str(mem_mb)]
        self.cmd += [str(a) for a in args]
        self.env = sanitizer_env(env)
        self.proc = None
        self.log = None
        if start:
            self.start()

    # ---- life cycle -------------------------------------------------------

    def start(self):
        if not os.path.exists(AXOND):
            raise AssertionError('%s is not built (make -C app/axond)' % AXOND)
        self.log = open(self.logpath, 'w+')
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60):
        """Wait until the RPC socket answers (any phase); fail early if axond exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError('axond exited (%s) before it was ready:\n%s'
                                     % (self.proc.returncode, self.output()))
            if self._answers():
                return self
            time.sleep(0.05)
        raise AssertionError('axond did not answer on %s within %d s:\n%s'
                             % (self.sock, timeout, self.output()))

    def _answers(self):
        if not os.path.exists(self.sock):
            return False
        if not os.path.exists(RPC_PY):
            # No client yet: a socket that accepts connections is enough.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(self.sock)
                    return True
                except OSError:
                    return False
        proc = subprocess.run([sys.executable, RPC_PY, '-s', self.sock, '-t', '2',
                               'spdk_get_version'], capture_output=True, text=True, timeout=30)
        return proc.returncode == 0

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('axond did not exit within %d s:\n%s' % (timeout, self.output()))

    def check_clean(self, rc, expect_rc=0):
        out = self.output()
        assert rc == expect_rc, 'axond exited with %s (expected %s):\n%s' % (rc, expect_rc, out)
        mark = sanitizer_report(out)
        assert mark is None, 'sanitizer report (%s) in the log:\n%s' % (mark, out)

    def stop(self, sig=signal.SIGTERM, timeout=30, expect_rc=0):
        """Signal axond (if still running), wait, and assert a clean exit."""
        if self.running():
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.close()
        self.check_clean(rc, expect_rc)
        return rc

    def kill(self):
        """Tear down without checks (fixture clean-up after a failed test)."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self.close()

    def close(self):
        if self.log is not None and not self.log.closed:
            self.log.close()

    def output(self):
        if self.log is not None and not self.log.closed:
            self.log.flush()
        try:
            with open(self.logpath, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    # ---- measurements and RPC -------------------------------------------------

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        with open('/proc/%d/stat' % self.pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def rpc_raw(self, *args, timeout=60, rpc_timeout=30, input=None):
        """scripts/rpc.py -s SOCK ARGS; the CompletedProcess (text), whatever its exit code."""
        cmd = [sys.executable, RPC_PY, '-s', self.sock, '-t', str(rpc_timeout)]
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)

    def rpc(self, *args, **kwargs):
        """scripts/rpc.py -s SOCK ARGS, decoded JSON (None for empty output).
        Raises RpcError (with the server's message) on a non-zero exit."""
        proc = self.rpc_raw(*args, **kwargs)
        if proc.returncode != 0:
            raise RpcError([str(a) for a in args], proc.returncode, proc.stdout, proc.stderr)
        out = proc.stdout.strip()
        if not out:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return out
