"""Worker threads for the optimizers' CPU updates (NumPy releases the GIL inside its loops)."""
import os

__all__ = ['set_num_threads', 'get_num_threads']

_PARALLEL_MIN = 1 << 17  # elements per step below which threads cost more than they save
_threads = {'n': None, 'pool': None, 'pid': None}


def set_num_threads(n):
    """Threads the optimizers' CPU updates may use (default: the CPUs this process may run on)."""
    _threads['n'] = max(1, int(n))


def get_num_threads():
    if _threads['n'] is None:
        try:
            _threads['n'] = len(os.sched_getaffinity(0))
        except AttributeError:
            _threads['n'] = os.cpu_count() or 1
    return _threads['n']


def _pool(n):
    pool = _threads['pool']
    if pool is None or _threads['pid'] != os.getpid() or pool._max_workers != n:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix='ember-optim')
        _threads['pool'], _threads['pid'] = pool, os.getpid()
    return pool


def run_items(opt, work, serial):
    """Run the update items, split over threads by size when there is enough work and all of it is on the CPU."""
    n = get_num_threads()
    if serial or n < 2 or len(work) < 2:
        opt._run_items(work, 0)
        return
    total = 0
    for w in work:
        total += w[0]
    if total < _PARALLEL_MIN:
        opt._run_items(work, 0)
        return
    n = min(n, len(work))
    bins = [[] for _ in range(n)]
    loads = [0] * n
    for w in sorted(work, key=lambda w: -w[0]):
        i = loads.index(min(loads))
        bins[i].append(w)
        loads[i] += w[0]
    opt._scratch_for(n - 1)
    pool = _pool(n - 1)
    futures = [pool.submit(opt._run_items, bins[i], i) for i in range(1, n)]
    try:
        opt._run_items(bins[0], 0)
    finally:
        for f in futures:
            f.result()
