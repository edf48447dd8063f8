"""as_strided (a view of the storage), storage_offset, slice, resize_/resize_as_, hash_tensor and uint64, the
OpInfo harness's sparse and storage-offset crossings, against PyTorch."""
import numpy as np
import pytest

import ember
from conftest import needs_torch
from _parity import torch, Rnd, assert_parity, assert_same_outcome, gradcheck_op

rnd = Rnd(0)


# ---- as_strided -------------------------------------------------------------------------------------------------
GEOMS = [((2, 2), (1, 2), 0), ((3,), (2,), 1), ((2, 3), (3, 1), 2), ((4,), (0,), 1), ((2, 2), (0, 1), 3),
         ((0, 3), (1, 1), 0), ((), (), 5), ((3, 2), (1, 1), 0)]


@pytest.mark.parametrize('size,stride,offset', GEOMS)
def test_as_strided_values_and_grads(size, stride, offset):
    x = rnd(12, seed=0)
    assert_parity(lambda T, a: (a * 1).as_strided(size, stride, offset), x)
    assert_parity(lambda T, a: T.as_strided(a * 1, size, stride, offset), x)
    assert_parity(lambda T, a: T.as_strided(a * 1, size=size, stride=stride, storage_offset=offset), x)


@pytest.mark.parametrize('view', ['slice', 'transpose', 'step', 'expand', 'narrow2d'])
def test_as_strided_of_views_reads_the_storage(view):
    make = {'slice': lambda a: a[3:], 'transpose': lambda a: a.reshape(3, 4).t(),
            'step': lambda a: a[1::2], 'expand': lambda a: a[:3].expand(2, 3),
            'narrow2d': lambda a: a.reshape(3, 4)[1:, 1:3]}[view]

    def fn(T, a):
        v = make(a * 1)
        return v.as_strided((2, 2), (1, 3), 1), v.as_strided((2,), (2,)), v.storage_offset() * v.sum()
    assert_parity(fn, rnd(12, seed=0))


def test_as_strided_gradcheck_and_double_backward():
    gradcheck_op(lambda T, a: (a * 1)[2:].as_strided((2, 3), (1, 2), 2), rnd(10, seed=0))
    gradcheck_op(lambda T, a: a.expand(3, 4).as_strided((3, 2), (0, 1)), rnd(4, seed=0))
    assert ember.autograd.gradgradcheck(lambda a: (a * a).as_strided((2, 2), (2, 1), 1) ** 2,
                                        (ember.tensor(rnd(6, seed=0), requires_grad=True),))


def test_as_strided_is_a_view():
    for T in (ember,) + ((torch,) if torch is not None else ()):
        x = T.arange(12.)
        v = x[2:].as_strided((2, 3), (3, 1), 1)
        assert v.storage_offset() == 1 and v.stride() == (3, 1) and v._base is x
        v[0, 0] = 100.
        assert x[1].item() == 100.
        x[5] = -1.
        assert v[1, 1].item() == -1.
        x.as_strided((2,), (1,), 4).mul_(2)
        assert x[4].item() == 8. and x[5].item() == -2.


def test_as_strided_inplace_under_autograd():
    def fn(T, a):
        b = a * 1
        v = b.as_strided((2,), (2,), 1)
        v.mul_(10)
        return b * T.arange(6., dtype=b.dtype), v
    assert_parity(fn, rnd(6, seed=0))


def test_as_strided_shares_the_version_counter():
    a = ember.tensor(rnd(6, seed=0), requires_grad=True)
    b = a * 1
    v = b.as_strided((3,), (1,), 0)
    y = v * v
    b.add_(1)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        y.sum().backward()


@pytest.mark.parametrize('args', [((2,), (-1,)), ((20,), (1,)), ((2,), (1,), -1), ((2, 2), (1,)), ((-1,), (1,))])
def test_as_strided_errors(args):
    def msg(T):
        with pytest.raises(RuntimeError) as e:
            T.arange(12.).as_strided(*args)
        return str(e.value)
    assert_same_outcome(msg)


