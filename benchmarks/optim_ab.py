"""Optimizer steps before and after a change, in one process: a git revision's update engine beside the working tree's,
timed in alternating blocks with PyTorch, over realistic parameter sets (a developer's tool, not an `ember bench` row).

  python benchmarks/optim_ab.py --base main --sets mlp20,mlp784,lenet --opts SGD,SGDm,Adam [--threads 2] [--cpu]
  python benchmarks/optim_ab.py --train mlp-adam,lenet-sgdm     # whole training steps (forward, backward, step)

The revision's ember/optim/{_threads,_engine,<optimizer>}.py are loaded as extra modules of ember.optim (the rest of
ember is the working tree's), so both run on the same tensors and the machine's slow phases hit all three alike.
``--cpu`` times with the calling thread's CPU clock (insensitive to other processes, meaningful with one thread).
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np

import ember

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import match_threads, torch  # noqa: E402
from bench_optim import make  # noqa: E402  (the same parameter sets and warm step)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETS = {
    'mlp20': [s for _ in range(10) for s in ((316, 316), (316,))],  # bench_optim.py's 1.0M params in 20 tensors
    'mlp784': [(256, 784), (256,), (128, 256), (128,), (10, 128), (10,)],  # MLP 784-256-128-10
    'lenet': [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (84, 120), (84,), (10, 84), (10,)],
    'many_small': [(64, 64), (64,)] * 50,
    'few_large': [(1000, 1000)] * 3,
}
OPTS = {'SGD': ('SGD', dict(lr=0.01)), 'SGDm': ('SGD', dict(lr=0.01, momentum=0.9)), 'Adam': ('Adam', dict(lr=1e-3)),
        'AdamW': ('AdamW', dict(lr=1e-3, amsgrad=True)), 'RMSprop': ('RMSprop', dict(lr=1e-3))}
_MODULES = {'SGD': 'sgd', 'Adam': 'adam', 'AdamW': 'adamw', 'RMSprop': 'rmsprop'}


def _load(base, mod):
    """ember/optim/<mod>.py as of git revision ``base``, as the module ember.optim.<mod>_before."""
    src = subprocess.run(['git', '-C', ROOT, 'show', f'{base}:ember/optim/{mod}.py'], capture_output=True, text=True,
                         check=True).stdout
    for dep in ('_engine', '_threads', 'adam'):
        src = src.replace(f'from .{dep} import', f'from .{dep}_before import')
    name = f'ember.optim.{mod}_before'
    m = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    m.__package__ = 'ember.optim'
    sys.modules[name] = m
    exec(compile(src, f'<{base}:ember/optim/{mod}.py>', 'exec'), m.__dict__)
    return m


def before_framework(base, names):
    """A stand-in framework module: ember's tensors with the optimizer classes of revision ``base``."""
    import ember
    threads = _load(base, '_threads')
    _load(base, '_engine')
    _load(base, 'adam')

    class Before:
        tensor = staticmethod(ember.tensor)

        class optim:
            pass
    for n in names:
        mod = sys.modules.get(f'ember.optim.{_MODULES[n]}_before') or _load(base, _MODULES[n])
        setattr(Before.optim, n, getattr(mod, n))
    return Before, threads


TRAIN = {  # model, optimizer, batch: bench_nn.py's MLP row and bench_cnn.py's LeNet row
    'mlp-adam': ('mlp', 'Adam', dict(lr=1e-3), 128), 'mlp-sgd': ('mlp', 'SGD', dict(lr=0.01), 128),
    'lenet-sgdm': ('lenet', 'SGD', dict(lr=0.01, momentum=0.9), 64),
}


def train_step(fw, opt_fw, which):
    """One training step of a model built with ``fw`` (ember or torch), its optimizer taken from ``opt_fw``."""
    from _models import lenet
    model_name, name, kw, batch = TRAIN[which]
    rng = np.random.default_rng(0)
    if model_name == 'mlp':
        nn = fw.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        x = fw.tensor(rng.standard_normal((batch, 784)).astype(np.float32))
    else:
        model = lenet(fw)
        x = fw.tensor(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = fw.tensor(rng.integers(0, 10, batch))
    with fw.no_grad():  # identical weights in both frameworks
        for i, p in enumerate(model.parameters()):
            p.copy_(fw.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)).astype(np.float32) * 0.05))
    opt = getattr(opt_fw.optim, name)(model.parameters(), **kw)
    loss_fn = fw.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--base', default='main', help='git revision of the "before" engine (default: main)')
    ap.add_argument('--sets', default='mlp20,mlp784,lenet,many_small,few_large')
    ap.add_argument('--opts', default='SGD,SGDm,Adam')
    ap.add_argument('--train', default='', help='training steps instead: ' + ','.join(TRAIN))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=30)
    ap.add_argument('--block', type=int, default=10)
    ap.add_argument('--cpu', action='store_true', help="time with the calling thread's CPU clock")
    ap.add_argument('--best', action='store_true', help='report the fastest block (as bench_optim.py), not the median')
    args = ap.parse_args()
    from ember.optim.optimizer import set_num_threads, get_num_threads
    n = match_threads(args.threads)
    set_num_threads(n)
    opts = args.opts.split(',')
    trains = [t for t in args.train.split(',') if t]
    before, threads_b = before_framework(args.base, sorted({OPTS[o][0] for o in opts} |
                                                           {TRAIN[t][1] for t in trains}))
    threads_b.set_num_threads(n)
    clock = time.thread_time if args.cpu else time.perf_counter
    print(f'threads: PyTorch {torch.get_num_threads()}, ember optimizer {get_num_threads()}; base {args.base}; '
          f'clock {"thread CPU" if args.cpu else "wall"}; {args.rounds} rounds of {args.block} steps, '
          f'{"fastest block" if args.best else "medians"} (the ranges: 25th-75th percentile of per-round ratios)')
    cases = [(t, 'step', [('before', train_step(ember, before, t)), ('after', train_step(ember, ember, t)),
                          ('torch', train_step(torch, torch, t))]) for t in trains]
    if not trains:
        cases = [(s, o, [('before', make(before, *OPTS[o], SETS[s])), ('after', make(ember, *OPTS[o], SETS[s])),
                         ('torch', make(torch, *OPTS[o], SETS[s]))])
                 for s in args.sets.split(',') for o in opts]
    for s, o, fns in cases:
        res = {k: [] for k, _ in fns}
        for _, f in fns:
            for _ in range(3):
                f()
        for r in range(args.rounds):
            for k, f in fns[r % 3:] + fns[:r % 3]:  # each goes first in turn (after PyTorch, its spinning threads)
                t0 = clock()
                for _ in range(args.block):
                    f()
                res[k].append((clock() - t0) / args.block * 1e6)
        med = {k: float(np.min(v) if args.best else np.median(v)) for k, v in res.items()}
        line = f"{s:10s} {o:7s} before {med['before']:8.1f}us after {med['after']:8.1f}us torch {med['torch']:8.1f}us"
        for k in ('before', 'after'):
            r = np.array(res[k]) / np.array(res['torch'])
            line += f" | {k}/torch {med[k] / med['torch']:.2f} (rounds {np.percentile(r, 25):.2f}-" \
                    f"{np.percentile(r, 75):.2f})"
        print(line, flush=True)


if __name__ == '__main__':
    main()
