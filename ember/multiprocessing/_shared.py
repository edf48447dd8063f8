"""Tensor storage in POSIX shared memory: share_memory_(), and pickling that sends shared tensors by segment name."""
import mmap
import os
import weakref
from multiprocessing import shared_memory, resource_tracker
from multiprocessing.reduction import ForkingPickler

import numpy as np

__all__ = ['share_tensor', 'is_shared', 'reduce_tensor', 'register_reducers', 'transfer_ownership',
           'new_shared_array', 'new_segment', 'drop_segment', 'unlink_segment', 'attach_untracked']

_USE_POSIX = getattr(shared_memory, '_USE_POSIX', False)


class _Segment:
    """One mapped segment. ``owner``: this process unlinks it when its arrays are gone (only in process ``pid``:
    a forked child inherits the table but never unlinks its parent's segments). ``tracked``: registered with this
    process's resource tracker, so unlinking must unregister it. ``base``: the array whose death releases it.
    ``escaped``: sent to another process by name (it may still be reading it: never reuse the memory)."""
    __slots__ = ('shm', 'start', 'end', 'owner', 'transfer', 'tracked', 'pid', 'base', 'escaped', '__weakref__')

    def __init__(self, shm, owner, tracked=True):
        self.shm, self.owner, self.transfer, self.tracked, self.pid = shm, owner, False, tracked, os.getpid()
        self.start = np.frombuffer(shm.buf, dtype=np.uint8).__array_interface__['data'][0] if shm.size else 0
        self.end = self.start + shm.size
        self.base = None
        self.escaped = False


_segments = {}  # name -> _Segment, for every segment this process created or attached and still maps


def unlink_segment(path, tracked=False):
    """Remove the segment name ``path`` ('/name'); unregister it from the resource tracker when ``tracked``."""
    if not _USE_POSIX:
        return
    try:
        shared_memory._posixshmem.shm_unlink(path)
    except FileNotFoundError:
        pass
    if tracked:
        resource_tracker.unregister(path, 'shared_memory')


def _release(name):
    seg = _segments.pop(name, None)
    if seg is None:
        return
    try:
        seg.shm.close()
    except BufferError:  # an array still views the buffer (only at interpreter exit): the OS unmaps it
        pass
    if seg.owner and seg.pid == os.getpid():
        unlink_segment(seg.shm._name, seg.tracked)


def _untrack(shm):
    """Take a segment this process just created or attached off its resource tracker's list."""
    if _USE_POSIX and getattr(shm, '_track', True):
        resource_tracker.unregister(shm._name, 'shared_memory')


def new_segment(nbytes, name=None, track=True):
    """Create and register a shared-memory segment of ``nbytes`` bytes that this process owns; the caller frees it
    (``drop_segment``) or hands it to arrays (``new_shared_array``). ``name``: the segment's name (random when None).
    ``track=False`` keeps it off the resource tracker (for segments whose ownership is handed to another process).
    The pages are reserved up front, so a full /dev/shm raises OSError here instead of SIGBUS on first write."""
    size = max(int(nbytes), 1)
    shm = shared_memory.SharedMemory(name=name, create=True, size=size)
    if not track:
        _untrack(shm)
    try:
        if nbytes and _USE_POSIX and hasattr(os, 'posix_fallocate'):
            os.posix_fallocate(shm._fd, 0, size)
    except OSError:
        shm.close()
        unlink_segment(shm._name, track)
        raise
    seg = _Segment(shm, owner=True, tracked=track)
    _segments[shm.name] = seg
    return seg


def drop_segment(name):
    """Forget, unmap and (when this process owns it) unlink segment ``name``, whatever still views it."""
    _release(name)


def new_shared_array(shape, dtype, name=None, track=True):
    """A new, uninitialised C-contiguous array in a shared-memory segment that this process owns and unlinks once
    the array and all its views are gone (``name``, ``track``: as ``new_segment``)."""
    dtype = np.dtype(dtype)
    seg = new_segment(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, name, track)
    arr = _attach_array(seg.shm, shape, dtype)
    seg.base = weakref.ref(arr)
    weakref.finalize(arr, _release, seg.shm.name)
    return arr


def _segment_of(arr):
    """The registered segment holding ``arr``'s memory (and the byte offset there), or (None, 0)."""
    if not _segments or not isinstance(arr, np.ndarray):
        return None, 0
    addr = arr.__array_interface__['data'][0]
    for seg in _segments.values():
        if seg.start <= addr < seg.end or (addr == seg.start and arr.nbytes == 0):
            return seg, addr - seg.start
    return None, 0


def _attach_array(shm, shape, dtype, offset=0, strides=None):
    arr = np.ndarray(shape, dtype=dtype, buffer=shm.buf, offset=offset, strides=strides)
    return arr


