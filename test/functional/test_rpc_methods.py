"""Every method of the control plane, called through scripts/rpc.py."""

import json
import os
import re

import pytest

from rpc_raw import AXOND, ROOT, Axond, rpc_json, run_rpc

OUR_METHODS = {
    'rpc_get_methods', 'spdk_get_version', 'axon_get_version', 'framework_start_init',
    'framework_wait_init', 'framework_get_reactors', 'framework_get_subsystems',
    'framework_get_config', 'thread_get_stats', 'thread_get_pollers', 'log_set_level',
    'log_get_level', 'log_set_print_level', 'log_get_print_level', 'log_set_flag',
    'log_clear_flag', 'log_get_flags', 'save_config', 'load_config', 'axon_kill_instance',
    'spdk_kill_instance',
}
LEVELS = ['ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG']


@pytest.fixture(scope='module')
def sock(tmp_path_factory):
    if not os.access(AXOND, os.X_OK):
        pytest.skip('build/bin/axond is not built')
    d = Axond(tmp_path_factory.mktemp('rpc_methods')).wait_ready()
    run_rpc(d.sock, 'framework_wait_init')
    yield d.sock
    d.stop()


def rpc_fails(sock, *args, code):
    """The call exits non-zero and prints the server's error (with code) on stderr."""
    proc = run_rpc(sock, *args, check=False)
    assert proc.returncode != 0, proc.stdout
    assert proc.stdout == ''
    assert '"code": %d' % code in proc.stderr, proc.stderr
    return json.loads(proc.stderr.split('response:\n', 1)[1])['message']


def test_rpc_get_methods(sock):
    methods = rpc_json(sock, 'rpc_get_methods')
    assert OUR_METHODS <= set(methods)
    assert methods == sorted(set(methods))
    current = rpc_json(sock, 'rpc_get_methods', '--current')
    assert 'framework_start_init' not in current  # start-up only; we are running
    assert OUR_METHODS - {'framework_start_init'} <= set(current)
    assert set(rpc_json(sock, 'rpc_get_methods', '-i')) >= set(methods)


def test_versions(sock):
    header = open(os.path.join(ROOT, 'include', 'axon', 'version.h')).read()
    want = {k: int(re.search(r'AXON_VERSION_%s (\d+)' % k.upper(), header).group(1))
            for k in ('major', 'minor', 'patch')}
    want['suffix'] = re.search(r'AXON_VERSION_SUFFIX "([^"]*)"', header).group(1)
    v = rpc_json(sock, 'axon_get_version')
    assert v['fields'] == want
    assert v['version'] == 'Axon v%d.%d.%d%s' % (want['major'], want['minor'], want['patch'],
                                                  want['suffix'])
    assert rpc_json(sock, 'spdk_get_version') == v


def test_framework_get_reactors(sock):
    r = rpc_json(sock, 'framework_get_reactors')
    assert r['tick_rate'] > 0
    assert [x['lcore'] for x in r['reactors']] == [0]
    threads = r['reactors'][0]['lw_threads']
    assert threads and all(isinstance(t['name'], str) and t['id'] > 0 for t in threads)
    for key in ('busy', 'idle'):
        assert r['reactors'][0][key] >= 0
    assert isinstance(r['reactors'][0]['in_interrupt'], bool)


def test_subsystems_and_their_config(sock):
    subsystems = rpc_json(sock, 'framework_get_subsystems')
    seen = set()
    for s in subsystems:
        assert set(s) == {'subsystem', 'depends_on'}
        assert set(s['depends_on']) <= seen, 'start order puts dependencies first'
        seen.add(s['subsystem'])
        config = rpc_json(sock, 'framework_get_config', s['subsystem'])
        assert isinstance(config, list)
        for entry in config:
            assert isinstance(entry['method'], str)
    msg = rpc_fails(sock, 'framework_get_config', 'no_such_subsystem', code=-32602)
    assert msg.startswith('name:') and 'no_such_subsystem' in msg


def test_thread_get_stats(sock):
    stats = rpc_json(sock, 'thread_get_stats')
    assert stats['tick_rate'] > 0 and stats['threads']
    for t in stats['threads']:
        assert isinstance(t['name'], str) and t['id'] > 0
        assert t['busy'] >= 0 and t['idle'] >= 0
    reactor_ids = {t['id'] for r in rpc_json(sock, 'framework_get_reactors')['reactors']
                   for t in r['lw_threads']}
    assert {t['id'] for t in stats['threads']} == reactor_ids


def test_thread_get_pollers(sock):
    result = rpc_json(sock, 'thread_get_pollers')
    assert result['tick_rate'] > 0
    pollers = []
    for t in result['threads']:
        for kind, state in (('active_pollers', 'active'), ('timed_pollers', 'timed'),
                            ('paused_pollers', 'paused')):
            for p in t[kind]:
                assert p['state'] == state
                assert p['run_count'] >= p['busy_count'] >= 0
                assert (p['period_ticks'] > 0) == (kind == 'timed_pollers') or kind == 'paused_pollers'
                pollers.append(p['name'])
    assert pollers, 'the RPC server itself polls'


