"""--wait-for-rpc: start-up-only and runtime-only methods, framework_start_init
and framework_wait_init."""

import json
import os
import subprocess
import sys
import time

import pytest

from rpc_raw import AXOND, RPC_PY, Axond, rpc_json, run_rpc

pytestmark = pytest.mark.skipif(not os.access(AXOND, os.X_OK),
                                reason='build/bin/axond is not built')


def error_of(proc):
    assert proc.returncode != 0, proc.stdout
    return json.loads(proc.stderr.split('response:\n', 1)[1])


def test_wait_for_rpc_phases(tmp_path):
    d = Axond(tmp_path, '--wait-for-rpc').wait_ready()
    try:
        current = rpc_json(d.sock, 'rpc_get_methods', '--current')
        assert 'framework_start_init' in current and 'log_set_level' in current
        assert 'framework_get_subsystems' not in current and 'save_config' not in current

        # A runtime-only method, too early: the error says what to call first.
        err = error_of(run_rpc(d.sock, 'framework_get_subsystems', check=False))
        assert err['code'] == -32604
        assert 'framework_start_init' in err['message']

        # Methods of both phases work now.
        run_rpc(d.sock, 'log_set_print_level', 'notice')

        waiter = subprocess.Popen([sys.executable, RPC_PY, '-s', d.sock, '-t', '60',
                                   'framework_wait_init'],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert waiter.poll() is None, 'framework_wait_init must wait for framework_start_init'

        run_rpc(d.sock, 'framework_start_init')
        out, errout = waiter.communicate(timeout=10)
        assert waiter.returncode == 0, errout

        # A start-up-only method, too late.
        err = error_of(run_rpc(d.sock, 'framework_start_init', check=False))
        assert err['code'] == -32604
        assert 'framework_start_init' in err['message']

        assert isinstance(rpc_json(d.sock, 'framework_get_subsystems'), list)
        assert 'framework_start_init' not in rpc_json(d.sock, 'rpc_get_methods', '--current')
        run_rpc(d.sock, 'framework_wait_init', timeout=5)
    finally:
        d.stop()


def test_load_config_before_start_init_starts_the_subsystems(tmp_path):
    d = Axond(tmp_path, '--wait-for-rpc').wait_ready()
    try:
        doc = {'subsystems': [{'subsystem': 'log', 'config': [
            {'method': 'log_set_print_level', 'params': {'level': 'INFO'}}]}]}
        run_rpc(d.sock, 'load_config', input=json.dumps(doc))
        assert rpc_json(d.sock, 'log_get_print_level') == 'INFO'
        run_rpc(d.sock, 'framework_wait_init', timeout=5)
        assert isinstance(rpc_json(d.sock, 'save_config'), dict)
    finally:
        d.stop()


def test_shutdown_while_framework_wait_init_waits(tmp_path):
    d = Axond(tmp_path, '--wait-for-rpc').wait_ready()
    waiter = subprocess.Popen([sys.executable, RPC_PY, '-s', d.sock, '-t', '60',
                               'framework_wait_init'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert waiter.poll() is None
    d.stop()  # clean exit, no leak of the parked request
    waiter.communicate(timeout=10)
    assert waiter.returncode != 0
