"""Products (matmul family, einsum) and order statistics (sort, topk, unique, ...): NumPy, gradcheck, parity, errors."""
import numpy as np
import pytest

import ember
from _parity import Rnd, assert_parity, assert_both_raise, gradcheck_op

rnd = Rnd(5)


# (name, fn(L, a, b), NumPy reference(a, b), shape a, shape b)
PRODUCTS = [
    ('matmul_1d_1d', lambda L, a, b: a @ b, np.matmul, (4,), (4,)),
    ('matmul_2d_1d', lambda L, a, b: a @ b, np.matmul, (3, 4), (4,)),
    ('matmul_1d_2d', lambda L, a, b: L.matmul(a, b), np.matmul, (4,), (4, 2)),
    ('matmul_2d_2d', lambda L, a, b: a @ b, np.matmul, (3, 4), (4, 2)),
    ('matmul_3d_2d', lambda L, a, b: a.matmul(b), np.matmul, (2, 3, 4), (4, 2)),
    ('matmul_2d_3d', lambda L, a, b: a @ b, np.matmul, (3, 4), (2, 4, 2)),
    ('matmul_bcast', lambda L, a, b: a @ b, np.matmul, (2, 1, 3, 4), (3, 4, 2)),
    ('matmul_3d_1d', lambda L, a, b: a @ b, np.matmul, (2, 3, 4), (4,)),
    ('matmul_1d_3d', lambda L, a, b: a @ b, np.matmul, (4,), (2, 4, 3)),
    ('mm', lambda L, a, b: L.mm(a, b), np.matmul, (3, 4), (4, 2)),
    ('mm_method', lambda L, a, b: a.mm(b), np.matmul, (1, 4), (4, 3)),
    ('bmm', lambda L, a, b: L.bmm(a, b), np.matmul, (2, 3, 4), (2, 4, 2)),
    ('mv', lambda L, a, b: L.mv(a, b), np.matmul, (3, 4), (4,)),
    ('dot', lambda L, a, b: L.dot(a, b), np.dot, (5,), (5,)),
    ('inner', lambda L, a, b: a.inner(b), np.inner, (5,), (5,)),
    ('inner_nd', lambda L, a, b: L.inner(a, b), np.inner, (2, 3, 4), (5, 4)),
    ('outer', lambda L, a, b: L.outer(a, b), np.outer, (3,), (4,)),
    ('ger', lambda L, a, b: a.ger(b), np.outer, (2,), (3,)),
    ('matmul_T', lambda L, a, b: a.T @ b.mT, lambda a, b: a.T @ b.swapaxes(-1, -2), (4, 3), (2, 4)),
    ('matmul_t', lambda L, a, b: a.t().mm(b), lambda a, b: a.T @ b, (4, 3), (4, 2)),
    ('rmatmul_chain', lambda L, a, b: (a @ b) @ b.t(), lambda a, b: a @ b @ b.T, (3, 4), (4, 4)),
    ('einsum_mm', lambda L, a, b: L.einsum('ij,jk->ik', a, b), lambda a, b: np.einsum('ij,jk->ik', a, b), (3, 4),
     (4, 2)),
    ('einsum_implicit', lambda L, a, b: L.einsum('ij,jk', a, b), lambda a, b: np.einsum('ij,jk', a, b), (3, 4), (4, 2)),
    ('einsum_implicit_sorted', lambda L, a, b: L.einsum('kj,ji', a, b), lambda a, b: np.einsum('kj,ji', a, b),
     (3, 4), (4, 2)),
    ('einsum_batch', lambda L, a, b: L.einsum('bij,bjk->bik', a, b), lambda a, b: np.einsum('bij,bjk->bik', a, b),
     (2, 3, 4), (2, 4, 2)),
    ('einsum_ellipsis', lambda L, a, b: L.einsum('...ij,...jk->...ik', a, b),
     lambda a, b: np.einsum('...ij,...jk->...ik', a, b), (2, 3, 4), (4, 2)),
    ('einsum_ellipsis_implicit', lambda L, a, b: L.einsum('...j,jk', a, b), lambda a, b: np.einsum('...j,jk', a, b),
     (2, 3, 4), (4, 2)),
    ('einsum_outer', lambda L, a, b: L.einsum('i,j->ij', a, b), np.outer, (3,), (4,)),
    ('einsum_dot', lambda L, a, b: L.einsum('i,i->', a, b), np.dot, (4,), (4,)),
    ('einsum_sum_out', lambda L, a, b: L.einsum('ij,kj->k', a, b), lambda a, b: np.einsum('ij,kj->k', a, b), (3, 4),
     (2, 4)),
    ('einsum_list', lambda L, a, b: L.einsum('ij,jk->ki', [a, b]), lambda a, b: np.einsum('ij,jk->ki', a, b), (3, 4),
     (4, 2)),
    ('einsum_spaces', lambda L, a, b: L.einsum('i j , j k -> i k', a, b), np.matmul, (3, 4), (4, 2)),
    ('einsum_bilinear', lambda L, a, b: L.einsum('bi,ij,bj->b', a, b, a),
     lambda a, b: np.einsum('bi,ij,bj->b', a, b, a), (2, 3), (3, 3)),
]
PRODUCT_IDS = [p[0] for p in PRODUCTS]