@pytest.mark.parametrize('which', ['level', 'print_level'])
def test_log_levels(sock, which):
    original = rpc_json(sock, 'log_get_' + which)
    assert original in LEVELS
    try:
        for level in LEVELS:
            run_rpc(sock, 'log_set_' + which, level.lower())
            assert rpc_json(sock, 'log_get_' + which) == level
        run_rpc(sock, 'log_set_' + which, 'Warning')
        assert rpc_json(sock, 'log_get_' + which) == 'WARNING'
        msg = rpc_fails(sock, 'log_set_' + which, 'LOUD', code=-32602)
        assert msg.startswith('level:') and 'LOUD' in msg
        assert rpc_json(sock, 'log_get_' + which) == 'WARNING'
    finally:
        run_rpc(sock, 'log_set_' + which, original)


def test_log_flags(sock):
    flags = rpc_json(sock, 'log_get_flags')
    assert isinstance(flags, dict)
    assert all(isinstance(v, bool) for v in flags.values())
    run_rpc(sock, 'log_set_flag', 'all')
    assert all(rpc_json(sock, 'log_get_flags').values())
    run_rpc(sock, 'log_clear_flag', 'all')
    assert not any(rpc_json(sock, 'log_get_flags').values())
    for name in list(flags)[:3]:
        run_rpc(sock, 'log_set_flag', name)
        assert rpc_json(sock, 'log_get_flags')[name] is True
        run_rpc(sock, 'log_clear_flag', name)
        assert rpc_json(sock, 'log_get_flags')[name] is False
    for cmd in ('log_set_flag', 'log_clear_flag'):
        msg = rpc_fails(sock, cmd, 'no_such_flag', code=-32602)
        assert msg.startswith('flag:') and 'no_such_flag' in msg


def test_save_config_matches_the_client_built_document(sock):
    saved = json.loads(run_rpc(sock, 'save_config').stdout)
    # What SPDK's rpc.py save_config builds on the client.
    built = {'subsystems': [
        {'subsystem': s['subsystem'],
         'config': rpc_json(sock, 'framework_get_config', s['subsystem'])}
        for s in rpc_json(sock, 'framework_get_subsystems')]}
    assert saved == built
    assert [s['subsystem'] for s in saved['subsystems']] == \
        [s['subsystem'] for s in rpc_json(sock, 'framework_get_subsystems')]
    compact = run_rpc(sock, 'save_config', '-i', '-1').stdout
    assert compact == json.dumps(saved) + '\n'


def test_load_config_replays_save_config(sock, tmp_path):
    saved = run_rpc(sock, 'save_config').stdout
    f = tmp_path / 'saved.json'
    f.write_text(saved)
    run_rpc(sock, 'load_config', '-j', f)
    run_rpc(sock, 'load_config', input=saved)
    assert json.loads(run_rpc(sock, 'save_config').stdout) == json.loads(saved)


def test_load_config_rejects_a_bad_document_and_applies_nothing(sock):
    before = rpc_json(sock, 'log_get_print_level')
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_print_level', 'params': {'level': 'ERROR'}},
        {'method': 'no_such_method', 'params': {}}]}]}
    proc = run_rpc(sock, 'load_config', input=json.dumps(doc), check=False)
    assert proc.returncode != 0 and 'load_config' in proc.stderr
    assert rpc_json(sock, 'log_get_print_level') == before


def test_load_config_applies_methods(sock):
    before = rpc_json(sock, 'log_get_print_level')
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_print_level', 'params': {'level': 'INFO'}}]}]}
    try:
        run_rpc(sock, 'load_config', input=json.dumps(doc))
        assert rpc_json(sock, 'log_get_print_level') == 'INFO'
    finally:
        run_rpc(sock, 'log_set_print_level', before)


def test_stdin_script_pipelined(sock):
    script = ('log_set_print_level debug\n'
              'log_get_print_level\n'
              '# restore\n'
              'log_set_print_level notice\n'
              'log_get_print_level\n'
              'framework_get_config no_such_subsystem\n'
              'spdk_get_version\n')
    proc = run_rpc(sock, input=script, check=False)
    assert proc.returncode == 1
    assert 'line 6' in proc.stderr and '-32602' in proc.stderr
    out = proc.stdout
    assert out.index('"DEBUG"') < out.index('"NOTICE"') < out.index('"version"')


def test_dry_run_sends_nothing(sock):
    before = rpc_json(sock, 'log_get_level')
    proc = run_rpc(sock, '--dry-run', 'log_set_level', 'ERROR' if before != 'ERROR' else 'INFO')
    assert json.loads(proc.stdout)['method'] == 'log_set_level'
    assert rpc_json(sock, 'log_get_level') == before


def test_verbose_prints_the_exchange(sock):
    proc = run_rpc(sock, '-v', 'log_get_level')
    assert '"method": "log_get_level"' in proc.stderr and '"result"' in proc.stderr


def test_kill_instance_bad_signal(sock):
    for cmd in ('spdk_kill_instance', 'axon_kill_instance'):
        msg = rpc_fails(sock, cmd, 'SIGHUP', code=-32602)
        assert msg.startswith('sig_name:') and 'SIGTERM' in msg


@pytest.mark.parametrize('cmd,sig', [('spdk_kill_instance', 'SIGTERM'),
                                     ('axon_kill_instance', 'SIGINT')])
def test_kill_instance_shuts_down_cleanly(tmp_path, cmd, sig):
    if not os.access(AXOND, os.X_OK):
        pytest.skip('build/bin/axond is not built')
    d = Axond(tmp_path).wait_ready()
    run_rpc(d.sock, cmd, sig)
    rc = d.wait_exit()
    d.check_clean(rc)
    assert not os.path.exists(d.sock)
