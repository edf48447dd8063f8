"""The PyTorch-basics tutorial ember grew from, section by section, written as PyTorch code run on ember.

1. an MLP in NumPy with hand-written backprop; 2. the same with ember tensors; 3. with autograd;
4. with ember.nn.Sequential and manual updates; 5. with ember.optim (SGD, Adam, Adagrad, RMSprop side by side);
6. with a custom nn.Module. Each prints the loss every 100 steps, as the tutorial does.
"""
import contextlib
import ctypes
import glob
import os

import numpy as np

import ember as torch

N, D_in, H, D_out = 64, 1000, 100, 10
STEPS = 500


def _report(t, loss, losses, quiet):
    if t % 100 == 99:
        losses.append(loss)
        if not quiet:
            print(f'step {t + 1:3d}/{STEPS}  loss {loss:.6g}')


def numpy_mlp(seed=0, quiet=False):
    """Section 1: an MLP in NumPy with hand-written forward and backward."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))
    learning_rate, losses = 1e-6, []
    for t in range(STEPS):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)
        loss = np.square(y_pred - y).sum()
        _report(t, float(loss), losses, quiet)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2
    return losses


def tensor_mlp(seed=0, quiet=False):
    """Section 2: the same network with ember tensors, backprop still written by hand."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    w1, w2 = torch.randn(D_in, H), torch.randn(H, D_out)
    learning_rate, losses = 1e-6, []
    for t in range(STEPS):
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)
        loss = (y_pred - y).pow(2).sum()
        _report(t, loss.item(), losses, quiet)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2
    return losses


def autograd_mlp(seed=0, quiet=False):
    """Section 3: autograd computes the gradients."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    w1 = torch.randn(D_in, H, requires_grad=True)
    w2 = torch.randn(H, D_out, requires_grad=True)
    learning_rate, losses = 1e-6, []
    for t in range(STEPS):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        _report(t, loss.item(), losses, quiet)
        loss.backward()
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses


def _sequential():
    return torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.ReLU(), torch.nn.Linear(H, D_out))


def nn_mlp(seed=0, quiet=False):
    """Section 4: ember.nn.Sequential and MSELoss, parameters updated by hand."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    model = _sequential()
    loss_fn = torch.nn.MSELoss(reduction='sum')
    learning_rate, losses = 1e-4, []
    for t in range(STEPS):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        _report(t, loss.item(), losses, quiet)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    return losses


OPTIMIZERS = {'SGD': 1e-4, 'Adam': 1e-4, 'Adagrad': 1e-1, 'RMSprop': 1e-4}


def optim_mlp(seed=0, quiet=False):
    """Section 5: ember.optim does the update; SGD, Adam, Adagrad and RMSprop side by side."""
    finals = {}
    for name, lr in OPTIMIZERS.items():
        torch.manual_seed(seed)
        x, y = torch.randn(N, D_in), torch.randn(N, D_out)
        model = _sequential()
        loss_fn = torch.nn.MSELoss(reduction='sum')
        optimizer = getattr(torch.optim, name)(model.parameters(), lr=lr)
        losses = []
        if not quiet:
            print(f'-- {name} (lr={lr})')
        for t in range(STEPS):
            y_pred = model(x)
            loss = loss_fn(y_pred, y)
            _report(t, loss.item(), losses, quiet)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        finals[name] = losses
    if not quiet:
        print('final loss: ' + ', '.join(f'{k} {v[-1]:.4g}' for k, v in finals.items()))
    return finals


class TwoLayerNet(torch.nn.Module):
    def __init__(self, D_in, H, D_out):
        """Two nn.Linear modules assigned as member variables."""
        super(TwoLayerNet, self).__init__()
        self.linear1 = torch.nn.Linear(D_in, H)
        self.linear2 = torch.nn.Linear(H, D_out)

    def forward(self, x):
        h_relu = self.linear1(x).clamp(min=0)
        y_pred = self.linear2(h_relu)
        return y_pred


def module_mlp(seed=0, quiet=False):
    """Section 6: a custom nn.Module trained with Adam."""
    torch.manual_seed(seed)
    x, y = torch.randn(N, D_in), torch.randn(N, D_out)
    model = TwoLayerNet(D_in, H, D_out)
    loss_fn = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for t in range(STEPS):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        _report(t, loss.item(), losses, quiet)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


SECTIONS = [numpy_mlp, tensor_mlp, autograd_mlp, nn_mlp, optim_mlp, module_mlp]


@contextlib.contextmanager
def one_blas_thread():
    """These 64x1000x100 products gain little from BLAS threads, and on a busy machine threads that spin-wait for
    each other made the tutorial several times slower: run it on one (NumPy's bundled OpenBLAS; else unchanged)."""
    setter = getter = None
    for lib in glob.glob(os.path.join(os.path.dirname(os.path.dirname(np.__file__)), 'numpy.libs', '*openblas*')):
        try:
            so = ctypes.CDLL(lib)
            setter, getter = so.scipy_openblas_set_num_threads64_, so.scipy_openblas_get_num_threads64_
        except (OSError, AttributeError):
            continue
        break
    if setter is None:
        yield
        return
    before = getter()
    setter(1)
    try:
        yield
    finally:
        setter(before)


def run(sections=None, quiet=False):
    """Run the given 1-based sections (all by default); returns {section number: losses}."""
    results = {}
    with one_blas_thread():
        for n in sections or range(1, len(SECTIONS) + 1):
            fn = SECTIONS[n - 1]
            if not quiet:
                print(f'== {fn.__doc__.splitlines()[0]}', flush=True)
            results[n] = fn(quiet=quiet)
    return results
