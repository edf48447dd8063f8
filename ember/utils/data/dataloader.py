"""DataLoader: batches from a dataset, in this process or in worker processes, in the order the sampler gives."""
import itertools
import math
import multiprocessing
import os
import pickle
import queue
import secrets
import signal
import time
from multiprocessing import resource_tracker
from types import GenericAlias

from .dataset import IterableDataset
from .sampler import Sampler, SequentialSampler, RandomSampler, BatchSampler
from ._utils import worker as _worker
from ._utils.collate import default_collate, default_convert
from ._utils import shm as _shm
from ...multiprocessing import _shared

__all__ = ['DataLoader', 'get_worker_info', 'default_collate', 'default_convert']

get_worker_info = _worker.get_worker_info

# how often (seconds) the main process, while waiting for a batch, checks that its workers are alive
_STATUS_INTERVAL = 0.2
# how long shutdown waits for workers to exit on their own before terminating them
_JOIN_TIMEOUT = 5.0
# workers send cpu tensors of at least this many bytes through shared memory (the main process maps the worker's
# segment instead of receiving a pickled copy); smaller ones are pickled, which is cheaper. None: always pickle
_SHM_MIN_BYTES = 128 * 1024
# each worker keeps the segments of up to prefetch_factor + _SHM_SPARE_BATCHES results for reuse
_SHM_SPARE_BATCHES = 2
_iter_serial = itertools.count()  # numbers this process's worker iterators (their segments' names)


class _InfiniteConstantSampler(Sampler):
    """The 'sampler' of an IterableDataset: None forever (the dataset decides when to stop)."""

    def __iter__(self):
        while True:
            yield None


def _draw_seed(generator):
    from ...backends.random import draw_seed
    return draw_seed(generator)


class DataLoader:
    """Iterate a dataset in batches, as torch.utils.data.DataLoader.

    Map-style datasets are read in the order of ``sampler`` (sequential, or random with ``shuffle=True``; seeded by
    ``generator`` or by ``ember.manual_seed``) and grouped by ``batch_sampler`` (``batch_size``, ``drop_last``);
    ``batch_size=None`` yields single samples. With ``num_workers > 0`` batches are loaded in worker processes
    (``prefetch_factor`` batches ahead per worker) and still come out in sampler order. Each worker seeds Python's
    ``random``, NumPy's global generator and ember's default generator from ``base_seed + worker_id``, where
    ``base_seed`` is drawn afresh per epoch (per iterator) from ``generator`` or ember's default generator, so random
    augmentations differ between workers and repeat under the same seed. Worker batches' cpu tensors of at least
    128 KB come back through shared memory: the worker collates into a segment that the main process maps (no
    copy; ``is_shared()`` is True) and hands back for reuse once the tensor is garbage; smaller ones are pickled.
    ``pin_memory`` is accepted and does nothing.
    """
    __initialized = False
    __class_getitem__ = classmethod(GenericAlias)

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device='', in_order=True):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError('num_workers option should be non-negative; use num_workers=0 to disable '
                             'multiprocessing.')
        if timeout < 0:
            raise ValueError('timeout option should be non-negative')
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError('prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 '
                             'to enable multiprocessing, otherwise set prefetch_factor to None.')
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (not isinstance(prefetch_factor, int) or prefetch_factor < 1):
            raise ValueError(f'prefetch_factor should be a positive integer, got {prefetch_factor!r}')
        if persistent_workers and num_workers == 0:
            raise ValueError('persistent_workers option needs num_workers > 0')

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f'DataLoader with IterableDataset: expected unspecified shuffle option, but got '
                                 f'shuffle={shuffle}')
            if sampler is not None:
                raise ValueError(f'DataLoader with IterableDataset: expected unspecified sampler option, but got '
                                 f'sampler={sampler}')
            if batch_sampler is not None:
                raise ValueError(f'DataLoader with IterableDataset: expected unspecified batch_sampler option, but '
                                 f'got batch_sampler={batch_sampler}')
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError('sampler option is mutually exclusive with shuffle')
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError('batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and '
                                 'drop_last')
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError('batch_size=None option disables auto-batching and is mutually exclusive with '
                             'drop_last')
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator = None
        self.__initialized = True

    def __setattr__(self, attr, val):
        if self.__initialized and attr in ('batch_size', 'batch_sampler', 'sampler', 'drop_last', 'dataset',
                                           'persistent_workers'):
            raise ValueError(f'{attr} attribute should not be set after {type(self).__name__} is initialized')
        super().__setattr__(attr, val)

    @property
    def multiprocessing_context(self):
        return self.__mp_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx):
        if ctx is not None:
            if self.num_workers == 0:
                raise ValueError(f'multiprocessing_context can only be used with multi-process loading '
                                 f'(num_workers > 0), but got num_workers={self.num_workers}')
            if isinstance(ctx, str):
                methods = multiprocessing.get_all_start_methods()
                if ctx not in methods:
                    raise ValueError(f'multiprocessing_context option should specify a valid start method in '
                                     f'{methods!r}, but got multiprocessing_context={ctx!r}')
                ctx = multiprocessing.get_context(ctx)
            elif not hasattr(ctx, 'Process') or not hasattr(ctx, 'Queue'):
                raise TypeError(f'multiprocessing_context option should be a valid context object or a string '
                                f'specifying the start method, but got multiprocessing_context={ctx}')
        self.__mp_context = ctx

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        return _MultiProcessingIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None or self._iterator._shutdown:  # first epoch, or the workers were lost
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self):
        if self._is_iterable:
            length = len(self.dataset)  # TypeError when the IterableDataset has no __len__, as in PyTorch
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)


