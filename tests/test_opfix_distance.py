"""cdist, pdist and norm (p=0 gradients, the nuclear norm): parity with PyTorch (values and gradients, incl. zero
differences and ties for p=inf), gradcheck and PyTorch's errors."""
import math

import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

rng = np.random.default_rng(9)
TIES = np.array([[0., 1.], [0., 1.], [2., -1.]])
Y = np.array([[0., 1.], [1., 1.]])
PS = [0., 0.5, 1., 1.5, 2., 3., math.inf]


@pytest.mark.parametrize('p', PS)
def test_cdist_pdist_parity(p):
    assert_parity(lambda L, a, b: L.cdist(a, b, p=p), TIES, Y)
    assert_parity(lambda L, a: L.nn.functional.pdist(a, p=p), TIES)
    assert_parity(lambda L, a, b: L.cdist(a, b, p=p), rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((3, 2, 4)))
    assert_parity(lambda L, a, b: L.cdist(a, b, p=p, compute_mode='donot_use_mm_for_euclid_dist'),
                  rng.standard_normal((0, 4)), rng.standard_normal((2, 4)))


@pytest.mark.parametrize('p', [0.5, 1.5, 2., 3.])
def test_cdist_pdist_gradcheck(p):
    gradcheck_op(lambda L, a, b: L.cdist(a, b, p=p), rng.standard_normal((3, 4)), rng.standard_normal((2, 4)))
    gradcheck_op(lambda L, a: L.nn.functional.pdist(a, p=p), rng.standard_normal((4, 3)))


def test_norm_p0_and_nuc():
    x = rng.standard_normal((3, 4))
    assert_parity(lambda L, a: L.norm(a, 0), x)
    assert_parity(lambda L, a: L.norm(a, 0, 1), x)
    assert_parity(lambda L, a: L.norm(a, 'nuc'), x)
    assert_parity(lambda L, a: L.norm(a, 'nuc', dim=[0, 2], keepdim=True), rng.standard_normal((2, 3, 4)))
    gradcheck_op(lambda L, a: L.norm(a, 'nuc'), x)
    t = ember.tensor(x, requires_grad=True)
    assert ember.norm(t, 0).requires_grad and ember.cdist(t, t).grad_fn.name() == 'CdistBackward0'
    assert ember.nn.functional.pdist(t).grad_fn.name() == 'PdistBackward0'


@needs_torch
@pytest.mark.parametrize('call', [
    lambda L: L.cdist(L.zeros(3), L.zeros(3)), lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 4)),
    lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3), p=-1), lambda L: L.nn.functional.pdist(L.zeros(3)),
    lambda L: L.nn.functional.pdist(L.zeros(2, 3), p=-1),
    lambda L: L.cdist(L.zeros(2, 3, dtype=L.int64), L.zeros(2, 3, dtype=L.int64)),
    lambda L: L.nn.functional.pdist(L.zeros(2, 3, dtype=L.int64)),
    lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3, dtype=L.float64)),
    lambda L: L.cdist(L.zeros(2, 2, 3), L.zeros(3, 2, 3)),
    lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3), compute_mode='foo'),
    lambda L: L.norm(L.zeros(2, 3, 4), 'nuc'), lambda L: L.norm(L.zeros(2, 3, 4), 'nuc', dim=1),
    lambda L: L.norm(L.zeros(2, 3, 4), 'nuc', dim=[1, 1]), lambda L: L.norm(L.zeros(3), 'nuc')])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as te:
        call(torch)
    with pytest.raises(Exception) as ee:
        call(ember)
    assert type(ee.value) is type(te.value) and str(ee.value) == str(te.value)
