"""Worker threads for the optimizers' CPU updates (NumPy releases the GIL inside its loops)."""
import os
import threading
import time

__all__ = ['set_num_threads', 'get_num_threads']

_PARALLEL_MIN = 1 << 17  # elements per step below which threads cost more than they save
_ITEM_MIN = 1 << 14  # elements in an item below which it stays on the caller's thread
_ADAPT = True  # choose between one thread and several by the optimizer's measured step times (_Choice)
_threads = {'n': None, 'pool': None}
_busy = threading.Lock()  # held while the workers run a step; a step from another thread meanwhile runs alone


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


class _Job:
    """One step's update items, taken largest first by whichever thread is free: a worker the OS does not
    schedule in time (a busy machine) leaves its share to the others instead of holding the step up."""

    def __init__(self, opt, work):
        self.opt = opt
        self.todo = sorted(work, key=lambda w: w[0])  # popped from the end: the largest first
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.helpers = 0      # workers inside run() now
        self.closed = False   # set by the caller once the list is empty: late workers do nothing
        self.errors = []

    def run(self, worker):
        if worker:
            with self.lock:
                if self.closed:
                    return
                self.helpers += 1
        opt, todo = self.opt, self.todo
        try:
            while todo:
                try:
                    item = todo.pop()  # atomic under the GIL
                except IndexError:
                    break
                opt._run_items((item,), worker)
        except BaseException as e:
            self.errors.append(e)
            todo.clear()  # the others stop after their current item
        finally:
            if worker:
                with self.lock:
                    self.helpers -= 1
                    if not self.helpers:
                        self.idle.notify_all()

    def finish(self):
        """Wait for the workers still on an item; raise the first error."""
        with self.lock:
            self.closed = True
            while self.helpers:
                self.idle.wait()
        if self.errors:
            raise self.errors[0]


class _Worker:
    """A daemon thread that helps with the current job whenever it is woken."""

    def __init__(self, index):
        self.index = index
        self.go = threading.Event()
        self.job = None
        threading.Thread(target=self._loop, daemon=True, name=f'ember-optim-{index}').start()

    def _loop(self):
        while True:
            self.go.wait()
            self.go.clear()
            job = self.job
            if job is not None:
                job.run(self.index)


def _workers(n):
    """``n`` persistent workers (made again after a fork: threads do not survive it)."""
    pool = _threads['pool']
    if pool is None or pool[0] != os.getpid():
        pool = _threads['pool'] = (os.getpid(), [])
    workers = pool[1]
    while len(workers) < n:
        workers.append(_Worker(len(workers) + 1))
    return workers[:n]


def _balanced(opt, big, total, n):
    """``big`` with any item larger than a share of ``total`` that keeps ``n`` threads busy (half a thread's
    share) split into slices of about that share: one large parameter beside small ones (an MLP's first layer)
    would otherwise keep one thread working while the others wait."""
    share = max(total // (2 * n), _ITEM_MIN, 1)
    if all(w[0] <= share for w in big):
        return big
    out = []
    for w in big:
        parts = -(-w[0] // share)
        pieces = opt._split(w, parts) if parts > 1 else None
        if pieces is None:
            out.append(w)
        else:
            out.extend(pieces)
    return out


class _Choice:
    """Whether an optimizer's steps run faster on the caller's thread alone or shared with workers, learned from
    the wall time of its own recent steps. Threads pay off only when the other cores are free: on a machine busy
    with other processes a worker is scheduled late and each hand-over of the GIL waits for it, so a shared step
    can take several times as long as a lone one (the numbers are the same either way: only the time differs)."""
    __slots__ = ('times', 'steps')
    KEEP = 5     # recent steps remembered per mode (their median decides)
    PROBE = 20   # steps between tries of the mode not chosen, times how much slower it was (its cost stays <5%)

    def __init__(self):
        self.times = ([], [])  # seconds per element: alone, shared
        self.steps = 0

    def shared(self):
        alone, shared = self.times
        self.steps += 1
        if len(alone) < 2 or len(shared) < 2:  # learning: alternate
            return len(shared) < len(alone)
        a, b = sorted(alone)[len(alone) // 2], sorted(shared)[len(shared) // 2]
        best, other = (b, a) if b < a else (a, b)
        if self.steps >= self.PROBE * min(other / best, 50.0):
            self.steps = 0
            return not b < a  # now and then the other mode: the machine's load changes
        return b < a

    def record(self, shared, seconds):
        ts = self.times[shared]
        ts.append(seconds)
        del ts[:-self.KEEP]


def _choice(opt):
    c = opt.__dict__.get('_thread_choice')
    if c is None:
        c = opt.__dict__['_thread_choice'] = _Choice()
    return c


def _alone(opt, work, choice, total):
    t0 = time.perf_counter()
    opt._run_items(work, 0)
    if choice is not None:
        choice.record(False, (time.perf_counter() - t0) / total)


def run_items(opt, work, serial):
    """Run the update items; with enough work, and where that has proved faster (``_Choice``), the large items
    shared with worker threads.

    Only items of at least ``_ITEM_MIN`` elements go to the workers: a small item is mostly Python (holding the
    GIL), so two threads on small items take turns at the GIL and run slower than one. The caller's thread runs
    the small items while the workers start on the large ones, then joins them."""
    n = get_num_threads()
    if serial or n < 2 or not work:
        opt._run_items(work, 0)
        return
    big, small, total = [], [], 0
    for w in work:
        if w[0] >= _ITEM_MIN and w[1] != 3:
            big.append(w)
            total += w[0]
        else:
            small.append(w)
    if total < _PARALLEL_MIN:
        opt._run_items(work, 0)
        return
    if not big or (len(big) < 2 and big[0][0] < 2 * _ITEM_MIN):
        opt._run_items(work, 0)
        return
    choice = _choice(opt) if _ADAPT else None
    if choice is not None and not choice.shared():
        _alone(opt, work, choice, total)
        return
    if not _busy.acquire(blocking=False):  # another thread's step has the workers: this one runs alone
        opt._run_items(work, 0)
        return
    t0 = time.perf_counter()
    try:
        big = _balanced(opt, big, total, n)
        n = min(n, len(big))
        opt._scratch_for(n - 1)
        job = _Job(opt, big)
        for worker in _workers(n - 1):
            worker.job = job
            worker.go.set()
        try:
            if small:
                opt._run_items(small, 0)
            job.run(0)
        finally:
            job.finish()
    finally:
        _busy.release()
    if choice is not None:
        choice.record(True, (time.perf_counter() - t0) / total)
