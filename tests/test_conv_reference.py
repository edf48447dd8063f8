"""The im2col convolution, its transpose and its weight gradient pinned to the readable definition
(ops.conv.convolution_reference): values and gradients, every dimensionality, stride/padding/dilation/groups."""
import numpy as np
import pytest

import ember
from ember.ops import conv as C
from _parity import Rnd

rnd = Rnd(11)

# (input shape, weight shape, stride, lo, hi, dilation, groups)
CASES = [
    ((2, 3, 9), (4, 3, 3), (1,), (0,), (0,), (1,), 1),
    ((1, 4, 10), (6, 2, 2), (3,), (1,), (2,), (2,), 2),
    ((2, 2, 7, 6), (3, 2, 3, 2), (1, 1), (1, 0), (1, 0), (1, 1), 1),
    ((3, 4, 9, 8), (8, 1, 3, 3), (2, 1), (0, 2), (1, 2), (1, 2), 4),   # depthwise, asymmetric padding
    ((1, 6, 11, 5), (4, 3, 2, 2), (3, 2), (2, 1), (2, 1), (2, 1), 2),
    ((2, 2, 5, 4, 6), (2, 2, 2, 3, 2), (1, 2, 1), (1, 0, 1), (0, 1, 1), (2, 1, 1), 1),
    ((40, 3, 12, 12), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1),  # large batch: the batch-last layout
]


def _inputs(xs, ws, bias=True):
    x = ember.tensor(rnd(*xs), dtype=ember.float64, requires_grad=True)
    w = ember.tensor(rnd(*ws), dtype=ember.float64, requires_grad=True)
    b = ember.tensor(rnd(ws[0]), dtype=ember.float64, requires_grad=True) if bias else None
    return x, w, b


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('bias', [True, False])
def test_im2col_convolution_matches_reference(case, bias):
    xs, ws, st, lo, hi, dl, G = case
    x, w, b = _inputs(xs, ws, bias)
    got = C.convolution(x, w, b, st, lo, hi, dl, G)
    ref = C.convolution_reference(x, w, b, st, lo, hi, dl, G)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = ember.tensor(rnd(*got.shape))
    ins = [t for t in (x, w, b) if t is not None]
    for a, r in zip(ember.autograd.grad(got, ins, gy), ember.autograd.grad(ref, ins, gy)):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize('case', CASES)
def test_transpose_and_weight_gradient_are_the_reference_adjoints(case):
    """conv_transpose is the reference's input gradient and conv_weight its weight gradient, called directly."""
    xs, ws, st, lo, hi, dl, G = case
    x, w, _ = _inputs(xs, ws, False)
    ref = C.convolution_reference(x, w, None, st, lo, hi, dl, G)
    gy = ember.tensor(rnd(*ref.shape), dtype=ember.float64)
    dx, dw = ember.autograd.grad(ref, (x, w), gy)
    with ember.no_grad():
        tx = C.conv_transpose(gy, w, None, st, lo, hi, dl, G, tuple(xs[2:]))
        tw = C.conv_weight(x, gy, tuple(ws), st, lo, hi, dl, G)
    np.testing.assert_allclose(tx.numpy(), dx.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(tw.numpy(), dw.numpy(), rtol=1e-11, atol=1e-11)


def test_reference_float32_and_grad_fn():
    x = ember.randn(2, 3, 6, 6, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    got = C.convolution(x, w, None, (1, 1), (1, 1), (1, 1), (1, 1), 1)
    ref = C.convolution_reference(x, w, None, (1, 1), (1, 1), (1, 1), (1, 1), 1)
    assert got.dtype == ref.dtype == ember.float32
    assert got.grad_fn.name() == 'ConvolutionBackward0'
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
