"""Random-number benchmark: 10**6 float32 uniforms/normals (and a few other draws), ember vs PyTorch, same streams."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import best_of_blocks, print_table, match_threads, torch, row, save  # noqa: E402

N = 10 ** 6
TARGET = 1.5  # the goal for float32 uniforms and normals

WORKLOADS = [
    ('rand(10**6) float32', lambda m: m.rand(N), TARGET),
    ('randn(10**6) float32', lambda m: m.randn(N), TARGET),
    ('rand(10**6) float64', lambda m: m.rand(N, dtype=m.float64), None),
    ('randn(10**6) float64', lambda m: m.randn(N, dtype=m.float64), None),
    ('randint(0, 1000, (10**6,))', lambda m: m.randint(0, 1000, (N,)), None),
    ('bernoulli_(0.5) on 10**6 (dropout mask)', lambda m: m.empty(N).bernoulli_(0.5), None),
    ('randperm(10**5)', lambda m: m.randperm(10 ** 5), None),
]


def interleaved(fe, ft, rounds, block=3):
    return best_of_blocks(fe, ft, rounds, block, warmup=1)


def run(rounds=15):
    import ember
    threads = match_threads()
    rows = []
    for name, draw, target in WORKLOADS:
        ember.manual_seed(0)
        fe = lambda: draw(ember)  # noqa: E731
        ft = None
        if torch is not None:
            torch.manual_seed(0)
            ft = lambda: draw(torch)  # noqa: E731
        e, t = interleaved(fe, ft, rounds)
        rows.append(row(name, e, t, target))
    from ember.backends import _boxmuller
    print_table(rows, f'random draws (torch threads: {threads}, its normal_ runs on one; ember: float32/float16 '
                      f'normals on {_boxmuller.threads()} threads, uniforms drawn alongside, the rest one thread)')
    return rows


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('--json', help='write the rows to this file')
    args = ap.parse_args()
    rows = run(args.rounds)
    if args.json:
        save(rows, args.json)
