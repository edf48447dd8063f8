"""Core benchmark: the tutorial's training loops and small-op overhead, ember vs PyTorch in one run."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import compare, print_table, match_threads, torch, timeit, row, best_of_blocks  # noqa: E402

N, D_IN, H, D_OUT, LR = 64, 1000, 100, 10, 1e-6


def _data(fw):
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(s).astype(np.float32) for s in ((N, D_IN), (N, D_OUT), (D_IN, H), (H, D_OUT))]
    return [fw.tensor(a) for a in arrs]


def tutorial_manual(fw):
    """Tensors with hand-written backprop: one step of the tutorial's second loop."""
    x, y, w1, w2 = _data(fw)

    def step():
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)
        loss = (y_pred - y).pow(2).sum()
        loss.item()
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)
        w1.sub_(LR * grad_w1)
        w2.sub_(LR * grad_w2)
    return step


def tutorial_autograd(fw):
    """Autograd: one step of the tutorial's third loop."""
    x, y, w1, w2 = _data(fw)
    w1.requires_grad_()
    w2.requires_grad_()

    def step():
        nonlocal w1, w2
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        loss.item()
        loss.backward()
        with fw.no_grad():
            w1 -= LR * w1.grad
            w2 -= LR * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return step


def tutorial_numpy_style(fw):
    """The tutorial's first loop expressed with tensors and NumPy-style ops (maximum, square, .T)."""
    x, y, w1, w2 = _data(fw)

    def step():
        h = x.matmul(w1)
        h_relu = fw.maximum(h, fw.zeros(()))
        y_pred = h_relu.matmul(w2)
        loss = fw.square(y_pred - y).sum()
        loss.item()
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.matmul(grad_y_pred)
        grad_h = grad_y_pred.matmul(w2.T) * (h > 0)
        grad_w1 = x.T.matmul(grad_h)
        w1.sub_(LR * grad_w1)
        w2.sub_(LR * grad_w2)
    return step


def small_op_forward(fw):
    x = fw.randn(10, 10, requires_grad=True)
    y = fw.randn(10, 10)
    return lambda: x * y


def small_op_fwd_bwd(fw):
    x = fw.randn(10, 10, requires_grad=True)
    y = fw.randn(10, 10)

    def step():
        (x * y).sum().backward()
    return step


def big_elementwise(fw):
    x = fw.randn(1000, 1000)
    y = fw.randn(1000, 1000)
    return lambda: (x * y + x).exp()


def run(steps=500):
    threads = match_threads()
    rows = [
        compare(f'tutorial: manual backprop with tensors ({steps} steps)', _loop(tutorial_manual, steps),
                target=1.1, repeat=3, warmup=1),
        compare(f'tutorial: autograd ({steps} steps)', _loop(tutorial_autograd, steps), target=1.1, repeat=3,
                warmup=1),
        compare(f'tutorial: NumPy-style ops on tensors ({steps} steps)', _loop(tutorial_numpy_style, steps),
                target=1.1, repeat=3, warmup=1),
        _small('small op: x * y, 10x10, x requires grad (forward)', small_op_forward, None, 1000),
        _small('small op: (x * y).sum().backward(), 10x10', small_op_fwd_bwd, 1.3, 200),
        compare('elementwise (x*y+x).exp() on 1000x1000 float32', big_elementwise, repeat=30),
    ]
    print(f'threads: {threads}')
    print_table(rows, 'core: ember vs PyTorch (same process)')
    _allocator_effect()
    return rows


def _small(name, make, target, block, rounds=30):
    """A microsecond-scale call: the fastest of alternating blocks (medians of single calls there measure the
    machine's interruptions and the garbage collector more than the call)."""
    import ember
    e, t = best_of_blocks(make(ember), make(torch) if torch is not None else None, rounds, block)
    return row(name, e, t, target)


def _loop(make, steps):
    def build(fw):
        step = make(fw)

        def loop():
            for _ in range(steps):
                step()
        return loop
    return build


def _allocator_effect():
    """The same 1M-element op with and without ember's malloc settings, each in a fresh process."""
    code = ('import ember, sys; sys.path.insert(0, %r); from _harness import timeit; '
            'x = ember.randn(1000, 1000); y = ember.randn(1000, 1000); '
            'print(timeit(lambda: (x * y + x).exp(), repeat=30))') % os.path.dirname(os.path.abspath(__file__))
    out = {}
    for label, extra in (('EMBER_MALLOPT=1 (as the ember command)', {'EMBER_MALLOPT': '1'}),
                         ('EMBER_NO_MALLOPT=1', {'EMBER_NO_MALLOPT': '1'})):
        env = dict(os.environ, **extra)
        res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
        out[label] = float(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else float('nan')
    print('\n## large temporaries: (x*y+x).exp() on 1000x1000 float32, fresh process each')
    for k, v in out.items():
        print(f'{k:40s} {v * 1e3:8.3f} ms')
    a, b = out['EMBER_MALLOPT=1 (as the ember command)'], out['EMBER_NO_MALLOPT=1']
    print(f'speed-up from keeping freed buffers in the heap: {b / a:.2f}x')


if __name__ == '__main__':
    run()
