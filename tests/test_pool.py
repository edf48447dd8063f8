"""Max, average, adaptive and power-average pooling: PyTorch parity (values, gradients, indices), gradcheck, errors."""
import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck
from conftest import needs_torch, t64
from _parity import torch, Rnd, assert_parity

rnd = Rnd(0)
TOL = dict(rtol=1e-9, atol=1e-10, golden=False)  # as test_conv: live PyTorch only

POOL_CASES = [  # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), (2, 3, 1, 1, True),
    (3, 2, 0, 1, True), ((2, 3), (1, 2), (1, 0), 1, False), (4, 4, 2, 1, True),
]


def _tF():
    return torch.nn.functional


@needs_torch
@pytest.mark.parametrize('k,s,p,d,c', POOL_CASES)
def test_max_pool2d_parity(k, s, p, d, c):
    assert_parity(lambda L, x: L.nn.functional.max_pool2d(x, k, s, p, d, c), rnd(2, 3, 9, 10), **TOL)


@needs_torch
@pytest.mark.parametrize('k,s,p,d,c', [case for case in POOL_CASES if not isinstance(case[0], tuple)])
def test_max_pool1d_parity(k, s, p, d, c):
    assert_parity(lambda L, x: L.nn.functional.max_pool1d(x, k, s, p, d, c), rnd(2, 3, 11), **TOL)


@needs_torch
def test_max_pool3d_parity():
    assert_parity(lambda L, x: L.nn.functional.max_pool3d(x, 2, 2, 1, 1, True), rnd(1, 2, 5, 6, 5), **TOL)


@needs_torch
@pytest.mark.parametrize('k,s,p,d,c', POOL_CASES)
def test_max_pool_ties_and_indices_match(k, s, p, d, c):
    # small integers make many ties: the gradient goes to the first maximum, as in PyTorch
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 9, 10)).astype(np.float64)
    a, b = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (oa, ia), (ob, ib) = F.max_pool2d(a, k, s, p, d, c, True), _tF().max_pool2d(b, k, s, p, d, c, True)
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())
    assert ia.dtype == ember.int64
    oa.sum().backward()
    ob.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


@needs_torch
@pytest.mark.parametrize('k,s,p,c', [(2, None, 0, False), (3, 2, 1, False), (3, 2, 1, True), (2, 3, 1, True),
                                     (3, 2, 0, True), ((2, 3), (1, 2), (1, 0), False)])
@pytest.mark.parametrize('cip', [True, False])
def test_avg_pool2d_parity(k, s, p, c, cip):
    assert_parity(lambda L, x: L.nn.functional.avg_pool2d(x, k, s, p, c, cip), rnd(2, 3, 9, 10), **TOL)


@needs_torch
@pytest.mark.parametrize('cip', [True, False])
def test_avg_pool1d_parity(cip):
    assert_parity(lambda L, x: L.nn.functional.avg_pool1d(x, 3, 2, 1, True, cip), rnd(2, 3, 10), **TOL)


@needs_torch
def test_avg_pool_divisor_override():
    assert_parity(lambda L, x: L.nn.functional.avg_pool2d(x, 3, 2, 1, divisor_override=2), rnd(2, 3, 7, 7), **TOL)


@needs_torch
@pytest.mark.parametrize('size', [(3, 5), (4, 3), 1, (None, 2), (7, 6), (9, 10)])
def test_adaptive_pool2d_parity(size):
    assert_parity(lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, size), rnd(2, 3, 9, 10), **TOL)
    assert_parity(lambda L, x: L.nn.functional.adaptive_max_pool2d(x, size), rnd(2, 3, 9, 10), **TOL)


@needs_torch
@pytest.mark.parametrize('size', [(3, 5), (4, 3), (7, 6)])
def test_adaptive_max_pool2d_indices(size):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 10))
    _, ia = F.adaptive_max_pool2d(ember.tensor(x), size, return_indices=True)
    _, ib = _tF().adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(ia.numpy(), ib.numpy())


@needs_torch
@pytest.mark.parametrize('size', [4, 3, 1, 11])
def test_adaptive_pool1d_parity(size):
    assert_parity(lambda L, x: L.nn.functional.adaptive_avg_pool1d(x, size), rnd(2, 3, 9), **TOL)
    assert_parity(lambda L, x: L.nn.functional.adaptive_max_pool1d(x, size), rnd(2, 3, 9), **TOL)


@needs_torch
def test_lp_pool_parity():
    assert_parity(lambda L, x: L.nn.functional.lp_pool2d(x.abs() + 0.1, 2, 2), rnd(2, 2, 4, 6), **TOL)
    assert_parity(lambda L, x: L.nn.functional.lp_pool1d(x.abs() + 0.1, 3, 2), rnd(2, 2, 7), **TOL)


@needs_torch
def test_unbatched_and_float32():
    assert_parity(lambda L, x: L.nn.functional.max_pool2d(x, 2), rnd(3, 8, 8), **TOL)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    a = F.avg_pool2d(ember.tensor(x), 2)
    assert a.dtype == ember.float32
    np.testing.assert_allclose(a.numpy(), _tF().avg_pool2d(torch.tensor(x), 2).numpy(), rtol=1e-6)


