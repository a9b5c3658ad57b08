"""Keeping freed memory in the process on CPU training (glibc only).

glibc's ``malloc`` serves every block above its mmap threshold (at most
32 MiB) with a fresh ``mmap`` and returns it to the kernel on ``free``, and
it trims the heap top once more than the trim threshold is free. A training
step on the CPU allocates and frees gigabytes of activations, so each step
maps them anew and the kernel zero-fills every page on first touch: for
the paper's TSAL config (two HRNetV2-W18 networks on a clip of 10 frames at
256x256) that was 1.6-2.3 million page faults and 1.7-6.6 s of system CPU
time per step on a 2-core CPU, where the plain single-network model with
half the activations stayed under 0.1 s after its first steps.

:func:`retain_freed_memory` asks glibc to serve everything from its heap
and never to give freed memory back, so later steps reuse the pages. The
process then keeps its peak memory until it exits, which a training run
reaches in its first iterations anyway. With the paper's config this
takes the system time of a TSAL step to about 0.1 s
(``tools/benchmark/speed.py --retain-freed-memory``; the README gives the
step times with and without it).
"""
import ctypes
import ctypes.util
import platform

__all__ = ['retain_freed_memory']

# mallopt parameters, <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


def retain_freed_memory() -> None:
    """Make glibc keep freed memory for reuse instead of unmapping it.

    Sets ``M_MMAP_MAX = 0`` (no separately mapped blocks) and
    ``M_TRIM_THRESHOLD`` to its maximum (no trimming) for the rest of the
    process and the workers it forks later.

    Raises:
        RuntimeError: On a C library other than glibc (``mallopt`` is
            glibc's), or when glibc refuses a setting.
    """
    libc_name, _ = platform.libc_ver()
    path = ctypes.util.find_library('c')
    if libc_name != 'glibc' or path is None:
        raise RuntimeError(
            'retain_freed_memory needs glibc (Linux); this Python runs on '
            f'{platform.system()} with C library {libc_name or "unknown"!r}')
    libc = ctypes.CDLL(path)
    for name, param, value in (('M_MMAP_MAX', _M_MMAP_MAX, 0),
                               ('M_TRIM_THRESHOLD', _M_TRIM_THRESHOLD,
                                _INT_MAX)):
        if libc.mallopt(param, value) != 1:
            raise RuntimeError(f'glibc mallopt({name}, {value}) failed')