@pytest.mark.parametrize('name,fn,ref,sa,sb', PRODUCTS, ids=PRODUCT_IDS)
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_products_match_numpy(name, fn, ref, sa, sb, dtype):
    a, b = rnd(*sa).astype(dtype), rnd(*sb).astype(dtype)
    out = fn(ember, ember.tensor(a), ember.tensor(b))
    expect = np.asarray(ref(a, b))
    assert tuple(out.shape) == expect.shape and out.dtype == ember.tensor(a).dtype
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize('name,fn,ref,sa,sb', PRODUCTS, ids=PRODUCT_IDS)
def test_products_gradcheck(name, fn, ref, sa, sb):
    gradcheck_op(fn, rnd(*sa), rnd(*sb))


@pytest.mark.parametrize('name,fn,ref,sa,sb', PRODUCTS, ids=PRODUCT_IDS)
def test_products_parity(name, fn, ref, sa, sb):
    assert_parity(fn, rnd(*sa), rnd(*sb), rtol=1e-10, atol=1e-12)


def test_einsum_single_operand_forms():
    a = rnd(3, 4)
    for eq, ref in [('ij->ji', a.T), ('ij->', a.sum()), ('ij->j', a.sum(0)), ('ij', a), ('ji', a.T), ('...->...', a)]:
        out = ember.einsum(eq, ember.tensor(a))
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
        assert_parity(lambda L, x: L.einsum(eq, x), a, grad=False, rtol=1e-12, atol=0)
    gradcheck_op(lambda L, x: L.einsum('ij->j', x), a)
    gradcheck_op(lambda L, x: L.einsum('ij->ji', x), a)


def test_addmm():
    b, m1, m2 = rnd(2), rnd(3, 4), rnd(4, 2)
    out = ember.addmm(ember.tensor(b), ember.tensor(m1), ember.tensor(m2), beta=0.5, alpha=2)
    np.testing.assert_allclose(out.numpy(), 0.5 * b + 2 * m1 @ m2, rtol=1e-12)
    gradcheck_op(lambda L, x, y, z: L.addmm(x, y, z, beta=0.5, alpha=2), b, m1, m2)


def test_matmul_double_backward():
    a = ember.tensor(rnd(2, 3), requires_grad=True)
    b = ember.tensor(rnd(3, 2), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda x, y: (x @ y).tanh(), (a, b))


