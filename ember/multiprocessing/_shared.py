"""Tensor storage in POSIX shared memory: share_memory_(), and pickling that sends shared tensors by segment name."""
import weakref
from multiprocessing import shared_memory
from multiprocessing.reduction import ForkingPickler

import numpy as np

__all__ = ['share_tensor', 'is_shared', 'reduce_tensor', 'register_reducers', 'transfer_ownership']


class _Segment:
    __slots__ = ('shm', 'start', 'end', 'owner', 'transfer', '__weakref__')

    def __init__(self, shm, owner):
        self.shm, self.owner, self.transfer = shm, owner, False
        self.start = np.frombuffer(shm.buf, dtype=np.uint8).__array_interface__['data'][0] if shm.size else 0
        self.end = self.start + shm.size


_segments = {}  # name -> _Segment, for every segment this process created or attached and still maps


def _release(name):
    seg = _segments.pop(name, None)
    if seg is None:
        return
    try:
        seg.shm.close()
    except BufferError:  # an array still views the buffer (only at interpreter exit): the OS unmaps it
        pass
    if seg.owner:
        try:
            seg.shm.unlink()
        except FileNotFoundError:
            pass


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
    shm = shared_memory.SharedMemory(create=True, size=max(src.nbytes, 1))
    seg = _Segment(shm, owner=True)
    _segments[shm.name] = seg
    arr = _attach_array(shm, src.shape, src.dtype)
    np.copyto(arr, src)
    weakref.finalize(arr, _release, shm.name)
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
    if seg is None:
        seg = _Segment(_attach(name), owner=take)
        _segments[name] = seg
        holder = _attach_array(seg.shm, (seg.shm.size,), np.uint8)
        weakref.finalize(holder, _release, name)
        arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=holder, offset=offset, strides=strides)
    else:
        base = np.ndarray((seg.end - seg.start,), dtype=np.uint8, buffer=seg.shm.buf)
        arr = np.ndarray(shape, dtype=np.dtype(dtype), buffer=base, offset=offset, strides=strides)
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
            take = seg.transfer
            if take:
                seg.owner = False  # the receiver unlinks it now
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
