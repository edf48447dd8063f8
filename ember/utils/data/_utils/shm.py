"""Shared-memory transport of DataLoader batches: worker-side segment pools and pickler, main-side attach and reuse."""
import collections
import functools
import io
import os
import pickle
import weakref
from multiprocessing.reduction import ForkingPickler

import numpy as np

from ....multiprocessing import _shared

__all__ = ['WorkerPool', 'MainPool', 'dumps', 'sweep']

SHM_DIR = '/dev/shm'  # where POSIX shared memory is listed (Linux); the sweep at shutdown reads it

# Life of a segment (named <iterator prefix><worker id>_<counter>; see DataLoader's _MultiProcessingIter):
#   worker: created, or taken from its free list; default_collate stacks a batch into it (or the pickler copies a
#           tensor into it); the pickled message names it and the worker stops owning it.
#   main:   unpickling maps it and owns it; when the batch tensor is garbage the name goes back to its worker with
#           that worker's next task (while the iterator runs; after that it is unlinked). The main process keeps
#           its mapping, so when the worker sends the segment again neither side maps or faults pages in again.
#   worker: a handed-back segment goes on its free list; the free list is capped: extra segments are unlinked and
#           their names reported with the worker's next result (the main process then unmaps them); free segments
#           are unlinked when the worker exits.
#   main, at shutdown (workers gone): every segment with the iterator's prefix that this process does not map is
#           unlinked: results still queued or never sent, free lists of killed workers, names not yet handed back.
# Segments are registered with the resource tracker by the worker that creates them, and unregistered by whichever
# process unlinks them; the DataLoader starts the tracker before its workers, so they all share it, and it unlinks
# what is left if the main process dies. The main process maps segments without touching the tracker.


# ---- worker side -------------------------------------------------------------------------------------------------
class _Entry:
    __slots__ = ('seg', 'nbytes', 'live', 'sent', 'task')

    def __init__(self, seg, nbytes):
        self.seg, self.nbytes, self.live, self.sent, self.task = seg, nbytes, 0, False, -1