# ---- product errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn,msg', [
    (lambda L: L.ones(64, 1000) @ L.ones(784, 100),
     r'mat1 and mat2 shapes cannot be multiplied \(64x1000 and 784x100\)'),
    (lambda L: L.mm(L.ones(64, 1000), L.ones(784, 100)), r'mat1 and mat2 shapes cannot be multiplied \(64x1000 and '
                                                         r'784x100\)'),
    (lambda L: L.ones(3) @ L.ones(4, 2), r'mat1 and mat2 shapes cannot be multiplied \(1x3 and 4x2\)'),
    (lambda L: L.ones(2, 3) @ L.ones(3, 2, dtype=L.float64), 'expected m1 and m2 to have the same dtype'),
    (lambda L: L.ones(2, 3).mm(L.ones(3, 2, dtype=L.float64)), 'expected m1 and m2 to have the same dtype'),
    (lambda L: L.ones(2, 2, 3) @ L.ones(3, 3, 2), r'size of tensor a \(2\) must match the size of tensor b \(3\)'),
    (lambda L: L.ones(3) @ L.ones(4), 'inconsistent tensor size'),
    (lambda L: L.dot(L.ones(2), L.ones(3)), 'inconsistent tensor size, expected tensor \\[2\\] and src \\[3\\]'),
    (lambda L: L.ones(2, 3) @ L.ones(4), 'size mismatch, got input \\(2'),
    (lambda L: L.bmm(L.ones(2, 3), L.ones(2, 3)), 'batch1 must be a 3D tensor'),
    (lambda L: L.bmm(L.ones(2, 3, 4), L.ones(3, 4, 2)), 'Expected size for first two dimensions of batch2 tensor'),
    (lambda L: L.mm(L.ones(2, 3, 4), L.ones(4, 2)), 'self must be a matrix'),
    (lambda L: L.mv(L.ones(2, 3), L.ones(2)), 'size mismatch'),
    (lambda L: L.matmul(L.ones(()), L.ones(3)), 'both arguments to matmul need to be at least 1D'),
    (lambda L: L.einsum('ij,jk->ik', L.ones(2, 3), L.ones(4, 5)),
     'einsum\\(\\): subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3'),
    (lambda L: L.einsum('ij,jk->ik', L.ones(2, 3)), 'einsum\\(\\): .*operands'),
    (lambda L: L.einsum('ijk->i', L.ones(2, 3)), 'einsum\\(\\): the number of subscripts in the equation \\(3\\) does '
                                                 'not match the number of dimensions \\(2\\)'),
], ids=['mm_at', 'mm', '1d_2d', 'dtype_matmul', 'dtype_mm', 'batch', '1d_1d', 'dot', '2d_1d', 'bmm_3d', 'bmm_sizes',
        'mm_2d', 'mv', 'matmul_0d', 'einsum_sizes', 'einsum_count', 'einsum_dims'])
def test_product_errors(fn, msg):
    assert_both_raise(fn, RuntimeError, match=msg, torch_match='')


def test_matmul_refuses_non_tensors():
    with pytest.raises(TypeError, match='must be Tensor'):
        ember.ones(2, 2) @ np.ones((2, 2))


