"""DataLoader worker processes: the fetch loop, per-worker seeding, get_worker_info and error forwarding."""
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

from . import shm as _shm
from ....multiprocessing import _shared

__all__ = ['WorkerInfo', 'get_worker_info', 'ExceptionWrapper']

# how often (seconds) a waiting worker checks that it should stop (shutdown requested, or its parent is gone)
POLL_INTERVAL = 0.2

_worker_info = None

# inside a worker that sends large tensors through shared memory: ``alloc(shape, dtype)`` -> a shared array for a
# collated batch tensor (default_collate stacks straight into it), or None (too small, or no shared memory left)
_batch_alloc = None


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: ``id``, ``num_workers``, ``seed`` and ``dataset``."""
    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs)
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(f'Cannot assign attributes to {type(self).__name__} objects')
        return super().__setattr__(key, val)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)}' for k in self.__keys)})"


def get_worker_info():
    """Inside a DataLoader worker process: its WorkerInfo (id, num_workers, seed, dataset copy). Else None."""
    return _worker_info


class _KeyErrorMessage(str):
    """Keeps a KeyError's multi-line message readable (KeyError prints the repr of its argument)."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process with its traceback text and re-raised there."""

    def __init__(self, exc_info=None, where='in background'):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = ''.join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f'Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}'
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # an exception type whose constructor wants other arguments
            raise RuntimeError(msg) from None
        raise exc


class _IterableDatasetStopIteration:
    """A worker's report that its copy of the IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of a new epoch; echoed back once the worker has reset."""


# ---- fetchers: turn an index (or list of indices) into collated data ------------------------------------------
class _MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn

    def fetch(self, index):
        if self.auto_collation:
            getitems = getattr(self.dataset, '__getitems__', None)
            if callable(getitems):
                data = getitems(index)
            else:
                data = [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class _IterableFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.drop_last = drop_last
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = _IterableFetcher if is_iterable else _MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def seed_worker(seed, worker_id):
    """Seed Python's, NumPy's and ember's global generators from a worker's seed."""
    from ....backends.random import manual_seed
    random.seed(seed)
    manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed & (2 ** 64 - 1)]).generate_state(4))


def _dumps(item, worker_id, pool=None):
    """Pickle a result here rather than in the queue's feeder thread, so a pickling failure reaches the main
    process as an error instead of a silently dropped batch. With a segment pool, large tensors go through shared
    memory (see _utils.shm)."""
    evicted = () if pool is None else tuple(pool.take_evicted())
    if evicted:  # segments this worker unlinked: the main process unmaps them (see _utils.shm)
        item = (*item, evicted)
    try:
        if pool is not None:
            return _shm.dumps(item, pool)
        return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        wrapped = ExceptionWrapper(where=f'in DataLoader worker process {worker_id} while sending a batch to the '
                                         f'main process (the batch could not be pickled)')
        return pickle.dumps((item[0], wrapped, *item[2:]), protocol=pickle.HIGHEST_PROTOCOL)


def _picklable_type(wrapper):
    try:
        pickle.dumps(wrapper.exc_type)
    except Exception:
        wrapper.exc_msg = f'{wrapper.exc_type.__module__}.{wrapper.exc_type.__qualname__}: ' + wrapper.exc_msg
        wrapper.exc_type = RuntimeError
    return wrapper


def worker_loop(is_iterable, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn, drop_last,
                base_seed, init_fn, worker_id, num_workers, parent_pid, shm_key=None, shm_min_bytes=None,
                shm_cap_batches=4):
    """The body of one worker process: take (task id, indices) from index_queue, put pickled results on data_queue.
    With ``shm_key`` (the iterator's segment prefix), tensors of at least ``shm_min_bytes`` bytes are sent through
    shared memory; at most ``shm_cap_batches`` results' worth of segments are kept for reuse."""
    global _worker_info, _batch_alloc
    pool = None
    if shm_key is not None and shm_min_bytes is not None and _shared._USE_POSIX:
        pool = _shm.WorkerPool(shm_key, worker_id, shm_min_bytes, shm_cap_batches)
        _batch_alloc = pool.alloc
    try:
        seed = base_seed + worker_id
        seed_worker(seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_error = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = _picklable_type(ExceptionWrapper(where=f'in DataLoader worker process {worker_id}'))
        exhausted = False
        while True:
            try:
                task = index_queue.get(timeout=POLL_INTERVAL)
            except queue.Empty:
                # shutdown requested (its None may never arrive: the main process's queue feeder can be gone when
                # the iterator is collected as garbage), or the main process is gone: nobody reads our results
                if done_event.is_set() or os.getppid() != parent_pid:
                    break
                continue
            if task is None:
                break
            if isinstance(task, _ResumeIteration):
                data_queue.put(_dumps((task, None), worker_id, pool))
                exhausted = False
                if init_error is None:
                    try:
                        fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
                    except Exception:
                        init_error = _picklable_type(ExceptionWrapper(where=f'in DataLoader worker process '
                                                                            f'{worker_id}'))
                continue
            if len(task) > 2 and pool is not None:
                pool.returned(task[2])  # segments the main process is done with: free for reuse
            if done_event.is_set() or exhausted:
                continue
            idx, index = task[0], task[1]
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not is_iterable:
                        data = _picklable_type(ExceptionWrapper(where=f'in DataLoader worker process {worker_id}'))
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        exhausted = True
                except Exception:
                    data = _picklable_type(ExceptionWrapper(where=f'in DataLoader worker process {worker_id}'))
            data_queue.put(_dumps((idx, data), worker_id, pool))
            del data, idx, index, task
    except KeyboardInterrupt:
        pass  # the main process gets the interrupt too and shuts us down
    finally:
        if pool is not None:
            _batch_alloc = None
            pool.close()  # unlink the free segments (the main process sweeps whatever else is left)
    if done_event.is_set():
        data_queue.cancel_join_thread()  # exit even if the main process stopped reading
        data_queue.close()
