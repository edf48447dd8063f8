"""Shared benchmark harness: time workloads in ember and PyTorch in one process and print ratio tables."""
import json
import os
import time

try:
    import torch
except ImportError:
    torch = None


_limits = None  # threadpoolctl's limiter, kept alive for the whole run


def match_threads(n=None):
    """Run NumPy's BLAS and PyTorch on the same number of threads and return it; tune malloc as ember's command does.

    ``n`` defaults to EMBER_BENCH_THREADS, else every core. NumPy's BLAS is pinned through threadpoolctl; without it
    the BLAS keeps its own default (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, else every core), which is then the count.
    """
    global _limits
    from ember import _allocator
    _allocator.apply()  # ember's malloc tuning, as the `ember` command and `ember run` apply it (ember/_allocator.py)
    env = os.environ.get('EMBER_BENCH_THREADS')
    n = int(n or env or os.environ.get('OPENBLAS_NUM_THREADS') or os.environ.get('OMP_NUM_THREADS')
            or os.cpu_count() or 1)
    try:
        from threadpoolctl import threadpool_limits
        _limits = threadpool_limits(n, user_api='blas')
    except ImportError:
        print('(threadpoolctl not installed: NumPy\'s BLAS keeps its default thread count)')
    if torch is not None:
        torch.set_num_threads(n)
    return n


def _samples(fn, count):
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def timeit(fn, repeat=20, warmup=3, min_time=0.2):
    """Median seconds per call of fn()."""
    return interleaved(fn, None, repeat, warmup, min_time)[0]


def interleaved(fe, ft, repeat=20, warmup=3, min_time=0.2, rounds=5):
    """Median seconds per call of fe() and of ft() (None: not timed), sampled in alternating rounds.

    Alternating rounds let slow phases of a noisy machine (other processes, frequency changes) hit both
    frameworks alike instead of whichever happened to run second.
    """
    fns = [f for f in (fe, ft) if f is not None]
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    per = max(1, -(-repeat // rounds))
    start = time.perf_counter()
    pairs = list(zip(fns, times))
    while len(times[0]) < repeat or (time.perf_counter() - start < min_time and len(times[0]) < 100 * repeat):
        for f, ts in pairs:
            ts += _samples(f, per)
        pairs.reverse()  # each goes first in turn: the one timed right after PyTorch meets its spinning threads
    med = [sorted(ts)[len(ts) // 2] for ts in times]
    return med[0], (med[1] if ft is not None else None)


def best_of_blocks(fe, ft, rounds, block, warmup=1):
    """Per-call seconds of fe and ft (None: not timed) timed in alternating blocks of ``block`` calls; the fastest
    block of each is reported (for very short calls, where the minimum is the stable statistic)."""
    for f in (fe, ft):
        if f is not None:
            for _ in range(warmup):
                f()
    best = [float('inf'), float('inf')]
    for r in range(rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):  # each goes first in turn (see interleaved)
            f = (fe, ft)[i]
            if f is None:
                continue
            t0 = time.perf_counter()
            for _ in range(block):
                f()
            best[i] = min(best[i], (time.perf_counter() - t0) / block)
    return best[0], (best[1] if ft is not None else None)


def row(name, ember_s, torch_s, target=None):
    ratio = ember_s / torch_s if torch_s else None
    return {'workload': name, 'ember_ms': ember_s * 1e3, 'torch_ms': torch_s * 1e3 if torch_s else None,
            'ratio': ratio, 'target': target}


def compare(name, make, target=None, **kw):
    """make(framework_module) -> step callable; time it for ember and, if present, PyTorch."""
    import ember
    e, t = interleaved(make(ember), make(torch) if torch is not None else None, **kw)
    return row(name, e, t, target)


def print_table(rows, title=None):
    if title:
        print(f'\n## {title}')
    print(f"{'workload':58s} {'ember ms':>10s} {'torch ms':>10s} {'ratio':>7s} {'target':>7s}")
    for r in rows:
        tm = f"{r['torch_ms']:10.3f}" if r['torch_ms'] is not None else f"{'-':>10s}"
        ra = f"{r['ratio']:7.2f}" if r['ratio'] is not None else f"{'-':>7s}"
        tg = f"{r['target']:7.2f}" if r.get('target') else f"{'':>7s}"
        print(f"{r['workload']:58s} {r['ember_ms']:10.3f} {tm} {ra} {tg}")


def save(rows, path):
    with open(path, 'w') as f:
        json.dump(rows, f, indent=2)