# ---- gradcheck and double backward -------------------------------------------------------------------------------

@pytest.mark.parametrize('k,s,p,d,c', [(2, None, 0, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False)])
def test_max_pool2d_gradcheck(k, s, p, d, c):
    assert gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, c), (t64(1, 2, 5, 5),))


def test_max_pool1d_gradcheck():
    assert gradcheck(lambda x: F.max_pool1d(x, 3, 2, 1), (t64(2, 2, 7),))


@pytest.mark.parametrize('k,s,p,c,cip', [(2, None, 0, False, True), (3, 2, 1, True, False), (3, 1, 1, False, True)])
def test_avg_pool2d_gradcheck(k, s, p, c, cip):
    assert gradcheck(lambda x: F.avg_pool2d(x, k, s, p, c, cip), (t64(1, 2, 5, 5),))


def test_avg_pool1d_gradcheck():
    assert gradcheck(lambda x: F.avg_pool1d(x, 2, 1, 1, count_include_pad=False), (t64(2, 2, 5),))


@pytest.mark.parametrize('size', [(2, 3), (3, 2), 1])
def test_adaptive_gradcheck(size):
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), (t64(1, 2, 5, 4),))
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, size), (t64(1, 2, 5, 4),))


def test_pool_double_backward():
    assert gradgradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), (t64(1, 1, 5, 5),))
    assert gradgradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (t64(1, 1, 5, 5),))


def test_max_pool_grad_fn_name_and_no_graph_without_grad():
    x = t64(1, 1, 4, 4)
    assert F.max_pool2d(x, 2).grad_fn.name() == 'MaxPool2DWithIndicesBackward0'
    with ember.no_grad():
        assert F.max_pool2d(x, 2).grad_fn is None


def test_max_pool_propagates_nan():
    x = ember.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = float('nan')
    y = F.max_pool2d(x, 2)
    assert np.isnan(y.numpy()[0, 0, 0, 0]) and not np.isnan(y.numpy()[0, 0, 1, 1])


# ---- modules ----------------------------------------------------------------------------------------------------

@needs_torch
def test_pool_module_reprs_match_pytorch():
    tnn = torch.nn
    pairs = [
        (nn.MaxPool2d(2), tnn.MaxPool2d(2)),
        (nn.MaxPool2d(3, stride=2, padding=1, dilation=2, return_indices=True, ceil_mode=True),
         tnn.MaxPool2d(3, stride=2, padding=1, dilation=2, return_indices=True, ceil_mode=True)),
        (nn.MaxPool1d(3, ceil_mode=True), tnn.MaxPool1d(3, ceil_mode=True)),
        (nn.AvgPool2d(2), tnn.AvgPool2d(2)), (nn.AvgPool1d(2), tnn.AvgPool1d(2)),
        (nn.AvgPool2d(3, 1, 1, ceil_mode=True, count_include_pad=False, divisor_override=2),
         tnn.AvgPool2d(3, 1, 1, ceil_mode=True, count_include_pad=False, divisor_override=2)),
        (nn.AdaptiveAvgPool2d((2, None)), tnn.AdaptiveAvgPool2d((2, None))),
        (nn.AdaptiveAvgPool1d(3), tnn.AdaptiveAvgPool1d(3)), (nn.AdaptiveMaxPool2d(3), tnn.AdaptiveMaxPool2d(3)),
        (nn.LPPool2d(2, 3), tnn.LPPool2d(2, 3)),
    ]
    for a, b in pairs:
        assert repr(a) == repr(b)


@needs_torch
def test_pool_modules_parity():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    for em, tm in [(nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)), (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
                   (nn.AdaptiveAvgPool2d((4, 3)), torch.nn.AdaptiveAvgPool2d((4, 3))),
                   (nn.AdaptiveMaxPool2d(2), torch.nn.AdaptiveMaxPool2d(2))]:
        np.testing.assert_allclose(em(ember.tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), atol=1e-12)
    out, idx = nn.MaxPool2d(2, return_indices=True)(ember.tensor(x))
    assert tuple(idx.shape) == (2, 3, 4, 4)


# ---- errors -----------------------------------------------------------------------------------------------------

def test_pool_errors():
    x = ember.zeros(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match='pad should be at most half of effective kernel size'):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match='pad should be smaller than or equal to half of kernel size'):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match=r'Calculated output size: \(3x0x0\). Output size is too small'):
        F.max_pool2d(x, 9)
    with pytest.raises(RuntimeError, match='Expected 3D or 4D input'):
        F.max_pool2d(ember.zeros(8, 8), 2)


def test_pool_module_names_itself():
    m = nn.MaxPool2d(9)
    with pytest.raises(RuntimeError, match=r'MaxPool2d\(kernel_size=9, .*\) got input of shape \(2, 3, 8, 8\): .*too '
                                           r'small'):
        m(ember.zeros(2, 3, 8, 8))
    with pytest.raises(RuntimeError, match=r'AvgPool2d\(kernel_size=2, stride=2, padding=0\) got input of shape '
                                           r'\(8, 8\): expected 3-D or 4-D input'):
        nn.AvgPool2d(2)(ember.zeros(8, 8))
