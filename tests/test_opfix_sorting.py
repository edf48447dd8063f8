"""kthvalue, median and topk on 0-dim, empty, NaN and integer inputs: parity with PyTorch, gradcheck, errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op

NAN = float('nan')
CASES = [
    ('kth_0d', lambda L, a: L.kthvalue(a, 1), np.array(3.)),
    ('kth_0d_dim', lambda L, a: L.kthvalue(a, 1, 0), np.array(3.)),
    ('kth_0d_keep', lambda L, a: L.kthvalue(a, 1, -1, True), np.array(3.)),
    ('kth_keep', lambda L, a: L.kthvalue(a, 2, 1, True), np.arange(12.).reshape(3, 4)[:, ::-1]),
    ('kth_nan', lambda L, a: L.kthvalue(a, 3), np.array([1., NAN, 0., NAN])),
    ('kth_int', lambda L, a: L.kthvalue(a, 2, 0), np.array([5, 3, 9])),
    ('kth_empty_rows', lambda L, a: L.kthvalue(a, 1, 0), np.zeros((2, 0))),
    ('median_0d', lambda L, a: L.median(a, 0), np.array(3.)),
    ('median_0d_keep', lambda L, a: L.median(a, -1, True), np.array(3.)),
    ('median_nan_rows', lambda L, a: L.median(a, 1), np.array([[1., NAN, 0., NAN], [NAN, 1, 2, 3], [4, 2, 1, 3]])),
    ('median_nan_keep', lambda L, a: L.median(a, 0, keepdim=True), np.array([[1., NAN], [2, 3], [0, 5]])),
    ('median_all_0d', lambda L, a: L.median(a), np.array(2.)),
    ('median_int', lambda L, a: L.median(a, 0), np.array([4, 1, 7])),
    ('topk_0d', lambda L, a: L.topk(a, 1), np.array(3.)),
    ('topk_0d_k0', lambda L, a: L.topk(a, 0), np.array(3.)),
    ('topk_0d_dim', lambda L, a: L.topk(a, 1, 0, largest=False), np.array(3.)),
    ('topk_nan', lambda L, a: L.topk(a, 3), np.array([1., NAN, 0., NAN])),
    ('topk_smallest', lambda L, a: L.topk(a, 2, largest=False), np.array([1., NAN, 0., 5.])),
    ('topk_empty', lambda L, a: L.topk(a, 0, 1), np.zeros((2, 0))),
]


@pytest.mark.parametrize('name,fn,x', CASES, ids=[c[0] for c in CASES])
def test_parity(name, fn, x):
    assert_parity(fn, x)


@pytest.mark.parametrize('fn', [lambda L, a: L.kthvalue(a, 1, 0)[0], lambda L, a: L.median(a, 0)[0],
                                lambda L, a: L.topk(a, 1)[0], lambda L, a: L.topk(a, 0, 0)[0]])
def test_gradcheck_0d(fn):
    gradcheck_op(fn, np.array(1.5))


@pytest.mark.parametrize('fn', [lambda L, a: L.kthvalue(a, 2, 1, True)[0], lambda L, a: L.median(a, 0)[0],
                                lambda L, a: L.topk(a, 2, 0, largest=False)[0]])
def test_gradcheck(fn):
    gradcheck_op(fn, np.random.default_rng(0).standard_normal((3, 4)))


def test_grad_fn_names():
    x = ember.tensor(2., requires_grad=True)
    assert ember.kthvalue(x, 1).values.grad_fn.name() == 'KthvalueBackward0'
    assert ember.median(x, 0).values.grad_fn.name() == 'MedianBackward1'
    assert ember.topk(x, 1).values.grad_fn.name() == 'TopkBackward0'


def test_errors():
    x0 = ember.tensor(3.)
    with pytest.raises(RuntimeError, match='selected number k out of range for dimension 0'):
        ember.kthvalue(x0, 2)
    with pytest.raises(IndexError, match='Dimension out of range'):
        ember.kthvalue(x0, 1, 1)
    with pytest.raises(IndexError, match='Dimension out of range'):
        ember.median(x0, 1)
    with pytest.raises(RuntimeError, match='selected index k out of range'):
        ember.topk(x0, 2)
    with pytest.raises(IndexError, match=r'kthvalue\(\): Expected reduction dim 0 to have non-zero size'):
        ember.kthvalue(ember.zeros(0), 1)
    with pytest.raises(IndexError, match=r'median\(\): Expected reduction dim 1 to have non-zero size'):
        ember.median(ember.zeros(2, 0), 1)
    with pytest.raises(NotImplementedError, match='"kthvalue_cpu" not implemented for \'Bool\''):
        ember.kthvalue(ember.tensor([True, False]), 1)
    with pytest.raises(NotImplementedError, match='not implemented for \'Bool\''):
        ember.median(ember.tensor([True, False]), 0)
    with pytest.raises(RuntimeError, match='topk does not support bool'):
        ember.topk(ember.tensor([True, False]), 1)
