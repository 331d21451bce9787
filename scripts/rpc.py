#!/usr/bin/env python3
"""axon-rpc: call axond's JSON-RPC methods from the command line.

Examples:
  axon-rpc rpc_get_methods
  axon-rpc -s /var/tmp/axon.sock log_set_level DEBUG
  axon-rpc save_config > axond.json
  axon-rpc load_config -j axond.json
  axon-rpc < commands.txt          (one command per line, pipelined)
"""

import os
import sys


def _find_package():
    here = os.path.dirname(os.path.realpath(__file__))
    # Source tree: scripts/rpc/. Installed: <prefix>/bin/axon-rpc with the package
    # in <prefix>/lib/axon/ (axon-rpc may be a copy or a symlink).
    candidates = [os.environ.get('AXON_RPC_PYTHONPATH'), here,
                  os.path.join(here, '..', 'lib', 'axon')]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, 'rpc', 'main.py')):
            return c
    sys.exit("axon-rpc: cannot find its Python package 'rpc' next to %s or in "
             "../lib/axon; set AXON_RPC_PYTHONPATH" % here)


sys.path.insert(0, _find_package())

from rpc.main import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
