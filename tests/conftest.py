"""Shared test helpers: optional PyTorch for parity checks, float64 gradcheck shortcuts."""
import os

# One BLAS thread in tests: spinning OpenBLAS threads on a busy 2-core machine make matmuls 100x slower.
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ember  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # parity tests skip cleanly without PyTorch
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason='PyTorch is not installed')


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)
    np.random.seed(0)
    yield


def t64(*shape, requires_grad=True, positive=False, seed=None):
    """A float64 leaf tensor for gradcheck."""
    rng = np.random.default_rng(seed if seed is not None else sum(shape) + len(shape))
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return ember.tensor(a, dtype=ember.float64, requires_grad=requires_grad)


# ---- op-test helpers: one NumPy input set, run through ember and PyTorch ------------------------------------------
def _leaf(lib, x, grad):
    """A tensor of ``lib`` from a NumPy array (dtype kept); floating ones require grad when ``grad``."""
    if not isinstance(x, np.ndarray):
        return x
    t = lib.tensor(x.copy())
    if grad and x.dtype.kind == 'f':
        t.requires_grad_()
    return t


def _flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_outputs(o)]
    return [out]


def _np_of(t):
    return t.detach().numpy() if hasattr(t, 'detach') else np.asarray(t)


def run_op(lib, fn, arrays, grad=True):
    """``fn(lib, *tensors)`` on leaves made from ``arrays``; returns (outputs as NumPy, dtype names, input grads).

    The backward seeds every floating output that requires grad with fixed weights, so both libraries see the
    same upstream gradient.
    """
    leaves = [_leaf(lib, x, grad) for x in arrays]
    outs = _flat_outputs(fn(lib, *leaves))
    vals = [_np_of(o).copy() for o in outs]
    dts = [str(o.dtype).split('.')[-1] for o in outs]
    grads = None
    if grad:
        loss = None
        for o in outs:
            if getattr(o, 'requires_grad', False):
                w = lib.tensor(np.cos(np.arange(o.numel()) * 0.7 + 0.3).reshape(tuple(o.shape))).to(o.dtype)
                term = (o * w).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        grads = [None if not getattr(t, 'requires_grad', False) or t.grad is None else _np_of(t.grad)
                 for t in leaves]
    return vals, dts, grads


def assert_parity(fn, *arrays, grad=True, rtol=1e-6, atol=1e-8, check_dtype=True):
    """ember and PyTorch agree on ``fn``'s outputs (values, shapes, dtypes) and on the inputs' gradients."""
    ev, ed, eg = run_op(ember, fn, arrays, grad)
    tv, td, tg = run_op(torch, fn, arrays, grad)
    assert len(ev) == len(tv)
    for e, t in zip(ev, tv):
        assert e.shape == t.shape, (e.shape, t.shape)
        np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, equal_nan=True)
    if check_dtype:
        assert ed == td
    if grad:
        for i, (e, t) in enumerate(zip(eg, tg)):
            assert (e is None) == (t is None), f'input {i}: ember grad {e is not None}, torch grad {t is not None}'
            if e is not None:
                assert e.shape == t.shape
                np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, err_msg=f'gradient of input {i}')


def gradcheck_op(fn, *arrays, **kw):
    """ember.autograd.gradcheck of ``fn(ember, *tensors)`` with float64 leaves made from ``arrays``."""
    leaves = [_leaf(ember, x.astype(np.float64) if isinstance(x, np.ndarray) and x.dtype.kind == 'f' else x, True)
              for x in arrays]
    assert ember.autograd.gradcheck(lambda *ts: fn(ember, *ts), tuple(leaves), **kw)
