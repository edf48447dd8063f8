"""ember.multiprocessing: the standard multiprocessing module plus shared-memory tensors and spawn(), as torch's."""
import multiprocessing as _mp
import multiprocessing.connection  # noqa: F401  (ProcessContext.join waits on sentinels)
import os as _os
import signal as _signal
import sys as _sys
import traceback as _traceback

from multiprocessing import *  # noqa: F401,F403  (a drop-in for the standard module)
from multiprocessing import (get_context, get_start_method, set_start_method, get_all_start_methods,  # noqa: F401
                             cpu_count, current_process, active_children, Process, Queue, SimpleQueue,
                             JoinableQueue, Pool, Pipe, Lock, RLock, Event, Semaphore, Barrier, Manager, Value,
                             Array, freeze_support, set_executable, parent_process)

from ._shared import share_tensor, is_shared, reduce_tensor, register_reducers, transfer_ownership  # noqa: F401

__all__ = [n for n in dir(_mp) if not n.startswith('_')] + [
    'spawn', 'start_processes', 'ProcessContext', 'SpawnContext', 'ProcessRaisedException', 'ProcessExitedException',
    'ProcessException', 'set_sharing_strategy', 'get_sharing_strategy', 'get_all_sharing_strategies']

register_reducers()

_strategy = ['file_system']


def get_all_sharing_strategies():
    """ember shares cpu tensors through POSIX shared memory (named segments), PyTorch's 'file_system' analogue."""
    return {'file_system', 'file_descriptor'}


def get_sharing_strategy():
    return _strategy[0]


def set_sharing_strategy(new_strategy):
    if new_strategy not in get_all_sharing_strategies():
        raise ValueError(f'unknown sharing strategy {new_strategy!r}; expected one of '
                         f'{sorted(get_all_sharing_strategies())}')
    _strategy[0] = new_strategy  # both use named shared memory in ember


class ProcessException(Exception):
    """A spawned process failed; ``error_index`` is its rank, ``pid`` its process id."""

    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg, self.error_index, self.pid = msg, error_index, pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A spawned process raised: the message carries its traceback."""


class ProcessExitedException(ProcessException):
    """A spawned process exited with a nonzero code or was killed by a signal."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code, self.signal_name)


def _wrap(fn, i, args, error_queue):
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:
        error_queue.put(_traceback.format_exc())
        _sys.exit(1)


class ProcessContext:
    """The processes ``start_processes`` started; ``join()`` waits and raises the first failure."""

    def __init__(self, processes, error_queues):
        self.processes, self.error_queues = processes, error_queues
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None, grace_period=None):
        """Wait for the processes; True once all exited cleanly, False on timeout; raises when one failed."""
        if not self.sentinels:
            return True
        ready = _mp.connection.wait(list(self.sentinels), timeout=timeout)
        failed = None
        for s in ready:
            i = self.sentinels.pop(s)
            p = self.processes[i]
            p.join()
            if p.exitcode != 0 and failed is None:
                failed = i
        if failed is None:
            return not self.sentinels
        for p in self.processes:  # one failed: stop the rest, as torch does
            if p.is_alive():
                p.terminate()
            p.join()
        p = self.processes[failed]
        q = self.error_queues[failed]
        if not q.empty():
            msg = f'\n\n-- Process {failed} terminated with the following error:\n' + q.get()
            raise ProcessRaisedException(msg, failed, p.pid)
        code = p.exitcode
        if code < 0:
            name = _signal.Signals(-code).name
            raise ProcessExitedException(f'process {failed} terminated with signal {name}', failed, p.pid, code,
                                         name)
        raise ProcessExitedException(f'process {failed} terminated with exit code {code}', failed, p.pid, code)


SpawnContext = ProcessContext


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method='spawn'):
    """Run ``fn(i, *args)`` for i in range(nprocs), each in its own process."""
    ctx = _mp.get_context(start_method)
    processes, queues = [], []
    for i in range(nprocs):
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_wrap, args=(fn, i, args, q), daemon=daemon)
        p.start()
        processes.append(p)
        queues.append(q)
    context = ProcessContext(processes, queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method='spawn'):
    """``fn(i, *args)`` in ``nprocs`` new processes (rank i); with join, waits and re-raises a child's error as
    ProcessRaisedException carrying its traceback; else returns the ProcessContext."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)


del _os
