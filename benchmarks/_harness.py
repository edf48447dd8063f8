"""Shared benchmark harness: time workloads in ember and PyTorch in one process and print ratio tables."""
import json
import os
import time

try:
    import torch
except ImportError:
    torch = None


def match_threads():
    """Give PyTorch the same thread count NumPy's BLAS uses, so the comparison is like for like."""
    n = os.cpu_count() or 1
    try:
        from threadpoolctl import threadpool_info
        n = max((i.get('num_threads') or 1) for i in threadpool_info()) or n
    except Exception:
        pass
    if torch is not None:
        torch.set_num_threads(n)
    return n


def timeit(fn, repeat=20, warmup=3, min_time=0.2):
    """Median seconds per call of fn()."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 100 * repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def row(name, ember_s, torch_s, target=None):
    ratio = ember_s / torch_s if torch_s else None
    return {'workload': name, 'ember_ms': ember_s * 1e3, 'torch_ms': torch_s * 1e3 if torch_s else None,
            'ratio': ratio, 'target': target}


def compare(name, make, target=None, **kw):
    """make(framework_module) -> step callable; time it for ember and, if present, PyTorch."""
    import ember
    e = timeit(make(ember), **kw)
    t = timeit(make(torch), **kw) if torch is not None else None
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
