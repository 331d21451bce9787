"""Saved configuration: save_config -> axond -c -> the same document; a broken
configuration file stops start-up and says where."""

import json
import os

import pytest

from rpc_raw import AXOND, Axond, rpc_json, run_rpc, SANITIZER_MARKS

pytestmark = pytest.mark.skipif(not os.access(AXOND, os.X_OK),
                                reason='build/bin/axond is not built')


def test_save_restart_save_gives_the_same_document(tmp_path):
    first = Axond(tmp_path, name='first').wait_ready()
    try:
        run_rpc(first.sock, 'framework_wait_init')
        saved = run_rpc(first.sock, 'save_config').stdout
    finally:
        first.stop()
    doc = json.loads(saved)
    assert isinstance(doc['subsystems'], list)
    cfg = tmp_path / 'saved.json'
    cfg.write_text(saved)

    second = Axond(tmp_path, '-c', str(cfg), name='second').wait_ready()
    try:
        run_rpc(second.sock, 'framework_wait_init')
        assert json.loads(run_rpc(second.sock, 'save_config').stdout) == doc
        # And the document SPDK's rpc.py would build on the client is the same.
        built = {'subsystems': [
            {'subsystem': s['subsystem'],
             'config': rpc_json(second.sock, 'framework_get_config', s['subsystem'])}
            for s in rpc_json(second.sock, 'framework_get_subsystems')]}
        assert built == doc
    finally:
        second.stop()


def start_fails(tmp_path, config_text):
    cfg = tmp_path / 'broken.json'
    cfg.write_text(config_text)
    d = Axond(tmp_path, '-c', str(cfg))
    rc = d.wait_exit()
    d.close()
    out = d.output()
    assert rc != 0, out
    for mark in SANITIZER_MARKS:
        assert mark not in out, out
    return str(cfg), out


def test_bad_parameter_names_file_method_and_parameter(tmp_path):
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_print_level', 'params': {'level': 'LOUD'}}]}]}
    path, out = start_fails(tmp_path, json.dumps(doc))
    line = next(l for l in out.splitlines() if 'LOUD' in l)
    assert path in line and 'log_set_print_level' in line and 'level' in line


def test_unknown_method_names_file_and_method(tmp_path):
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_print_level', 'params': {'level': 'INFO'}},
        {'method': 'no_such_method', 'params': {}}]}]}
    path, out = start_fails(tmp_path, json.dumps(doc))
    line = next(l for l in out.splitlines() if 'no_such_method' in l)
    assert path in line


def test_unknown_parameter_is_named(tmp_path):
    doc = {'subsystems': [{'subsystem': 'log', 'config': [
        {'method': 'log_set_flag', 'params': {'flag': 'all', 'colour': 'blue'}}]}]}
    path, out = start_fails(tmp_path, json.dumps(doc))
    line = next(l for l in out.splitlines() if 'colour' in l)
    assert path in line and 'log_set_flag' in line


def test_invalid_json_names_the_file(tmp_path):
    path, out = start_fails(tmp_path, '{"subsystems": [\n')
    assert path in out
