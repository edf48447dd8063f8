"""Keep freed large NumPy buffers in the heap (glibc mallopt) so temporaries are not page-faulted afresh each op.

glibc serves allocations above M_MMAP_THRESHOLD with fresh mmap()s that are zero-filled by page faults on first
touch; an elementwise op over 1M floats then spends most of its time faulting. Raising the thresholds keeps freed
memory in the heap for reuse (measured: 1000x1000 float32 `(x*y+x).exp()` 3.2x faster, see README).

A library should not change its host's malloc: importing ember applies this only when EMBER_MALLOPT=1. The
processes ember owns apply it themselves: the `ember` command (train, tutorial, bench, run: the script runs in that
process, and `ember run -n` ranks get EMBER_MALLOPT=1). EMBER_NO_MALLOPT=1 leaves the allocator alone everywhere.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_LIMIT = 1 << 30  # 1 GiB: bigger buffers still go to mmap and back to the OS when freed

state = {'applied': False, 'reason': 'not attempted'}


def apply_if_requested():
    """At import: only on an explicit EMBER_MALLOPT=1."""
    if os.environ.get('EMBER_MALLOPT', '') not in ('', '0'):
        return apply()
    state['reason'] = 'not applied (a library import leaves malloc alone; EMBER_MALLOPT=1 turns it on)'
    return False


def apply():
    if os.environ.get('EMBER_NO_MALLOPT'):
        state['reason'] = 'disabled by EMBER_NO_MALLOPT'
        return False
    if not sys.platform.startswith('linux'):
        state['reason'] = 'not glibc'
        return False
    try:
        libc = ctypes.CDLL('libc.so.6')
        ok = libc.mallopt(M_MMAP_THRESHOLD, _LIMIT // 2) and libc.mallopt(M_TRIM_THRESHOLD, _LIMIT)
    except (OSError, AttributeError):
        state['reason'] = 'no glibc mallopt'
        return False
    state['applied'], state['reason'] = bool(ok), 'applied' if ok else 'mallopt refused'
    return bool(ok)