def share_tensor(t):
    """Move ``t``'s cpu storage into a new shared-memory segment (in place); cuda tensors are left as they are.

    Other ember tensors that still hold the old array (e.g. an earlier ``detach()``) are not moved."""
    from ..sparse import SparseTensor
    if isinstance(t, SparseTensor):
        share_tensor(t._vals)
        return t
    register_reducers(type(t))
    if t._device.type != 'cpu':
        return t
    src = t._data
    if _segment_of(src)[0] is not None:
        return t
    arr = new_shared_array(src.shape, src.dtype)
    np.copyto(arr, src)
    t._data = arr
    if t.grad is not None and t.grad._device.type == 'cpu':
        share_tensor(t.grad)
    return t


def is_shared(t):
    from ..sparse import SparseTensor
    if isinstance(t, SparseTensor):
        return is_shared(t._vals)
    if t._device.type != 'cpu':
        return True  # as PyTorch: CUDA tensors count as shared
    return _segment_of(t._data)[0] is not None


def _attach(name):
    try:
        shm = shared_memory.SharedMemory(name=name, track=False)  # Python 3.13+: the creator owns cleanup
    except TypeError:
        shm = shared_memory.SharedMemory(name=name)
    return shm


class _Mapping:
    """An existing segment mapped without telling the resource tracker: the parts of SharedMemory that _Segment
    uses, at a fraction of its cost (for segments whose creator registered them with a tracker it shares)."""

    def __init__(self, name):
        self.name, self._name = name, '/' + name
        fd = shared_memory._posixshmem.shm_open(self._name, os.O_RDWR, mode=0o600)
        try:
            self.size = os.fstat(fd).st_size
            self._mmap = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)
        self.buf = memoryview(self._mmap)

    def close(self):
        if self.buf is not None:
            self.buf.release()
            self.buf = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None


def attach_untracked(name):
    """Map existing segment ``name`` (no resource-tracker registration, POSIX only); see ``_Mapping``."""
    return _Mapping(name)


def transfer_ownership(t):
    """Hand the segment under shared tensor ``t`` to whichever process unpickles it next: this process stops
    unlinking it and the receiver unlinks it once its tensors are gone. For producers that drop what they send
    (DataLoader workers): without it, a segment freed by the sender before the receiver attached would be lost."""
    seg, _ = _segment_of(t._data)
    if seg is None:
        raise RuntimeError('transfer_ownership: the tensor is not in shared memory (call share_memory_() first)')
    seg.transfer = True
    return t


def _rebuild_shared(name, shape, dtype, offset, strides, requires_grad, kind, take=False):
    from .._tensor import _wrap
    from ..backends import cpu
    seg = _segments.get(name)
    holder = None if seg is None or seg.base is None else seg.base()
    if seg is None:
        shm = _attach(name)
        seg = _Segment(shm, owner=take, tracked=getattr(shm, '_track', True))
        _segments[name] = seg
        holder = _attach_array(seg.shm, (seg.shm.size,), np.uint8)
        seg.base = weakref.ref(holder)
        weakref.finalize(holder, _release, name)
    elif holder is None or not holder.flags.c_contiguous:
        holder = np.ndarray((seg.end - seg.start,), dtype=np.uint8, buffer=seg.shm.buf)
    else:
        # a view of the array whose death releases the segment, so the segment lives as long as this tensor does
        holder = holder.reshape(-1).view(np.uint8)
    arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=holder, offset=offset, strides=strides)
    t = _wrap(arr, cpu)
    if kind == 'parameter':
        from ..nn.parameter import Parameter
        return Parameter(t, requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


def reduce_tensor(t):
    """The multiprocessing pickler's reduction: shared cpu tensors travel as (segment, shape, dtype, offset,
    strides) and reattach on the other side; any other tensor is pickled by value."""
    if t._device.type == 'cpu' and not t.is_sparse:
        arr = t._data
        seg, offset = _segment_of(arr)
        if seg is not None:
            kind = 'parameter' if type(t).__name__ == 'Parameter' else 'tensor'
            seg.escaped = True
            take = seg.transfer and seg.owner and seg.pid == os.getpid()
            if take:
                seg.owner = False  # the receiver unlinks it now
                if seg.tracked:  # and its tracker, not ours, cleans up after a crash (ours may exit first)
                    resource_tracker.unregister(seg.shm._name, 'shared_memory')
                    seg.tracked = False
            return (_rebuild_shared, (seg.shm.name, arr.shape, arr.dtype.str, offset, arr.strides, t.requires_grad,
                                      kind, take))
    return t.__reduce_ex__(4)


_registered = set()


def register_reducers(*extra):
    """Make multiprocessing's pickler (Queue, Pool, spawn arguments) use ``reduce_tensor`` for ember tensors."""
    from .._tensor import Tensor
    todo, seen = [Tensor, *extra], []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    for cls in seen:
        if cls not in _registered:
            ForkingPickler.register(cls, reduce_tensor)
            _registered.add(cls)