def test_as_strided_inplace_method():
    x = ember.arange(6.)
    assert x.as_strided_((2, 2), (1, 2), 1) is x
    assert x.tolist() == [[1., 3.], [2., 4.]] and x.storage_offset() == 1


@needs_torch
def test_storage_offset_matches_torch():
    exprs = ['x', 'x[3:]', 'x.view(3, 4)[1:, 2:]', 'x.view(3, 4).t()[1]', 'x[5:].view(7, 1)[2]', 'x[::3][1:]',
             'x.view(3, 4)[:, 1].unsqueeze(0)', 'x.view(3, 4).diagonal(1)', 'x[2:].clone()', 'x[4]',
             'x.view(2, 6).narrow(1, 2, 3)', 'x[3:].contiguous()', 'x.view(2, 6).select(1, 3)']
    for e in exprs:
        got = eval(e, {'x': ember.arange(12.)}).storage_offset()
        want = eval(e, {'x': torch.arange(12.)}).storage_offset()
        assert got == want, e


# ---- slice ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('kw', [dict(), dict(dim=1, start=1, end=-2), dict(dim=1, start=1, end=-2, step=3),
                                dict(dim=-1, start=-3), dict(dim=0, start=10, end=20), dict(dim=2, end=-100),
                                dict(dim=0, start=None, end=None, step=2)])
def test_slice_parity(kw):
    x = rnd(4, 5, 6, seed=0)

    def fn(T, a):
        f = T.slice if T is ember else torch.ops.aten.slice
        return f(a, **kw)
    if torch is None:
        pytest.skip('needs torch.ops.aten')
    assert_parity(fn, x)


def test_slice_is_a_view_and_not_a_global():
    x = ember.arange(10.)
    s = ember.slice(x, 0, 2, 8, 3)
    assert s.tolist() == [2., 5.] and s._base is x and s.storage_offset() == 2
    s[0] = -1.
    assert x[2].item() == -1.
    with pytest.raises(RuntimeError, match='slice step must be positive'):
        ember.slice(x, 0, 0, 5, 0)
    ns = {}
    exec('from ember import *', ns)
    assert ns.get('slice', slice) is slice  # `from ember import *` leaves the builtin alone


# ---- resize_ ----------------------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize('start,new', [((5, 5, 5), (25, 5)), ((), ()), ((), (1, 1, 1)), ((4, 3), (2, 2)),
                                       ((2, 3), (0,)), ((3,), (3,))])
def test_resize_matches_torch(start, new):
    x = rnd(*start, seed=0)
    t, e = torch.tensor(x), ember.tensor(x)
    rt, re_ = t.resize_(new), e.resize_(new)
    assert re_ is e and tuple(e.shape) == tuple(rt.shape) and e.stride() == rt.stride()
    np.testing.assert_array_equal(e.numpy(), rt.numpy())
    t2, e2 = torch.tensor(x), ember.tensor(x)
    assert tuple(e2.resize_as_(ember.zeros(new)).shape) == tuple(t2.resize_as_(torch.zeros(new)).shape)
    assert tuple(ember.resize_as_(ember.tensor(x), ember.zeros(new)).shape) == tuple(new)


def test_resize_storage_semantics():
    x = ember.arange(12.)
    v = x[2:]
    v.resize_(2, 3)  # fits in the storage: still shares it, from the same offset
    assert v.storage_offset() == 2 and v.tolist() == [[2., 3., 4.], [5., 6., 7.]]
    v[0, 0] = -5.
    assert x[2].item() == -5.
    y = ember.arange(4.)
    y.resize_(2, 3)  # grows: a new storage keeping the old elements first
    assert y.shape == (2, 3) and y.reshape(-1)[:4].tolist() == [0., 1., 2., 3.]
    with pytest.raises(RuntimeError, match='cannot resize variables that require grad'):
        ember.zeros(2, requires_grad=True).resize_(3)
    with pytest.raises(RuntimeError, match='negative dimension'):
        ember.zeros(2).resize_(-1)


