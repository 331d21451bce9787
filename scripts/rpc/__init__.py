"""axon-rpc: the command-line client of axond's JSON-RPC socket.

Each module in MODULES adds its subcommands with add_parsers(subparsers).
A later module (bdev.py, nvmf.py, ...) is added by appending it here.
"""

from . import bdev, bdev_nvme, dma, framework, log, nvmf, rdma, thread

MODULES = [framework, log, thread, dma, bdev, bdev_nvme, nvmf, rdma]
