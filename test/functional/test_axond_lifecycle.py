"""axond's life cycle: start on one or two cores, orderly shutdown on SIGTERM
and SIGINT with no leak, quiet idling, systemd notifications, bad options."""
import os
import signal
import socket
import time

from axond import Axond, run_axond, sanitizer_report


def test_two_cores_sigterm(axond_factory):
    d = axond_factory(cores='0x3')
    reactors = d.rpc('framework_get_reactors')['reactors']
    assert sorted(r['lcore'] for r in reactors) == [0, 1]
    d.stop(signal.SIGTERM)
    out = d.output()
    assert 'shutting down' in out and 'stopped' in out


def test_two_cores_sigint(axond_factory):
    d = axond_factory(cores='0x3')
    d.stop(signal.SIGINT)


def test_idle_without_config(axond_factory):
    """No config: it starts, idles in epoll sleep (adaptive polling), and stops cleanly.

    Whether the reactors sleep is observed through their sleep counters, not CPU
    time, so the result does not depend on how loaded the machine is; CPU
    figures belong to test/bench/thread.sh."""
    d = axond_factory(cores='0x3')
    time.sleep(0.5)
    first = {r['lcore']: r['sleep_count'] for r in d.rpc('framework_get_reactors')['reactors']}
    time.sleep(1)
    second = {r['lcore']: r['sleep_count'] for r in d.rpc('framework_get_reactors')['reactors']}
    assert d.running()
    for core, count in second.items():
        assert count > 0, 'reactor %d never slept' % core
        assert count >= first[core]
    d.stop()


def test_no_adaptive_polling_spins(axond_factory):
    """--no-adaptive-polling: the reactors never sleep, however idle they are."""
    d = axond_factory('--no-adaptive-polling', cores='0x3')
    time.sleep(1)
    for info in d.rpc('framework_get_reactors')['reactors']:
        assert info['sleep_count'] == 0, info
        assert not info['in_interrupt'], info
    d.stop()


def test_sd_notify(tmp_path, axond_bin):
    """READY=1 once started, STOPPING=1 when shutdown begins (NOTIFY_SOCKET protocol)."""
    path = str(tmp_path / 'notify.sock')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns:
        ns.bind(path)
        ns.settimeout(60)
        d = Axond(tmp_path, env=dict(os.environ, NOTIFY_SOCKET=path))
        try:
            ready = ns.recv(4096).decode()
            assert 'READY=1' in ready.split('\n'), ready
            d.wait_ready()
            d.send_signal(signal.SIGTERM)
            stopping = ns.recv(4096).decode()
            assert 'STOPPING=1' in stopping.split('\n'), stopping
            d.stop()
        finally:
            d.kill()


def test_bad_option():
    proc = run_axond('--no-such-option')
    assert proc.returncode != 0
    assert 'unknown option --no-such-option' in proc.stderr
    assert sanitizer_report(proc.stdout + proc.stderr) is None


def test_bad_value():
    proc = run_axond('-m', 'zz')
    assert proc.returncode != 0
    assert '-m zz' in proc.stderr


def test_help():
    proc = run_axond('-h')
    assert proc.returncode == 0, proc.stderr
    for opt in ('--cpumask', '--rpc-socket', '--no-huge', '--wait-for-rpc',
                '--no-adaptive-polling', '--idle-sleep-us', '--file-prefix'):
        assert opt in proc.stdout
    assert sanitizer_report(proc.stdout + proc.stderr) is None


def test_missing_config_file(tmp_path, axond_bin):
    """A configuration file that cannot be read stops start-up, naming the file."""
    missing = str(tmp_path / 'nope.json')
    d = Axond(tmp_path, '-c', missing)
    rc = d.wait_exit()
    d.close()
    assert rc != 0
    out = d.output()
    assert missing in out
    assert sanitizer_report(out) is None, out