class WorkerPool:
    """One worker's segments. ``alloc`` gives an array for a tensor of the result being built (None: too small,
    or no shared memory); a segment is reused only when no array of this process views it and the main process
    has handed it back."""

    def __init__(self, key, worker_id, min_bytes, cap_batches):
        self.key, self.worker_id, self.min_bytes, self.cap_batches = key, worker_id, min_bytes, cap_batches
        self.prefix = f'{key}{worker_id:x}_'
        self.count = 0
        self.entries = {}  # name -> _Entry: every segment this worker made and has not unlinked
        self.free = []  # names free for reuse, oldest first
        self.task = 0  # number of the result being built; only its own segments travel by name
        self.in_task = 0  # segments allocated for it
        self.per_batch = 1  # most segments one result has used (the free list keeps cap_batches results' worth)
        self.evicted = []  # names unlinked since the last result, for the main process to unmap

    def alloc(self, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes < self.min_bytes:
            return None
        name = self._take(nbytes)
        if name is None:
            return None
        entry = self.entries[name]
        entry.live += 1
        entry.task = self.task
        self.in_task += 1
        arr = np.ndarray(shape, dtype=dtype, buffer=entry.seg.shm.buf)
        weakref.finalize(arr, self._dead, name)
        return arr

    def _take(self, nbytes):
        best = None
        for i, name in enumerate(self.free):
            size = self.entries[name].nbytes
            if nbytes <= size <= 2 * nbytes and (best is None or size < self.entries[self.free[best]].nbytes):
                best = i
        if best is not None:
            return self.free.pop(best)
        name = f'{self.prefix}{self.count:x}'
        self.count += 1
        try:
            seg = _shared.new_segment(nbytes, name=name)
        except OSError:  # /dev/shm is full (or the name is taken): this tensor goes by pickle
            return None
        self.entries[name] = _Entry(seg, nbytes)
        return name

    def _dead(self, name):
        entry = self.entries.get(name)
        if entry is not None:
            entry.live -= 1
            if entry.live == 0 and not entry.sent:
                self._free(name)

    def _free(self, name):
        self.free.append(name)
        while len(self.free) > self.cap_batches * self.per_batch:
            self._drop(self.free.pop(0))

    def _drop(self, name, report=True):
        self.entries.pop(name, None)
        _shared.drop_segment(name)  # owned here: unlinked
        if report:
            self.evicted.append(name)

    def take_evicted(self):
        names, self.evicted = self.evicted, []
        return names

    def returned(self, names):
        """The main process is done with these segments: reuse them. Names starting with '-' are not to be reused
        (the main process passed them on to another process, and has unlinked them): unmap those."""
        for name in names:
            drop = name.startswith('-')
            name = name.lstrip('-')
            entry = self.entries.get(name)
            if entry is None or not entry.sent:
                continue
            if drop:
                self.entries.pop(name)
                _shared.drop_segment(name)  # not ours any more: only unmapped
                continue
            entry.sent = False
            entry.seg.owner = True
            if entry.live == 0:
                self._free(name)

    def sent(self, names):
        for name in names:
            entry = self.entries[name]
            entry.sent = True
            entry.seg.owner = False  # the main process unlinks it, or hands it back

    def end_task(self):
        self.per_batch = max(self.per_batch, self.in_task)
        self.in_task = 0
        self.task += 1

    def close(self):
        """At exit: unlink the free segments (those in the main process's hands are its business)."""
        for name in self.free:
            self._drop(name, report=False)
        self.free = []


def _reduce_tensor(pool, taken, copies, t):
    """The worker's pickling of an ember Tensor: cpu tensors of at least ``pool.min_bytes`` go by segment name."""
    arr = t._data
    if t._device.type == 'cpu' and isinstance(arr, np.ndarray) and arr.nbytes >= pool.min_bytes:
        seg, offset = _shared._segment_of(arr)
        entry = None if seg is None else pool.entries.get(seg.shm.name)
        if entry is None or entry.seg is not seg or entry.task != pool.task or entry.sent:
            if seg is not None and entry is None:
                return _shared.reduce_tensor(t)  # someone else's shared tensor: by reference, as before
            # ordinary memory, or one of our segments from an earlier result (it may be reused, or be the main
            # process's already): copy into a segment of this result
            new = pool.alloc(arr.shape, arr.dtype)
            if new is None:
                return _shared.reduce_tensor(t)
            np.copyto(new, arr)
            copies.append(new)  # alive until the message is pickled
            arr = new
            seg, offset = _shared._segment_of(arr)
        name = seg.shm.name
        taken.add(name)
        return (_rebuild_batch_tensor, (pool.key, pool.worker_id, name, arr.shape, arr.dtype.str, offset,
                                        arr.strides, t.requires_grad))
    return _shared.reduce_tensor(t)


def dumps(item, pool):
    """Pickle ``item`` (a worker's result) for the main process, large tensors through ``pool``'s segments."""
    from ...._tensor import Tensor
    try:
        taken, copies = set(), []
        buf = io.BytesIO()
        pickler = ForkingPickler(buf, pickle.HIGHEST_PROTOCOL)
        # a partial, not a method of the pickler: no reference cycle keeps the pickler's memo (the batch) alive
        pickler.dispatch_table[Tensor] = functools.partial(_reduce_tensor, pool, taken, copies)
        pickler.dump(item)
        pool.sent(taken)
        return buf.getvalue()
    finally:
        pool.end_task()


# ---- main side -------------------------------------------------------------------------------------------------
_pools = {}  # iterator prefix -> MainPool, while that iterator's workers run


class MainPool:
    """The main process's side of one iterator's segments: names of released batch segments, to hand back."""

    def __init__(self, key):
        self.key, self.active = key, True
        self.released = collections.deque()  # (worker id, name), appended by finalizers
        self.pending = {}  # worker id -> names, waiting for that worker's next task
        self.mapped = {}  # name -> _Segment: mappings kept of segments handed back (or to be)
        _pools[key] = self

    def names_for(self, worker_id):
        """The released segments of worker ``worker_id``, to send along with its next task (or None)."""
        while True:
            try:
                wid, name = self.released.popleft()
            except IndexError:
                break
            self.pending.setdefault(wid, []).append(name)
        return self.pending.pop(worker_id, None)

    def forget(self, names):
        """A worker unlinked these segments: unmap them."""
        for name in names:
            seg = self.mapped.pop(name, None)
            if seg is not None:
                _close(seg)

    def close(self):
        self.active = False
        _pools.pop(self.key, None)
        while self.mapped:
            _close(self.mapped.popitem()[1])


def _close(seg):
    try:
        seg.shm.close()
    except BufferError:  # something still exports the buffer (only at interpreter exit)
        pass


def _rebuild_batch_tensor(key, worker_id, name, shape, dtype, offset, strides, requires_grad):
    """Unpickling target of a large batch tensor: map the worker's segment (this process owns it from now on)."""
    from ...._tensor import _wrap
    from ....backends import cpu
    if name in _shared._segments:  # another tensor of the same message, in the same segment
        return _shared._rebuild_shared(name, shape, dtype, offset, strides, requires_grad, 'tensor')
    pool = _pools.get(key)
    seg = None if pool is None else pool.mapped.pop(name, None)
    if seg is None:
        seg = _shared._Segment(_shared.attach_untracked(name), owner=True, tracked=True)  # the worker registered it
    _shared._segments[name] = seg
    holder = np.ndarray((seg.shm.size,), dtype=np.uint8, buffer=seg.shm.buf)
    seg.base = weakref.ref(holder)
    weakref.finalize(holder, _release_batch, key, worker_id, name)
    t = _wrap(np.ndarray(shape, dtype=np.dtype(dtype), buffer=holder, offset=offset, strides=strides), cpu)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _release_batch(key, worker_id, name):
    """A batch segment's last view is gone: hand it back to its worker for reuse, keeping the mapping. A segment
    that was sent on to another process (which may still read it) is unlinked instead, and its worker told to
    unmap it; so is every segment once the iterator is gone. Runs as a finalizer: it only records the name; the
    iterator sends it."""
    seg = _shared._segments.pop(name, None)
    if seg is None:
        return
    if seg.pid != os.getpid():  # a forked child's copy of the table: the segment is its parent's
        _close(seg)
        return
    pool = _pools.get(key)
    active = pool is not None and pool.active
    if active and seg.owner and not seg.escaped:
        pool.mapped[name] = seg
        pool.released.append((worker_id, name))
        return
    _close(seg)
    if seg.owner:  # (not when passed on with transfer_ownership: the receiver unlinks it)
        _shared.unlink_segment('/' + name, seg.tracked)
    if active:
        pool.released.append((worker_id, '-' + name))


def sweep(pool):
    """After the workers are gone: unlink every segment of ``pool``'s iterator that this process does not map."""
    pool.close()
    pool.names_for(None)
    names = [name for names in pool.pending.values() for name in names if not name.startswith('-')]
    pool.pending = {}
    try:
        names += [n for n in os.listdir(SHM_DIR) if n.startswith(pool.key)]
    except OSError:  # no listable /dev/shm: only the names handed back too late are known here
        pass
    for name in set(names):
        if name not in _shared._segments:
            _shared.unlink_segment('/' + name, tracked=True)