class _BaseIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._collate_fn = loader.collate_fn
        self._timeout = loader.timeout
        self._generator = loader.generator
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = _draw_seed(loader.generator)
        self._num_yielded = 0

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0

    def _next_index(self):
        return next(self._sampler_iter)

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        return data

    def __len__(self):
        return len(self._index_sampler)


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = _worker.create_fetcher(self._is_iterable, self._dataset, self._auto_collation,
                                               self._collate_fn, self._drop_last)

    def _next_data(self):
        return self._fetcher.fetch(self._next_index())


def _describe_exit(code):
    if code is not None and code < 0:
        try:
            return f'{code} (killed by signal {signal.Signals(-code).name})'
        except ValueError:
            return f'{code} (killed by signal {-code})'
    return str(code)


class _MultiProcessingIter(_BaseIter):
    """Workers take (task id, indices) from their own index queue and put results on one shared queue; results
    are held back until every earlier task's result has been handed out, so batches come out in sampler order."""

    def __init__(self, loader):
        super().__init__(loader)
        self._shutdown = True  # nothing to shut down until the workers exist
        self._owner_pid = os.getpid()
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._persistent = loader.persistent_workers
        self._in_order = loader.in_order
        self._result_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._index_queues, self._workers = [], []
        # large batch tensors come back in shared-memory segments named after this iterator (see _utils.shm)
        self._shm_pool = _shm.MainPool(f'edl{self._owner_pid:x}_{next(_iter_serial):x}{secrets.token_hex(2)}_')
        shm_min_bytes = _SHM_MIN_BYTES if _shared._USE_POSIX else None
        if shm_min_bytes is not None:
            resource_tracker.ensure_running()  # forked workers share it instead of each starting their own
        self._shutdown = False
        try:
            for wid in range(self._num_workers):
                index_queue = ctx.Queue()
                index_queue.cancel_join_thread()
                w = ctx.Process(target=_worker.worker_loop, name=f'DataLoader worker {wid}', daemon=True,
                                args=(self._is_iterable, self._dataset, index_queue, self._result_queue,
                                      self._done_event, self._auto_collation, self._collate_fn, self._drop_last,
                                      self._base_seed, loader.worker_init_fn, wid, self._num_workers,
                                      self._owner_pid, self._shm_pool.key, shm_min_bytes,
                                      self._prefetch_factor + _SHM_SPARE_BATCHES))
                w.start()
                self._index_queues.append(index_queue)
                self._workers.append(w)
            self._reset(loader, first_iter=True)
        except BaseException:
            self._shutdown_workers()
            raise

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0  # id of the next task to send
        self._rcvd_idx = 0  # id of the next task whose result is to be returned
        self._task_info = {}  # task id -> (worker id,) while outstanding, (worker id, data) once received early
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers  # False: that worker's IterableDataset copy is exhausted
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # persistent workers: tell each to start a new epoch and drop results left from the previous one
            for q in self._index_queues:
                q.put(_worker._ResumeIteration())
            pending = self._num_workers
            while pending:
                idx, _ = self._get_data()
                if isinstance(idx, _worker._ResumeIteration):
                    pending -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_put_index(self):
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._worker_cycle)
            if self._workers_status[wid]:
                break
        else:
            return  # every worker's iterable is exhausted
        # with the task go the shared-memory segments of this worker's batches that the program has dropped
        recycled = self._shm_pool.names_for(wid)
        self._index_queues[wid].put((self._send_idx, index) if recycled is None else
                                    (self._send_idx, index, recycled))
        self._task_info[self._send_idx] = (wid,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _check_workers(self):
        for wid, w in enumerate(self._workers):
            if w.exitcode is not None:
                pid, code = w.pid, w.exitcode
                self._shutdown_workers()
                raise RuntimeError(f'DataLoader worker (pid {pid}) exited unexpectedly with exit code '
                                   f'{_describe_exit(code)}. It was worker {wid} of {self._num_workers}; the '
                                   f'batch it was loading is lost. A crash or os._exit in the dataset, the '
                                   f'out-of-memory killer, or a signal can end a worker.')

    def _get_data(self):
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _STATUS_INTERVAL if deadline is None else max(0.0, min(_STATUS_INTERVAL,
                                                                          deadline - time.monotonic()))
            try:
                raw = self._result_queue.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f'DataLoader timed out after {self._timeout} seconds') from None
                continue
            except (OSError, ValueError, EOFError) as e:
                self._check_workers()
                raise RuntimeError(f'DataLoader lost its connection to the worker processes: {e}') from e
            try:
                msg = pickle.loads(raw)
            except Exception as e:
                raise RuntimeError(f'DataLoader could not unpickle a batch sent by a worker process: {e}') from e
            if len(msg) > 2:  # (task id, data, names of shared-memory segments the worker unlinked)
                self._shm_pool.forget(msg[2])
            return msg[:2]

    def _next_data(self):
        if self._shutdown:
            raise StopIteration
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)  # consumed already, or its worker ran dry
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                return self._process(data)
            idx, data = self._get_data()
            if isinstance(idx, _worker._ResumeIteration):
                continue
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._task_info.pop(idx, None)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx and self._in_order:
                self._task_info[idx] += (data,)
                continue
            del self._task_info[idx]
            if idx == self._rcvd_idx:
                self._rcvd_idx += 1
            return self._process(data)

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _shutdown_workers(self):
        if getattr(self, '_shutdown', True) or os.getpid() != self._owner_pid:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for w, q in zip(self._workers, self._index_queues):
                if w.is_alive():
                    try:
                        q.put(None)
                    except (OSError, ValueError):
                        pass
            deadline = time.monotonic() + _JOIN_TIMEOUT
            for w in self._workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
            for q in self._index_queues:
                q.cancel_join_thread()
                q.close()
            self._result_queue.cancel_join_thread()
            self._result_queue.close()
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=1.0)
                if w.is_alive():
                    w.kill()
                    w.join()
            # batches received ahead of their turn are never handed out now; batches still in the queue (or lost
            # with a worker) are never received: unlink their segments (the workers are gone, none can appear)
            self._task_info = {}
            _shm.sweep(self._shm_pool)

    def __del__(self):
        self._shutdown_workers()
