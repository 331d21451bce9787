"""RDMA devices (lib/rdma)."""

from .cmd import add, print_dict


def add_parsers(sp):
    add(sp, 'rdma_get_devices',
        'list RDMA devices: ports (state, active MTU, link layer, GID 0) and registered memory',
        output=print_dict)
