"""div with rounding_mode (values, zero gradients, in place) and flip's dims keyword: parity with PyTorch, errors."""
import numpy as np
import pytest

import ember
from conftest import assert_parity, gradcheck_op

rng = np.random.default_rng(3)
A, B = rng.standard_normal((3, 4)) * 4, rng.standard_normal((4,)) + 0.1

CASES = [
    ('floor', lambda L, a, b: L.div(a, b, rounding_mode='floor'), A, B),
    ('trunc', lambda L, a, b: L.div(a, b, rounding_mode='trunc'), A, B),
    ('floor_scalar', lambda L, a: L.div(a, 1.5, rounding_mode='floor'), A),
    ('trunc_rscalar', lambda L, a: L.div(5, a, rounding_mode='trunc'), B),
    ('floor_method', lambda L, a, b: a.div(b, rounding_mode='floor'), A, B),
    ('floor_0d', lambda L, a, b: L.div(a, b, rounding_mode='floor'), np.array(-3.5), np.array(2.)),
    ('trunc_empty', lambda L, a, b: L.div(a, b, rounding_mode='trunc'), np.zeros((0, 4)), B),
    ('floor_int', lambda L, a: L.div(a, 3, rounding_mode='floor'), np.array([7, -7, 6], dtype=np.int64)),
    ('trunc_int', lambda L, a, b: L.div(a, b, rounding_mode='trunc'), np.array([7, -7, 6]), np.array([2, 2, -4])),
    ('trunc_int32_scalar', lambda L, a: L.div(a, 2, rounding_mode='trunc'), np.array([-5, 5], dtype=np.int32)),
    ('floor_int_by_float', lambda L, a: L.div(a, 2.5, rounding_mode='floor'), np.array([7, -7])),
    ('floor_by_zero', lambda L, a, b: L.div(a, b, rounding_mode='floor'), np.array([1., -1., 0.]), np.zeros(3)),
    ('trunc_mixed', lambda L, a, b: L.div(a, b, rounding_mode='trunc'), A.astype(np.float32), B),
    ('fmod', lambda L, a, b: L.fmod(a, b), A, B),
    ('flip_kw', lambda L, a: L.flip(a, dims=(0,)), A),
    ('flip_method_kw', lambda L, a: a.flip(dims=[1, 0]), A),
    ('flip_varargs', lambda L, a: a.flip(0, -1), A),
    ('flip_none', lambda L, a: L.flip(a, []), A),
    ('flip_0d', lambda L, a: L.flip(a, (0,)), np.array(2.)),
    ('flip_input_kw', lambda L, a: L.flip(input=a, dims=(-1,)), A),
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_parity_cases(case):
    assert_parity(case[1], *case[2:])


def test_rounding_grad_fn_and_gradcheck():
    a = ember.tensor([1.5, -2.5], requires_grad=True)
    assert ember.div(a, 2, rounding_mode='floor').grad_fn.name() == 'DivBackward2'
    gradcheck_op(lambda L, a, b: L.div(a, b, rounding_mode='trunc'), A, B)
    gradcheck_op(lambda L, a, b: L.div(a, b, rounding_mode='floor'), A, B)
    g, = ember.autograd.grad(ember.div(a, 2, rounding_mode='floor').sum(), a, create_graph=True)
    assert g.tolist() == [0., 0.]
    with pytest.raises(RuntimeError, match='derivative for aten::floor_divide is not implemented'):
        ember.floor_divide(a, 2).sum().backward()


def test_rounding_inplace():
    a = ember.tensor([3., -3.], requires_grad=True)
    b = a * 1
    b.div_(2, rounding_mode='floor')
    assert b.tolist() == [1., -2.] and b.grad_fn.name() == 'DivBackward2'
    b.sum().backward()
    assert a.grad.tolist() == [0., 0.]
    c = ember.tensor([7, -7])
    c.div_(2, rounding_mode='trunc')
    assert c.tolist() == [3, -3] and c.dtype is ember.int64
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.tensor([7, -7]).div_(2.5, rounding_mode='floor')


def test_errors():
    t = ember.tensor
    with pytest.raises(NotImplementedError, match='"div_trunc_cpu" not implemented for \'Bool\''):
        ember.div(t([True]), t([True]), rounding_mode='trunc')
    with pytest.raises(NotImplementedError, match='"div_floor_cpu" not implemented for \'Bool\''):
        ember.div(t([True]), t([True]), rounding_mode='floor')
    with pytest.raises(RuntimeError, match='ZeroDivisionError'):
        ember.div(t([5]), 0, rounding_mode='trunc')
    with pytest.raises(RuntimeError, match="expected rounding_mode to be one of None, 'trunc', or 'floor'"):
        ember.div(t([1.]), 2, rounding_mode='round')
    x = ember.zeros(2, 3)
    with pytest.raises(RuntimeError, match='dim 0 appears multiple times'):
        ember.flip(x, (0, 0))
    with pytest.raises(IndexError, match='Dimension out of range'):
        ember.flip(x, (2,))
    with pytest.raises(TypeError, match='missing 1 required positional'):
        x.flip()
    with pytest.raises(RuntimeError, match='Input must be >= 2-d'):
        ember.fliplr(ember.zeros(3))
    with pytest.raises(RuntimeError, match='Input must be >= 1-d'):
        ember.flipud(ember.tensor(1.))
