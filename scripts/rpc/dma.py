"""Memory domains (lib/dma)."""

from .cmd import A, add, print_dict


def add_parsers(sp):
    add(sp, 'dma_get_memory_domains',
        'list memory domains (the system domain first), optionally only those of one DMA device',
        args=[A('-i', '--id', dest='id', help='only domains whose dma_device_id is ID')],
        output=print_dict)
