"""Optimizer benchmark: step() of SGD, SGD momentum, Adam, AdamW, RMSprop on ~1M parameters in 20 tensors vs PyTorch."""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import best_of_blocks, print_table, match_threads, torch, row, save  # noqa: E402

# an MLP's worth of parameters: ten 316x316 weights and their biases (998,560 numbers in 20 tensors)
SHAPES = [s for _ in range(10) for s in ((316, 316), (316,))]
TARGET = 1.0  # issue 14: at or below PyTorch, given the same thread count

WORKLOADS = [
    ('SGD(momentum=0.9)', 'SGD', dict(lr=0.01, momentum=0.9)),
    ('Adam', 'Adam', dict(lr=1e-3)),
    ('SGD', 'SGD', dict(lr=0.01)),
    ('AdamW(amsgrad)', 'AdamW', dict(lr=1e-3, amsgrad=True)),
    ('RMSprop', 'RMSprop', dict(lr=1e-3)),
]


def make(fw, name, kw, shapes=SHAPES):
    rng = np.random.default_rng(0)
    params = [fw.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]
    for p in params:
        p.grad = fw.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    opt = getattr(fw.optim, name)(params, **kw)
    opt.step()  # state created outside the timing
    return opt.step


def interleaved(fe, ft, rounds, block=5):
    return best_of_blocks(fe, ft, rounds, block, warmup=3)


def run(rounds=60):
    """Time every workload; print the tables and return the rows."""
    import ember
    from ember.optim.optimizer import get_num_threads, set_num_threads
    threads = match_threads()
    set_num_threads(threads)  # the optimizers' worker threads: as many as PyTorch has
    n = sum(int(np.prod(s)) for s in SHAPES)
    rows = []
    for label, name, kw in WORKLOADS:
        fe = make(ember, name, kw)
        ft = make(torch, name, kw) if torch is not None else None
        e, t = interleaved(fe, ft, rounds)
        rows.append(row(f'{label} step, {n / 1e6:.2f}M params in {len(SHAPES)} tensors', e, t, TARGET))
    print_table(rows, f'optim: step(), float32 (ember optimizer threads {get_num_threads()}, PyTorch threads '
                      f'{threads})')
    if torch is not None:
        torch.set_num_threads(1)
        set_num_threads(1)
        single = []
        for label, name, kw in WORKLOADS[:3]:
            e, t = interleaved(make(ember, name, kw), make(torch, name, kw), rounds)
            single.append(row(f'{label} step, both on 1 thread', e, t))
        print_table(single, 'for reference: ember and PyTorch on one thread')
        torch.set_num_threads(threads)
        set_num_threads(threads)
        rows += single
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--json', help='write the rows to this file')
    ap.add_argument('--rounds', type=int, default=60)
    args = ap.parse_args()
    result = run(args.rounds)
    if args.json:
        save(result, args.json)