# ---- sort / argsort / topk / kthvalue / median ------------------------------------------------------------------
SORTS = [
    ('sort', lambda L, x: L.sort(x), lambda a: (np.sort(a, -1), np.argsort(a, -1, kind='stable'))),
    ('sort_dim0', lambda L, x: x.sort(0), lambda a: (np.sort(a, 0), np.argsort(a, 0, kind='stable'))),
    ('sort_desc', lambda L, x: x.sort(dim=1, descending=True),
     lambda a: (-np.sort(-a, 1), np.argsort(-a, 1, kind='stable'))),
    ('sort_stable', lambda L, x: L.sort(x, stable=True, dim=-1), lambda a: (np.sort(a), np.argsort(a, kind='stable'))),
    ('argsort', lambda L, x: x.argsort(), lambda a: np.argsort(a, -1, kind='stable')),
    ('argsort_desc', lambda L, x: L.argsort(x, 0, descending=True), lambda a: np.argsort(-a, 0, kind='stable')),
    ('topk', lambda L, x: x.topk(2), lambda a: (-np.sort(-a)[:, :2], np.argsort(-a, kind='stable')[:, :2])),
    ('topk_small', lambda L, x: L.topk(x, 2, dim=0, largest=False),
     lambda a: (np.sort(a, 0)[:2], np.argsort(a, 0, kind='stable')[:2])),
    ('kthvalue', lambda L, x: x.kthvalue(2), lambda a: (np.sort(a)[:, 1], np.argsort(a, kind='stable')[:, 1])),
    ('kthvalue_keep', lambda L, x: L.kthvalue(x, 3, 0, keepdim=True),
     lambda a: (np.sort(a, 0)[2:3], np.argsort(a, 0, kind='stable')[2:3])),
    ('median', lambda L, x: x.median(), lambda a: np.sort(a.reshape(-1))[(a.size - 1) // 2]),
    ('median_dim', lambda L, x: x.median(1), lambda a: (np.sort(a, 1)[:, 1], np.argsort(a, 1, kind='stable')[:, 1])),
]


@pytest.mark.parametrize('name,fn,ref', SORTS, ids=[s[0] for s in SORTS])
def test_sorting_values_match_numpy(name, fn, ref):
    a = rnd(4, 4)
    out = fn(ember, ember.tensor(a))
    outs = list(out) if isinstance(out, tuple) else [out]
    expects = list(ref(a)) if isinstance(ref(a), tuple) else [ref(a)]
    for o, e in zip(outs, expects):
        np.testing.assert_array_equal(o.numpy(), e)
    if isinstance(out, tuple):
        assert out.indices.dtype == ember.int64 and out.values.dtype == ember.float64


@pytest.mark.parametrize('name,fn,ref', [s for s in SORTS if not s[0].startswith('argsort')],
                         ids=[s[0] for s in SORTS if not s[0].startswith('argsort')])
def test_sorting_gradcheck(name, fn, ref):
    gradcheck_op(fn, rnd(3, 4))


@pytest.mark.parametrize('name,fn,ref', SORTS, ids=[s[0] for s in SORTS])
def test_sorting_parity(name, fn, ref):
    assert_parity(fn, rnd(4, 5) if 'median' not in name else rnd(3, 5))


@pytest.mark.parametrize('fn', [
    lambda L, x: x.sort(stable=True), lambda L, x: x.sort(descending=True, stable=True),
    lambda L, x: x.argsort(stable=True), lambda L, x: x.sort(dim=0, stable=True),
    lambda L, x: x.argsort(dim=0, descending=True, stable=True),
])
def test_stable_sort_with_ties_matches_torch(fn):
    assert_parity(fn, np.array([[2.0, 1.0, 2.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0, 0.0]]), grad=False)


@pytest.mark.parametrize('fn', [
    lambda L: L.tensor([3, 1, 2]).sort(), lambda L: L.tensor([True, False, True]).sort(),
    lambda L: L.tensor([True, False, True]).sort(descending=True, stable=True),
    lambda L: L.tensor([1.0, float('nan'), -1.0]).sort(), lambda L: L.tensor([1.0, float('nan'), -1.0]).topk(2),
    lambda L: L.tensor([5, 1, 4], dtype=L.int32).topk(1), lambda L: L.tensor(2.0).sort(),
    lambda L: L.tensor([[1.0, 4.0], [3.0, 2.0]]).median(0), lambda L: L.tensor([1.0, 2.0, 3.0, 4.0]).median(),
])
def test_sorting_special_inputs(fn):
    assert_parity(lambda L: fn(L), grad=False)


def test_sorting_errors():
    with pytest.raises(RuntimeError, match='selected index k out of range'):
        ember.ones(2, 3).topk(5)
    with pytest.raises(RuntimeError, match='kthvalue\\(\\): selected number k out of range for dimension 1'):
        ember.ones(2, 3).kthvalue(5)
    with pytest.raises(IndexError, match='Dimension out of range'):
        ember.ones(2, 3).sort(2)


# ---- unique / bincount / histc ---------------------------------------------------------------------------------
@pytest.mark.parametrize('kw', [{}, {'return_inverse': True}, {'return_counts': True},
                                {'return_inverse': True, 'return_counts': True}, {'sorted': True}])
def test_unique(kw):
    a = np.array([[3, 1, 2], [1, 3, 3]])
    out = ember.unique(ember.tensor(a), **kw)
    vals, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    outs = out if isinstance(out, tuple) else (out,)
    np.testing.assert_array_equal(outs[0].numpy(), vals)
    if kw.get('return_inverse'):
        np.testing.assert_array_equal(outs[1].numpy(), inv.reshape(a.shape))
    if kw.get('return_counts'):
        np.testing.assert_array_equal(outs[-1].numpy(), counts)
    assert_parity(lambda L, x: L.unique(x, **kw), a, grad=False, rtol=0, atol=0)


def test_unique_method_and_float():
    x = ember.tensor([2.5, -1.0, 2.5])
    assert x.unique().tolist() == [-1.0, 2.5] and x.unique().dtype == ember.float32


@pytest.mark.parametrize('fn', [
    lambda L: L.bincount(L.tensor([1, 1, 3, 0])), lambda L: L.tensor([1, 1, 3]).bincount(minlength=6),
    lambda L: L.bincount(L.tensor([0, 2, 2]), weights=L.tensor([0.5, 1.0, 2.0])),
    lambda L: L.bincount(L.tensor([0, 2, 2]), weights=L.tensor([0.5, 1.0, 2.0], dtype=L.float64)),
    lambda L: L.bincount(L.tensor([], dtype=L.int64)), lambda L: L.bincount(L.tensor([1], dtype=L.uint8)),
    lambda L: L.histc(L.tensor([1.0, 2.0, 1.0, 4.0]), bins=4, min=0, max=4),
    lambda L: L.tensor([1.0, 2.0, 1.0, 4.0]).histc(bins=3),
    lambda L: L.histc(L.tensor([1.0, 2.0, 9.0, -1.0], dtype=L.float64), bins=5, min=0, max=5),
    lambda L: L.histc(L.tensor([2.0, 2.0]), bins=4), lambda L: L.histc(L.tensor([0.0, 1.0, 0.5, 0.25]), bins=2),
])
def test_bincount_histc(fn):
    assert_parity(lambda L: fn(L), grad=False, rtol=1e-7, atol=0)


def test_bincount_histc_values():
    assert ember.bincount(ember.tensor([1, 1, 3])).tolist() == [0, 2, 0, 1]
    assert ember.histc(ember.tensor([0.0, 0.5, 1.0, 2.0]), bins=2, min=0, max=2).tolist() == [2.0, 2.0]


def test_bincount_errors():
    with pytest.raises(RuntimeError, match='bincount only supports 1-d non-negative integral inputs'):
        ember.bincount(ember.tensor([-1, 2]))
    with pytest.raises(RuntimeError, match='bincount only supports 1-d non-negative integral inputs'):
        ember.bincount(ember.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match='bincount only supports 1-d non-negative integral inputs'):
        ember.bincount(ember.tensor([1.0]))


@pytest.mark.parametrize('dim', [0, 1, -1])
def test_unique_along_dim(dim):
    a = np.array([[1, 2, 1], [1, 2, 1], [0, 5, 0]])
    vals, inv, counts = ember.unique(ember.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    ev, ei, ec = np.unique(a, axis=dim % 2, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(vals.numpy(), ev)
    np.testing.assert_array_equal(inv.numpy(), ei.reshape(-1))
    np.testing.assert_array_equal(counts.numpy(), ec)
    assert_parity(lambda L, x: L.unique(x, dim=dim, return_inverse=True, return_counts=True), a, grad=False, rtol=0,
                  atol=0)


@pytest.mark.parametrize('eq,shapes', [('ii->', [(3, 3)]), ('ii->i', [(3, 3)]), ('ii', [(3, 3)]), ('iij->j', [(3, 3, 2)]),
                                       ('ii,ij->j', [(3, 3), (3, 2)]), ('bii->bi', [(2, 3, 3)])])
def test_einsum_repeated_subscripts(eq, shapes):
    arrays = [rnd(*s) for s in shapes]
    out = ember.einsum(eq, *[ember.tensor(a) for a in arrays])
    np.testing.assert_allclose(out.numpy(), np.einsum(eq, *arrays), rtol=1e-12)
    gradcheck_op(lambda L, *ts: L.einsum(eq, *ts), *arrays)
    assert_parity(lambda L, *ts: L.einsum(eq, *ts), *arrays)
