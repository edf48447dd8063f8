"""Cross entropy's fused row path is pinned to its composed reference (ember/ops/class_loss.py): values, gradients and
double backward over every option; the reference itself against PyTorch; the dispatch between the two."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.ops import class_loss as CL

from conftest import needs_torch, torch

SHAPES = [(5, 4), (3, 4, 2), (2, 3, 2, 2), (4,), (0, 4), (2, 3, 0)]
OPTIONS = [dict(), dict(weight=True), dict(ignore_index=1), dict(ignore_index=-100, holes=True),
           dict(label_smoothing=0.3), dict(weight=True, ignore_index=2, label_smoothing=0.2, holes=True)]


def _case(shape, dtype, opts, seed=0, probs=False):
    """(x, target, weight, kwargs) with every option of ``opts``; 'holes' puts ignore_index in some targets."""
    rng = np.random.default_rng(seed)
    cdim = 1 if len(shape) > 1 else 0
    C = shape[cdim]
    x = ember.tensor((rng.standard_normal(shape) * 2).astype(dtype), requires_grad=True)
    tshape = shape[:cdim] + shape[cdim + 1:]
    if probs:
        t = ember.tensor(rng.random(shape).astype(dtype)).softmax(cdim)
    else:
        ti = rng.integers(0, C, tshape)
        if opts.get('holes') and ti.size > 1:
            ti.reshape(-1)[::3] = opts.get('ignore_index', -100)
        t = ember.tensor(ti)
    w = ember.tensor((rng.random(C) + 0.5).astype(dtype)) if opts.get('weight') else None
    kw = {k: v for k, v in opts.items() if k in ('ignore_index', 'label_smoothing')}
    return x, t, w, kw


def _grads(x, out, create_graph=False):
    """Gradient of (out * fixed cotangent).sum() with respect to x."""
    g = ember.tensor(np.cos(np.arange(out.numel()) + 0.5).reshape(tuple(out.shape)), dtype=out.dtype)
    return ember.autograd.grad(out, x, g, create_graph=create_graph, allow_unused=True)[0]


def _close(a, b, dtype):
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), equal_nan=True, **tol)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('opts', OPTIONS, ids=lambda o: '-'.join(o) or 'plain')
@pytest.mark.parametrize('shape', SHAPES, ids=str)
@pytest.mark.parametrize('logits', [True, False], ids=['cross_entropy', 'nll_loss'])
def test_fused_path_matches_reference(logits, shape, opts, reduction, dtype):
    x, t, w, kw = _case(shape, dtype, opts)
    eps = kw.get('label_smoothing', 0.0) if logits else 0.0
    ii = kw.get('ignore_index', -100)
    fast = CL._fused(x, t, w, ii, reduction, eps, logits)
    ref = CL.reference(x, t, w, ii, reduction, eps, logits)
    assert fast.dtype == ref.dtype == x.dtype and fast.shape == ref.shape
    _close(fast, ref, dtype)
    if fast.grad_fn is not None:
        _close(_grads(x, fast), _grads(x, ref), dtype)


@pytest.mark.parametrize('opts', OPTIONS, ids=lambda o: '-'.join(o) or 'plain')
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('logits', [True, False], ids=['cross_entropy', 'nll_loss'])
def test_fused_path_double_backward_matches_reference(logits, opts, reduction):
    x, t, w, kw = _case((3, 4, 2), np.float64, opts, seed=1)
    eps, ii = kw.get('label_smoothing', 0.0) if logits else 0.0, kw.get('ignore_index', -100)
    v = ember.tensor(np.sin(np.arange(24.0)).reshape(3, 4, 2))
    inp = (lambda a: a) if logits else (lambda a: a.log_softmax(1))  # (nll_loss alone is linear in its input)
    second = []
    for fn in (CL._fused, CL.reference):
        gx = _grads(x, fn(inp(x), t, w, ii, reduction, eps, logits), create_graph=True)
        second.append(ember.autograd.grad((gx * v).sum(), x)[0])
    _close(second[0], second[1], np.float64)
    fused = lambda a: CL._fused(inp(a), t, w, ii, reduction, eps, logits)  # noqa: E731
    assert ember.autograd.gradgradcheck(fused, (x,))


def test_fused_path_every_target_ignored_gives_nan_loss_and_zero_gradient():
    x = ember.randn(3, 4, requires_grad=True)
    out = CL._fused(x, ember.tensor([-100, -100, -100]), None, -100, 'mean', 0.1)
    assert np.isnan(out.item())
    out.backward()
    assert np.array_equal(x.grad.numpy(), np.zeros((3, 4), np.float32))  # PyTorch's answer too


def test_dispatch_takes_the_fused_path_for_the_common_case(monkeypatch):
    taken = []
    monkeypatch.setattr(CL, '_fused', lambda *a: taken.append('fused') or CL.reference(*a))
    x = ember.randn(4, 3, requires_grad=True)
    t = ember.tensor([0, 2, 1, -100])
    for kw in (dict(), dict(weight=ember.rand(3)), dict(label_smoothing=0.1, reduction='none')):
        F.cross_entropy(x, t, **kw)
    F.cross_entropy(x.double(), t)
    F.nll_loss(x.log_softmax(1), t)
    assert taken == ['fused'] * 5
    F.cross_entropy(x.half(), t)  # float16, probabilities: the reference
    F.cross_entropy(x, x.softmax(1).detach())
    assert taken == ['fused'] * 5


def test_node_names_and_errors_are_pytorchs():
    x = ember.randn(2, 3, requires_grad=True)
    t = ember.tensor([2, 0])
    assert F.cross_entropy(x, t).grad_fn.name() == 'NllLossBackward0'
    assert F.cross_entropy(x, t, label_smoothing=0.1).grad_fn.name() == 'AddBackward0'
    assert F.cross_entropy(x.half(), t).grad_fn.name() == 'NllLossBackward0'
    assert F.nll_loss(x, t).grad_fn.name() == 'NllLossBackward0'
    with pytest.raises(IndexError, match='Target 3 is out of bounds'):
        F.cross_entropy(x, ember.tensor([3, 0]))
    with pytest.raises(IndexError, match='Target -2 is out of bounds'):
        F.nll_loss(x, ember.tensor([-2, 0]))


@needs_torch
@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('opts', OPTIONS + [dict(probs=True), dict(probs=True, weight=True, label_smoothing=0.2)],
                         ids=lambda o: '-'.join(o) or 'plain')
@pytest.mark.parametrize('shape', [(5, 4), (2, 3, 2, 2), (4,), (0, 4)], ids=str)
@pytest.mark.parametrize('logits', [True, False])
def test_reference_matches_pytorch(shape, opts, reduction, logits):
    if opts.get('probs') and not logits:
        pytest.skip('nll_loss takes class indices only')
    x, t, w, kw = _case(shape, np.float64, opts, seed=2, probs=opts.get('probs', False))
    if not logits:
        kw.pop('label_smoothing', None)
    out = CL.reference(x, t, w, reduction=reduction, logits=logits, **kw)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    tfn = torch.nn.functional.cross_entropy if logits else torch.nn.functional.nll_loss
    want = tfn(tx, torch.tensor(t.numpy()), None if w is None else torch.tensor(w.numpy()), reduction=reduction, **kw)
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-14, equal_nan=True)
    if x.numel() and reduction == 'sum':
        out.backward()
        want.backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