# ---- hash_tensor, uint64 ----------------------------------------------------------------------------------------
HASH_CASES = ['T.hash_tensor(T.tensor([1., 2., 3.]))', 'T.hash_tensor(T.tensor([-1.5], dtype=T.float16))',
              'T.hash_tensor(T.tensor([-1], dtype=T.int8))', 'T.hash_tensor(T.tensor([255], dtype=T.uint8))',
              'T.hash_tensor(T.tensor([True, False, True]))', 'T.hash_tensor(T.zeros(0, 3), dim=1)',
              'T.hash_tensor(T.arange(24.).reshape(2, 3, 4), dim=(0, 2))',
              'T.hash_tensor(T.arange(24.).reshape(2, 3, 4), dim=(0, 2), keepdim=True)',
              'T.hash_tensor(T.arange(24.).reshape(2, 3, 4), -1)', 'T.hash_tensor(T.tensor(2.), dim=0, keepdim=True)',
              'T.tensor([float("nan"), -0.0]).hash_tensor()', 'T.arange(7).hash_tensor(0, keepdim=True)',
              'T.hash_tensor(T.ones(2, 3), dim=())', 'T.hash_tensor(T.arange(6, dtype=T.float64).t() if False else '
              'T.arange(6.).reshape(2, 3).t(), dim=0)', 'T.hash_tensor(T.arange(5., requires_grad=True))']


@needs_torch
@pytest.mark.parametrize('expr', HASH_CASES)
def test_hash_tensor_matches_torch(expr):
    got, want = eval(expr, {'T': ember}), eval(expr, {'T': torch})
    assert got.dtype.name == 'uint64' and not got.requires_grad
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert repr(got) == repr(want)


@pytest.mark.parametrize('expr', ['T.hash_tensor(T.tensor([1., 2.]), mode=1)', 'T.hash_tensor(T.zeros(0, 3), dim=0)',
                                  'T.hash_tensor(T.zeros(0, 3))', 'T.hash_tensor(T.zeros(0, 3), dim=())',
                                  'T.tensor([1], dtype=T.uint64) + T.tensor([1])'])
def test_hash_tensor_errors(expr):
    def msg(T):
        with pytest.raises((RuntimeError, IndexError)) as e:
            eval(expr, {'T': T})
        return type(e.value).__name__ + str(e.value)
    assert_same_outcome(msg)


@needs_torch
def test_wide_rows_put_the_dtype_on_its_own_line():
    for expr in ('T.hash_tensor(T.arange(24.).reshape(2, 3, 4), dim=(0, 2))',
                 'T.tensor([13.] * 6, dtype=T.float64, requires_grad=True) * 1',
                 'T.tensor([[10 ** 8] * 4] * 2, dtype=T.int32)', 'T.tensor([1003.] * 5, dtype=T.float64) * 1'):
        assert repr(eval(expr, {'T': ember})) == repr(eval(expr, {'T': torch})), expr


# ---- the OpInfo harness: sparse results and inputs viewing a larger storage -------------------------------------
@needs_torch
def test_harness_compares_sparse_results():
    import _opinfo
    x = np.array([[0., 1.5], [2., 0.]])
    t = torch.tensor(x).to_sparse()
    assert _opinfo.compare(t, ember.tensor(x).to_sparse(), (1e-6, 1e-7)) is None
    assert _opinfo.compare(t, ember.tensor(x).to_sparse(1), (1e-6, 1e-7)) is not None
    assert _opinfo.compare(t, ember.tensor(x * 2).to_sparse(), (1e-6, 1e-7)) is not None
    assert 'sparse_coo' in _opinfo.compare(t, ember.tensor(x), (1e-6, 1e-7))
    base = torch.arange(20.)
    e = _opinfo.to_ember(base[5:15], {})
    assert e.storage_offset() == 5 and e.as_strided((2,), (1,), 0).tolist() == [0., 1.]
