"""LeNet-5-like CNN on 1x28x28, batch 64: ember vs PyTorch step time (train step, forward, each convolution).

Usage: python benchmarks/bench_cnn.py [--threads N] [--iters N] [--rounds N] [--batch N]

Both frameworks get the same weights and data and the same thread count (all cores by default: NumPy's BLAS via
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS, set before NumPy loads; PyTorch via torch.set_num_threads).
Each number is the best per-iteration time over several rounds (rounds of the two frameworks interleaved), which is
the least noisy statistic on a shared machine.
"""
import argparse
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--threads', type=int, default=os.cpu_count())
ap.add_argument('--iters', type=int, default=20)
ap.add_argument('--rounds', type=int, default=7)
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--cpu-time', action='store_true',
                help='measure process CPU time instead of wall time (steadier on a loaded machine; meaningful with '
                     '--threads 1 only, since CPU time adds up over threads)')
args = ap.parse_args()
for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = str(args.threads)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import ember  # noqa: E402
from ember import _allocator  # noqa: E402
_allocator.apply()  # malloc tuned as the `ember` command (and the other benchmarks, through _harness) tune it
from _models import lenet as make_net  # noqa: E402

torch.set_num_threads(args.threads)


def build(fw, state, x_np, y_np):
    net = make_net(fw)
    with fw.no_grad():
        for name, p in net.named_parameters():
            p.copy_(fw.tensor(state[name]))
    opt = fw.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = fw.tensor(x_np), fw.tensor(y_np)
    F = fw.nn.functional

    def train_step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    def forward():
        with fw.no_grad():
            return net(x)

    # each convolution alone: forward + backward (conv1's input needs no gradient, conv2's does)
    c1_in = x
    c2_in = fw.tensor(np.random.default_rng(1).standard_normal((x_np.shape[0], 6, 12, 12)).astype(np.float32),
                      requires_grad=True)
    g1 = fw.ones(x_np.shape[0], 6, 24, 24)
    g2 = fw.ones(x_np.shape[0], 16, 8, 8)

    def conv1():
        net.conv1(c1_in).backward(g1)

    def conv2():
        net.conv2(c2_in).backward(g2)

    def conv1_fwd():
        with fw.no_grad():
            return net.conv1(c1_in)

    def conv2_fwd():
        with fw.no_grad():
            return net.conv2(c2_in)

    return net, {'train step (fwd+bwd+SGD momentum)': train_step, 'forward only': forward,
                 'conv1 1->6 5x5 fwd+bwd': conv1, 'conv2 6->16 5x5 fwd+bwd': conv2,
                 'conv1 fwd': conv1_fwd, 'conv2 fwd': conv2_fwd}


def best_time(fn, iters):
    clock = time.process_time if args.cpu_time else time.perf_counter
    t = clock()
    for _ in range(iters):
        fn()
    return (clock() - t) / iters * 1e3


def main():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    ref = make_net(torch)
    state = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    x_np = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    y_np = rng.integers(0, 10, args.batch)
    e_net, e_work = build(ember, state, x_np, y_np)
    t_net, t_work = build(torch, state, x_np, y_np)

    # same numbers: a few training steps give the same losses
    le = [e_work['train step (fwd+bwd+SGD momentum)']().item() for _ in range(3)]
    lt = [t_work['train step (fwd+bwd+SGD momentum)']().item() for _ in range(3)]
    print(f'losses after 3 steps: ember {le}, PyTorch {lt}')

    print(f'threads: {args.threads} (PyTorch {torch.get_num_threads()}), batch {args.batch}, best of '
          f'{args.rounds} rounds x {args.iters} iterations, {"CPU" if args.cpu_time else "wall"} time')
    print(f'{"workload":38s} {"ember ms":>9s} {"PyTorch ms":>10s} {"ratio":>6s}')
    rows = []
    for name in e_work:
        fe, ft = e_work[name], t_work[name]
        for _ in range(3):
            fe()
            ft()
        be = bt = float('inf')
        for _ in range(args.rounds):
            be = min(be, best_time(fe, args.iters))
            bt = min(bt, best_time(ft, args.iters))
        print(f'{name:38s} {be:9.3f} {bt:10.3f} {be / bt:6.2f}')
        rows.append({'workload': f'cnn: {name}', 'ember_ms': be, 'torch_ms': bt, 'ratio': be / bt, 'target': None})
    return rows


if __name__ == '__main__':
    main()
