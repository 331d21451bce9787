"""Fixtures shared by the functional tests (see axond.py for the daemon helper).

    def test_x(axond):                 # a running axond on core 0, stopped and checked after
        axond.rpc('framework_get_reactors')

    def test_y(axond_factory):         # any number of daemons, each with its own options
        d = axond_factory('-c', cfg, cores='0x3')
        d.stop()                       # or let the fixture stop it at the end
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from axond import AXOND, Axond  # noqa: E402


@pytest.fixture(scope='session')
def axond_bin():
    """Path of build/bin/axond; fails (never skips) when it is not built."""
    if not os.path.exists(AXOND):
        pytest.fail('%s is not built: run make first' % AXOND)
    return AXOND


@pytest.fixture
def axond_factory(axond_bin, tmp_path):
    """Start daemons: axond_factory(*args, name=, cores=, wait=True, **Axond kwargs).
    Every daemon still running at the end is stopped with SIGTERM and must exit
    0 with no sanitizer report; when the test itself failed they are just killed."""
    started = []

    def start(*args, name=None, wait=True, **kwargs):
        d = Axond(tmp_path, *args, name=name or 'axond%d' % len(started), **kwargs)
        started.append(d)
        if wait:
            d.wait_ready()
        return d

    yield start
    errors = []
    for d in started:
        if d.proc is None or d.log is None or d.log.closed:
            continue
        try:
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            d.kill()
    if errors:
        pytest.fail('\n\n'.join(errors))


@pytest.fixture
def axond(axond_factory):
    """One running axond (core 0, --no-huge -s 1024), ready to answer RPCs."""
    return axond_factory(name='axond')
