"""The PyTorch-basics tutorial ember grew from, run with `import ember as torch`: NumPy MLP -> tensors -> autograd.

Each section trains the same two-layer MLP (64 samples, 1000 -> 100 -> 10, lr 1e-6, 500 steps) and prints the
loss every 100 steps. Run one section with `python examples/tutorial.py 3`.
"""
import sys

import numpy as np

import ember as torch

N, D_in, H, D_out = 64, 1000, 100, 10
LR, STEPS = 1e-6, 500


def numpy_mlp(seed=0):
    """Section 1: hand-written forward and backward in NumPy."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))
    losses = []
    for t in range(STEPS):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)
        loss = np.square(y_pred - y).sum()
        if t % 100 == 99:
            print(t, loss)
            losses.append(loss)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)
        w1 -= LR * grad_w1
        w2 -= LR * grad_w2
    return losses


def tensor_mlp(seed=0):
    """Section 2: the same with ember tensors, backprop still by hand."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    w1, w2 = torch.randn(D_in, H), torch.randn(H, D_out)
    losses = []
    for t in range(STEPS):
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)
        w1 -= LR * grad_w1
        w2 -= LR * grad_w2
    return losses


def autograd_mlp(seed=0):
    """Section 3: autograd computes the gradients."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    w1 = torch.randn(D_in, H, requires_grad=True)
    w2 = torch.randn(H, D_out, requires_grad=True)
    losses = []
    for t in range(STEPS):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= LR * w1.grad
            w2 -= LR * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses


SECTIONS = [numpy_mlp, tensor_mlp, autograd_mlp]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    chosen = [SECTIONS[int(a) - 1] for a in argv] or SECTIONS
    for fn in chosen:
        print(f'== {fn.__doc__.splitlines()[0]}')
        fn()


if __name__ == '__main__':
    main()
