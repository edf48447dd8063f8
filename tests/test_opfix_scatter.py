"""gather, scatter, scatter_add, scatter_reduce (every reduction, include_self both ways) and index_add: parity with
PyTorch (values and gradients), gradcheck, 0-dim/empty/integer inputs, PyTorch's errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op, needs_torch, torch

rng = np.random.default_rng(12)
X = rng.standard_normal((4, 3))
S = rng.standard_normal((5, 3))
IDX = np.array([[0, 1, 3], [0, 1, 0], [2, 2, 3], [0, 0, 0], [3, 1, 0]])
REDUCES = ['sum', 'prod', 'mean', 'amax', 'amin']


def _ix(L, a):
    return L.tensor(a)


@pytest.mark.parametrize('include_self', [True, False])
@pytest.mark.parametrize('reduce', REDUCES)
def test_scatter_reduce_parity(reduce, include_self):
    assert_parity(lambda L, x, s: x.scatter_reduce(0, _ix(L, IDX), s, reduce, include_self=include_self), X, S)
    # ties (amax/amin share the gradient) and zeros (prod's exact products of the others)
    xt = np.array([[1., 0., 2.], [3., 3., 0.]])
    st = np.array([[3., 0., 2.], [1., 3., 0.], [3., 5., 0.]])
    it = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]])
    assert_parity(lambda L, x, s: L.scatter_reduce(x, 0, _ix(L, it), s, reduce, include_self=include_self), xt, st)


@pytest.mark.parametrize('include_self', [True, False])
@pytest.mark.parametrize('reduce', REDUCES)
def test_scatter_reduce_gradcheck(reduce, include_self):
    gradcheck_op(lambda L, x, s: x.scatter_reduce(1, _ix(L, IDX[:4, :2] % 3), s, reduce, include_self=include_self),
                 X, S[:, :2] + 0.1)


@pytest.mark.parametrize('reduce', REDUCES)
def test_scatter_reduce_0d_empty_int(reduce):
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.tensor([0, 0]), s, reduce), np.array(2.), np.array([3., 4.]))
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.tensor(0), s, reduce, include_self=False), np.array(2.),
                  np.array(3.))
    # (no gradients: PyTorch's own backward refuses a src larger than the index)
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.zeros(0, dtype=L.int64), s, reduce), X[0], S[0], grad=False)
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.tensor([1, 1, 0]), s, reduce),
                  np.array([1, 5, -7]), np.array([2, -4, 1]))
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.tensor([1, 1, 0]), s, reduce, include_self=False),
                  np.array([1, 5, -7]), np.array([2, -4, 1]))


def test_scatter_reduce_nan_and_inplace():
    n = float('nan')
    assert_parity(lambda L, x, s: x.scatter_reduce(0, L.tensor([0, 1, 2, 2]), s, 'amax'),
                  np.array([1., 5, 3, n]), np.array([2., 5, 4, 1]))
    assert ember.tensor([1., 2.]).scatter_reduce(0, ember.tensor([0, 1]), ember.tensor([5., -3.]), 'max').tolist() \
        == [5., 2.]
    x = ember.tensor([1., 5., 3.])
    assert x.scatter_reduce_(0, ember.tensor([0, 0]), ember.tensor([7., 2.]), 'amin').tolist() == [1., 5., 3.]
    assert ember.tensor([1., 2.], requires_grad=True).scatter_reduce(
        0, ember.tensor([0]), ember.tensor([3.]), 'prod').grad_fn.name() == 'ScatterReduceBackward0'


GS_CASES = [
    ('gather_0d_vec', lambda L, x: L.gather(x, 0, L.tensor([0, 0])), np.array(2.)),
    ('gather_0d_0d', lambda L, x: L.gather(x, 0, L.tensor(0)), np.array(2.)),
    ('gather_vec_0d', lambda L, x: L.gather(x, 0, L.tensor(3)), X[:, 0]),
    ('gather_empty', lambda L, x: L.gather(x, 0, L.zeros(2, 0, dtype=L.uint8)), X[:, 0]),
    ('gather_empty_2d', lambda L, x: L.gather(x, 0, L.zeros(0, 5, dtype=L.int64)), X),
    ('gather_int32', lambda L, x: L.gather(x, 1, L.tensor([[2], [0], [1], [1]], dtype=L.int32)), X),
    ('scatter_0d', lambda L, x, s: L.scatter(x, 0, L.tensor([0, 0]), s), np.array(2.), np.array([3., 3.])),
    ('scatter_value_0d', lambda L, x: L.scatter(x, 0, L.tensor(0), 5.), np.array(2.)),
    ('scatter_empty', lambda L, x, s: L.scatter(x, 0, L.zeros(0, dtype=L.int64), s), X[0], S[0]),
    ('scatter_add_0d', lambda L, x, s: L.scatter_add(x, 0, L.tensor([0, 0]), s), np.array(2.), np.array([3., 4.])),
    ('scatter_add_dim0_taller', lambda L, x, s: L.scatter_add(x, 0, L.tensor(IDX[:, :2]), s), X, S),
    ('index_add_0d', lambda L, x, s: L.index_add(x, 0, L.tensor([0]), s, alpha=2), np.array(2.), np.array(3.)),
    ('index_add_0d_index', lambda L, x, s: L.index_add(x, 0, L.tensor(0), s, alpha=-1), np.array(2.), np.array(3.)),
    ('index_add_repeat', lambda L, x, s: x.index_add(1, L.tensor([2, 2]), s), X, S[:4, :2]),
    ('index_add_int_alpha', lambda L, x, s: L.index_add(x, 0, L.tensor([0]), s, alpha=-2.7), np.array([1, 2]),
     np.array([5])),
    ('index_add_bool', lambda L, x, s: L.index_add(x, 0, L.tensor([1]), s), np.array([True, False]),
     np.array([True])),
    ('index_add_empty', lambda L, x, s: L.index_add(x, 0, L.zeros(0, dtype=L.int64), s), X, S[:0]),
    ('take_along_dim_negative', lambda L, x: L.take_along_dim(x, L.tensor([[-1], [-3], [2], [-4]]), 1), X),
]


@pytest.mark.parametrize('case', GS_CASES, ids=[c[0] for c in GS_CASES])
def test_gather_scatter_index_add(case):
    # (PyTorch's own backward refuses a src larger than the index: values only there)
    assert_parity(case[1], *case[2:], grad=case[0] not in ('scatter_empty', 'scatter_add_dim0_taller'))


def test_src_larger_than_index_grad():
    x, s = ember.zeros(4, 3, requires_grad=True), ember.ones(5, 3, requires_grad=True)
    ember.scatter_add(x, 0, ember.tensor([[0, 1], [3, 1]]), s).sum().backward()
    assert s.grad.tolist() == [[1., 1., 0.], [1., 1., 0.], [0., 0., 0.], [0., 0., 0.], [0., 0., 0.]]


def test_index_add_gradcheck():
    gradcheck_op(lambda L, x, s: L.index_add(x, 0, L.tensor(0), s, alpha=2), np.array(1.), np.array(2.))
    gradcheck_op(lambda L, x, s: x.index_add(0, L.tensor([1, 1, 0]), s, alpha=0.5), X[:2], S[:3])
    gradcheck_op(lambda L, x: L.gather(x, 0, L.tensor([0, 0, 0])), np.array(1.5))


@needs_torch
@pytest.mark.parametrize('call', [
    lambda L, x: L.gather(x, 0, L.tensor([1, 2], dtype=L.uint8)),
    lambda L, x: L.gather(x, 0, L.tensor([-1])),
    lambda L, x: L.gather(x, 0, L.tensor([6])),
    lambda L, x: L.gather(x.reshape(2, 3), 0, L.zeros(3, dtype=L.int64)),
    lambda L, x: L.gather(x.reshape(2, 3), 1, L.zeros(3, 1, dtype=L.int64)),
    lambda L, x: L.scatter(x, 0, L.tensor([1]), L.ones(1, dtype=L.float64)),
    lambda L, x: L.scatter_add(x.reshape(2, 3), 1, L.zeros(2, 2, dtype=L.int64), L.ones(1, 1)),
    lambda L, x: L.scatter_add(x, 0, L.zeros(1, 1, dtype=L.int64), L.ones(4, 4)),
    lambda L, x: L.scatter_reduce(x, 0, L.tensor([0]), x, 'mul'),
    lambda L, x: L.scatter_reduce(x > 0, 0, L.tensor([0]), x > 0, 'mean'),
    lambda L, x: L.scatter(x, 0, L.tensor([0]), x, reduce='mean'),
    lambda L, x: L.index_add(x, 0, L.tensor([-1]), L.ones(1)),
    lambda L, x: L.index_add(x, 0, L.tensor([6]), L.ones(1)),
    lambda L, x: L.index_add(x, 0, L.tensor([1.]), L.ones(1)),
    lambda L, x: L.index_add(x, 0, L.tensor([[1]]), L.ones(1)),
    lambda L, x: L.index_add(x, 0, L.tensor([1, 2]), L.ones(1)),
    lambda L, x: L.index_add(x, 0, L.tensor([1]), L.ones(1, dtype=L.float64)),
    lambda L, x: L.index_add(x, 0, L.tensor(1), L.tensor(1.)),
    lambda L, x: L.index_add(x.reshape(2, 3), 1, L.tensor([0, 2]), L.ones(3, 2)),
    lambda L, x: L.index_add(x.reshape(2, 3), 1, L.tensor([0, 2]), L.ones(2)),
    lambda L, x: L.index_add(L.tensor(1.), 0, L.tensor([0, 0]), L.ones(2)),
])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as te:
        call(torch, torch.arange(6.))
    with pytest.raises(Exception) as ee:
        call(ember, ember.arange(6.))
    assert type(ee.value) is type(te.value) and str(ee.value) == str(te.value)
