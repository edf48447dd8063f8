"""Keep freed large NumPy buffers in the heap (glibc mallopt) so temporaries are not page-faulted afresh each op.

glibc serves allocations above M_MMAP_THRESHOLD with fresh mmap()s that are zero-filled by page faults on first
touch; an elementwise op over 1M floats then spends most of its time faulting. Raising the thresholds keeps freed
memory in the heap for reuse. Set EMBER_NO_MALLOPT=1 to leave the allocator alone.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_LIMIT = 1 << 30  # 1 GiB: bigger buffers still go to mmap and back to the OS when freed

state = {'applied': False, 'reason': 'not attempted'}


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
