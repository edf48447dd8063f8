"""Elementwise ops: values against NumPy, float64 gradchecks with broadcasting, PyTorch parity, promotion, errors."""
import math

import numpy as np
import pytest

import ember
from _parity import (torch, Rnd, assert_parity, assert_same_outcome, assert_both_raise, gradcheck_op,
                     outcome)

rnd = Rnd(1234)  # kinds keep the data away from the ops' non-differentiable points and off their domains' edges


# ---- unary: (name, ember/torch fn, NumPy reference, input domain, differentiable) ------------------------------
UNARY = [
    ('neg', lambda L, x: -x, np.negative, 'any', True),
    ('neg_fn', lambda L, x: L.neg(x), np.negative, 'any', True),
    ('abs', lambda L, x: x.abs(), np.abs, 'away', True),
    ('abs_op', lambda L, x: abs(x), np.abs, 'away', True),
    ('exp', lambda L, x: L.exp(x), np.exp, 'any', True),
    ('log', lambda L, x: L.log(x), np.log, 'pos', True),
    ('log1p', lambda L, x: x.log1p(), np.log1p, 'pos', True),
    ('expm1', lambda L, x: x.expm1(), np.expm1, 'any', True),
    ('log2', lambda L, x: x.log2(), np.log2, 'pos', True),
    ('log10', lambda L, x: x.log10(), np.log10, 'pos', True),
    ('sqrt', lambda L, x: L.sqrt(x), np.sqrt, 'pos', True),
    ('rsqrt', lambda L, x: L.rsqrt(x), lambda a: 1 / np.sqrt(a), 'pos', True),
    ('reciprocal', lambda L, x: x.reciprocal(), np.reciprocal, 'pos', True),
    ('square', lambda L, x: x.square(), np.square, 'any', True),
    ('sin', lambda L, x: L.sin(x), np.sin, 'any', True),
    ('cos', lambda L, x: L.cos(x), np.cos, 'any', True),
    ('tan', lambda L, x: L.tan(x), np.tan, 'unit', True),
    ('atan', lambda L, x: L.atan(x), np.arctan, 'any', True),
    ('tanh', lambda L, x: L.tanh(x), np.tanh, 'any', True),
    ('sigmoid', lambda L, x: L.sigmoid(x), lambda a: 1 / (1 + np.exp(-a)), 'any', True),
    ('relu', lambda L, x: L.relu(x), lambda a: np.maximum(a, 0), 'away', True),
    ('sign', lambda L, x: L.sign(x), np.sign, 'away', True),
    ('floor', lambda L, x: L.floor(x), np.floor, 'away', True),
    ('ceil', lambda L, x: L.ceil(x), np.ceil, 'away', True),
    ('round', lambda L, x: L.round(x), np.round, 'away', True),
    ('round_dec', lambda L, x: L.round(x, decimals=1), lambda a: np.round(a, 1), 'away', True),
    ('trunc', lambda L, x: L.trunc(x), np.trunc, 'away', True),
    ('frac', lambda L, x: L.frac(x), lambda a: a - np.trunc(a), 'away', True),
    ('clamp_min', lambda L, x: L.clamp(x, min=-0.5), lambda a: np.maximum(a, -0.5), 'away', True),
    ('clamp_max', lambda L, x: x.clamp(max=0.5), lambda a: np.minimum(a, 0.5), 'away', True),
    ('clamp_both', lambda L, x: x.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), 'away', True),
    ('clip', lambda L, x: L.clip(x, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), 'away', True),
    ('pow2', lambda L, x: x ** 2, lambda a: a ** 2, 'any', True),
    ('pow3', lambda L, x: x.pow(3), lambda a: a ** 3, 'any', True),
    ('pow0', lambda L, x: x ** 0, lambda a: a ** 0, 'any', True),
    ('pow_half', lambda L, x: x ** 0.5, np.sqrt, 'pos', True),
    ('pow_neg', lambda L, x: L.pow(x, -1.5), lambda a: a ** -1.5, 'pos', True),
    ('rpow_int', lambda L, x: 2 ** x, lambda a: 2.0 ** a, 'any', True),
    ('rpow_float', lambda L, x: 2.5 ** x, lambda a: 2.5 ** a, 'any', True),
    ('radd', lambda L, x: 2 + x, lambda a: 2 + a, 'any', True),
    ('rsub', lambda L, x: 2 - x, lambda a: 2 - a, 'any', True),
    ('rmul', lambda L, x: 2 * x, lambda a: 2 * a, 'any', True),
    ('rdiv', lambda L, x: 2 / x, lambda a: 2 / a, 'pos', True),
    ('add_scalar', lambda L, x: x + 1.5, lambda a: a + 1.5, 'any', True),
    ('sub_scalar', lambda L, x: x - 1.5, lambda a: a - 1.5, 'any', True),
    ('mul_scalar', lambda L, x: x * -3, lambda a: a * -3, 'any', True),
    ('div_scalar', lambda L, x: x / 4, lambda a: a / 4, 'any', True),
    ('mod_scalar', lambda L, x: x % 0.7, lambda a: np.mod(a, 0.7), 'any', True),
    ('rmod', lambda L, x: 2 % x, lambda a: np.mod(2, a), 'pos', False),
    ('floordiv_scalar', lambda L, x: x // 0.7, lambda a: np.floor_divide(a, 0.7), 'any', False),
    ('rfloordiv', lambda L, x: 2 // x, lambda a: np.floor_divide(2, a), 'pos', False),
]
UNARY_IDS = [u[0] for u in UNARY]
SHAPES = [(), (5,), (2, 3), (2, 1, 3)]


@pytest.mark.parametrize('name,fn,ref,kind,diff', UNARY, ids=UNARY_IDS)
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_unary_values_match_numpy(name, fn, ref, kind, diff, dtype):
    x = rnd(3, 4, kind=kind, dtype=dtype)
    out = fn(ember, ember.tensor(x))
    assert out.dtype == ember.tensor(x).dtype
    np.testing.assert_allclose(out.numpy(), ref(x).astype(dtype), rtol=2e-6 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize('name,fn,ref,kind,diff', [u for u in UNARY if u[4]], ids=[u[0] for u in UNARY if u[4]])
@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_unary_gradcheck(name, fn, ref, kind, diff, shape):
    gradcheck_op(fn, rnd(*shape, kind=kind))


@pytest.mark.parametrize('name,fn,ref,kind,diff', UNARY, ids=UNARY_IDS)
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_unary_parity(name, fn, ref, kind, diff, dtype):
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else {}
    assert_parity(fn, rnd(2, 3, kind=kind, dtype=dtype), grad=diff, **tol)


# ---- binary: broadcasting pairs, tensor-tensor --------------------------------------------------------------
BINARY = [
    ('add', lambda L, a, b: a + b, np.add, 'any', 'any'),
    ('add_fn_alpha', lambda L, a, b: L.add(a, b, alpha=2), lambda a, b: a + 2 * b, 'any', 'any'),
    ('sub', lambda L, a, b: a - b, np.subtract, 'any', 'any'),
    ('sub_alpha', lambda L, a, b: a.sub(b, alpha=0.5), lambda a, b: a - 0.5 * b, 'any', 'any'),
    ('mul', lambda L, a, b: a * b, np.multiply, 'any', 'any'),
    ('div', lambda L, a, b: a / b, np.divide, 'any', 'pos'),
    ('div_fn', lambda L, a, b: L.div(a, b), np.divide, 'any', 'pos'),
    ('pow', lambda L, a, b: a ** b, np.power, 'pos', 'any'),
    ('pow_fn', lambda L, a, b: L.pow(a, b), np.power, 'pos', 'any'),
    ('maximum', lambda L, a, b: L.maximum(a, b), np.maximum, 'any', 'any'),
    ('minimum', lambda L, a, b: L.minimum(a, b), np.minimum, 'any', 'any'),
    ('max_binary', lambda L, a, b: L.max(a, b), np.maximum, 'any', 'any'),
    ('min_binary', lambda L, a, b: a.min(b), np.minimum, 'any', 'any'),
    ('remainder', lambda L, a, b: a % b, np.mod, 'away', 'pos'),
    ('clamp_tensor', lambda L, a, b: L.clamp(a, min=b), np.maximum, 'any', 'any'),
    ('clamp_tensor_max', lambda L, a, b: a.clamp(max=b), np.minimum, 'any', 'any'),
    ('clamp_tensor_both', lambda L, a, b: L.clamp(a, b - 0.5, b + 0.5), lambda a, b: np.clip(a, b - 0.5, b + 0.5),
     'any', 'any'),
    ('fmod', lambda L, a, b: L.fmod(a, b), np.fmod, 'away', 'pos'),
    ('where', lambda L, a, b: L.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b), 'any', 'any'),
    ('where_method', lambda L, a, b: a.where(b < 0, b), lambda a, b: np.where(b < 0, a, b), 'any', 'any'),
]
BINARY_IDS = [b[0] for b in BINARY]
PAIRS = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1)), ((4,), ())]


@pytest.mark.parametrize('name,fn,ref,ka,kb', BINARY, ids=BINARY_IDS)
@pytest.mark.parametrize('sa,sb', PAIRS, ids=str)
def test_binary_values_match_numpy(name, fn, ref, ka, kb, sa, sb):
    a, b = rnd(*sa, kind=ka), rnd(*sb, kind=kb)
    out = fn(ember, ember.tensor(a), ember.tensor(b))
    expect = ref(a, b)
    assert tuple(out.shape) == np.shape(expect)
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('name,fn,ref,ka,kb', BINARY, ids=BINARY_IDS)
@pytest.mark.parametrize('sa,sb', PAIRS[:5], ids=str)
def test_binary_gradcheck(name, fn, ref, ka, kb, sa, sb):
    gradcheck_op(fn, rnd(*sa, kind=ka), rnd(*sb, kind=kb))


@pytest.mark.parametrize('name,fn,ref,ka,kb', BINARY, ids=BINARY_IDS)
@pytest.mark.parametrize('sa,sb', [PAIRS[1], PAIRS[2], PAIRS[5]], ids=str)
def test_binary_parity(name, fn, ref, ka, kb, sa, sb):
    assert_parity(fn, rnd(*sa, kind=ka), rnd(*sb, kind=kb))


@pytest.mark.parametrize('fn', [
    lambda L, a, b: a // b, lambda L, a, b: L.floor_divide(a, b), lambda L, a, b: L.div(a, b, rounding_mode='floor'),
    lambda L, a, b: L.div(a, b, rounding_mode='trunc'), lambda L, a, b: a.fmod(b), lambda L, a, b: L.fmod(a, b),
    lambda L, a, b: L.remainder(a, b)], ids=['floordiv', 'floor_divide', 'div_floor', 'div_trunc', 'fmod_method',
                                           'fmod', 'remainder'])
@pytest.mark.parametrize('dtype', [np.float64, np.int64])
def test_rounding_divisions_match_torch(fn, dtype):
    a = np.array([[7, -7, 5, -5, 0, 3]], dtype=dtype) * (1.5 if dtype == np.float64 else 1)
    b = np.array([[2], [-3]], dtype=dtype)
    assert_parity(fn, a.astype(dtype), b, grad=False)


@pytest.mark.parametrize('op', ['//', '%'])
def test_integer_division_by_zero_raises(op):
    a = ember.tensor([1, 2])
    with pytest.raises(RuntimeError, match='ZeroDivisionError'):
        eval(f'a {op} 0')
    with pytest.raises(RuntimeError, match='ZeroDivisionError'):
        eval(f'a {op} ember.tensor([1, 0])')


def test_float_division_by_zero_is_ieee():
    x = ember.tensor([1.0, -1.0, 0.0])
    out = x / 0
    assert out[0].item() == math.inf and out[1].item() == -math.inf and math.isnan(out[2].item())
    assert ember.isnan(x % 0).all()


# ---- in-place forms ---------------------------------------------------------------------------------------------
INPLACE = [
    ('iadd', lambda x, y: x.__iadd__(y), np.add), ('isub', lambda x, y: x.__isub__(y), np.subtract),
    ('imul', lambda x, y: x.__imul__(y), np.multiply), ('itruediv', lambda x, y: x.__itruediv__(y), np.divide),
    ('add_', lambda x, y: x.add_(y), np.add), ('sub_', lambda x, y: x.sub_(y), np.subtract),
    ('mul_', lambda x, y: x.mul_(y), np.multiply), ('div_', lambda x, y: x.div_(y), np.divide),
    ('pow_', lambda x, y: x.abs_().pow_(y), lambda a, b: np.abs(a) ** b),
    ('ipow', lambda x, y: x.abs_().__ipow__(y), lambda a, b: np.abs(a) ** b),
    ('clamp_', lambda x, y: x.clamp_(-0.3, 0.3).add_(y), lambda a, b: np.clip(a, -0.3, 0.3) + b),
    ('relu_mul_', lambda x, y: x.relu_().mul_(y), lambda a, b: np.maximum(a, 0) * b),
    ('exp_div_', lambda x, y: x.exp_().div_(y), lambda a, b: np.exp(a) / b),
    ('masked_fill_', lambda x, y: x.masked_fill_(x > 0, 0.5).sub_(y), lambda a, b: np.where(a > 0, 0.5, a) - b),
    ('self_mul_', lambda x, y: x.mul_(x).add_(y), lambda a, b: a * a + b),
]


@pytest.mark.parametrize('name,fn,ref', INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_values(name, fn, ref):
    a, b = rnd(2, 3), rnd(3, kind='pos')
    x = ember.tensor(a.copy())
    ptr = x.data_ptr()
    r = fn(x, ember.tensor(b))
    assert r is x and x.data_ptr() == ptr  # really in place
    np.testing.assert_allclose(x.numpy(), ref(a, b), rtol=1e-12)


@pytest.mark.parametrize('name,fn,ref', INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_gradcheck(name, fn, ref):
    # in-place on a non-leaf inside a graph: gradients flow to both operands
    gradcheck_op(lambda L, a, b: fn(a * 1, b), rnd(2, 3, kind='away'), rnd(3, kind='pos'))


# PyTorch refuses these (an op saved the value the next in-place op overwrites); ember computes from a copy
TORCH_REFUSES = ('relu_mul_', 'exp_div_', 'self_mul_')


@pytest.mark.parametrize('name,fn,ref', [i for i in INPLACE if i[0] not in TORCH_REFUSES],
                         ids=[i[0] for i in INPLACE if i[0] not in TORCH_REFUSES])
def test_inplace_parity(name, fn, ref):
    assert_parity(lambda L, a, b: fn(a * 1, b), rnd(2, 3, kind='away'), rnd(3, kind='pos'))


@pytest.mark.parametrize('name,fn', [('iadd_scalar', lambda x: x.__iadd__(2)), ('imul_scalar', lambda x: x.__imul__(3)),
                                     ('ifloordiv', lambda x: x.__ifloordiv__(2)), ('imod', lambda x: x.__imod__(3)),
                                     ('isub_scalar', lambda x: x.__isub__(7))])
def test_inplace_integer_with_scalar_keeps_dtype(name, fn):
    def run(L):
        x = L.tensor([5, -4, 9])
        fn(x)
        return str(x.dtype), x.tolist()
    assert outcome(run, ember)[0] == 'torch.int64'
    assert_same_outcome(run)


def test_inplace_errors():
    leaf = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match='leaf Variable that requires grad'):
        leaf.add_(1)
    x = ember.ones(3, dtype=ember.int64)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        x.add_(1.5)
    with pytest.raises(RuntimeError, match=r"output with shape \[1, 3\] doesn't match the broadcast shape \[4, 3\]"):
        ember.ones(1, 3).add_(ember.ones(4, 3))
    with pytest.raises(RuntimeError, match=r'size of tensor a \(2\) must match the size of tensor b \(4\)'):
        ember.ones(2, 3).mul_(ember.ones(4, 3))


def test_inplace_on_saved_tensor_detected():
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    c = b.exp()  # saves its output ... and sin saves its input
    d = b.sin()
    b.add_(1)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        d.sum().backward()
    del c


# ---- dtype promotion --------------------------------------------------------------------------------------------
def _t(lib, kind):
    return {'f32': lambda: lib.ones(2), 'f64': lambda: lib.ones(2, dtype=lib.float64),
            'i64': lambda: lib.ones(2, dtype=lib.int64), 'i32': lambda: lib.ones(2, dtype=lib.int32),
            'u8': lambda: lib.ones(2, dtype=lib.uint8), 'b': lambda: lib.ones(2, dtype=lib.bool),
            'f64_0d': lambda: lib.tensor(1.0, dtype=lib.float64), 'i64_0d': lambda: lib.tensor(3),
            'f16': lambda: lib.ones(2, dtype=lib.float16)}[kind]()


PROMOTION = [
    ('i64', '+', 1.5, 'float32'), ('f32', '+', 'f64', 'float64'), ('f32', '*', 1e300, 'float32'),
    ('i64', '/', 'i64', 'float32'), ('i32', '/', 2, 'float32'), ('f32', '<', 1, 'bool'), ('i64', '==', 'f32', 'bool'),
    ('f32', '+', 'f64_0d', 'float32'), ('i32', '+', 'f64_0d', 'float64'), ('i32', '+', 'i64_0d', 'int32'),
    ('u8', '+', 1, 'uint8'), ('b', '+', 'b', 'bool'), ('b', '*', True, 'bool'), ('b', '+', 1, 'int64'),
    ('b', '+', 1.0, 'float32'), ('i64', '//', 2.0, 'float32'), ('i32', '+', 'i64', 'int64'),
    ('u8', '+', 'i32', 'int32'), ('f16', '+', 'f32', 'float32'), ('f16', '*', 2.0, 'float16'),
    ('i64', '**', 2, 'int64'), ('i64', '**', 0.5, 'float32'), ('i64', '%', 2, 'int64'), ('f64', '-', 'i64', 'float64'),
]


@pytest.mark.parametrize('a,op,b,expect', PROMOTION, ids=[f'{p[0]}{p[1]}{p[2]}' for p in PROMOTION])
def test_promotion(a, op, b, expect):
    ops = {'+': lambda x, y: x + y, '*': lambda x, y: x * y, '/': lambda x, y: x / y, '<': lambda x, y: x < y,
           '==': lambda x, y: x == y, '//': lambda x, y: x // y, '**': lambda x, y: x ** y, '%': lambda x, y: x % y,
           '-': lambda x, y: x - y}
    for lib in (ember, torch) if torch else (ember,):
        x = _t(lib, a)
        y = _t(lib, b) if isinstance(b, str) else b
        assert ops[op](x, y).dtype == getattr(lib, expect), lib.__name__
        if not isinstance(b, str):  # reflected form promotes the same way
            if op in ('+', '*'):
                assert ops[op](y, x).dtype == getattr(lib, expect)


@pytest.mark.parametrize('fn,expect', [
    (lambda L: L.sqrt(L.tensor([1, 4])), 'float32'), (lambda L: L.exp(L.tensor([1, 2], dtype=L.int32)), 'float32'),
    (lambda L: L.sigmoid(L.tensor([1])), 'float32'), (lambda L: L.abs(L.tensor([-1])), 'int64'),
    (lambda L: L.neg(L.tensor([1], dtype=L.int32)), 'int32'),
    (lambda L: L.clamp(L.tensor([1, 2, 3]), min=1.5), 'float32'),
    (lambda L: L.clamp(L.tensor([1, 2, 3]), 0, 2), 'int64'), (lambda L: L.maximum(L.tensor([1, 2]), L.tensor(2.5)),
                                                               'float32'),
    (lambda L: L.where(L.tensor([True, False]), 1.0, 0), 'float32'),
    (lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2]), 0.5), 'float32'),
    (lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2]), 5), 'int64'),
    (lambda L: L.where(L.tensor([True, False]), L.ones(2, dtype=L.float64), L.ones(2)), 'float64'),
    (lambda L: 2 ** L.tensor([1, 2]), 'int64'), (lambda L: 2.0 ** L.tensor([1, 2]), 'float32'),
    (lambda L: L.relu(L.tensor([-1, 2])), 'int64'), (lambda L: L.sign(L.tensor([-1, 2])), 'int64'),
    (lambda L: L.floor(L.tensor([-1, 2])), 'int64'), (lambda L: L.tensor([1, 2]).reciprocal(), 'float32'),
    (lambda L: L.isnan(L.tensor([1.0])), 'bool'), (lambda L: L.logical_and(L.tensor([1.0]), L.tensor([0])), 'bool'),
    (lambda L: L.tensor([3, 4]).square(), 'int64'), (lambda L: L.tensor([1.5]).round(), 'float32'),
], ids=lambda x: '' if callable(x) else x)
def test_unary_and_mixed_result_dtypes(fn, expect):
    for lib in (ember, torch) if torch else (ember,):
        assert fn(lib).dtype == getattr(lib, expect), lib.__name__


@pytest.mark.parametrize('fn', [
    lambda L: L.tensor([7, -7, 5]) // 2, lambda L: L.tensor([7, -7, 5]) % -3, lambda L: -7 // L.tensor([2, -2]),
    lambda L: 7 % L.tensor([2, -3]), lambda L: L.tensor([7, -7], dtype=L.int32) // L.tensor([2, 2]),
    lambda L: L.tensor([3, 4]) ** 2, lambda L: 2 ** L.tensor([3, 4]), lambda L: L.tensor([True, False]) * 3,
    lambda L: L.tensor([1, 2], dtype=L.uint8) - 3, lambda L: L.tensor([0.5, 1.5, 2.5, -0.5, -1.5]).round(),
    lambda L: L.tensor([1.25, 2.35]).round(decimals=1), lambda L: L.tensor([-0.0, 0.0, -2.0]).sign(),
    lambda L: L.tensor([-2, 3]).clamp(min=0), lambda L: L.tensor([1.0, float('nan')]).clamp(0, 0.5),
    lambda L: L.maximum(L.tensor([1.0, float('nan')]), L.tensor([float('nan'), 0.0])),
    lambda L: L.relu(L.tensor([float('nan'), -1.0])), lambda L: L.tensor([1.0, -1.0]) / 0,
    lambda L: L.sigmoid(L.tensor([-1000.0, 1000.0, 0.0])), lambda L: L.exp(L.tensor([1000.0])),
    lambda L: L.tensor([1, 2]) / L.tensor([2, 4]), lambda L: L.tensor([1, 2], dtype=L.int32) * 1.5,
])
def test_integer_and_special_value_parity(fn):
    assert_parity(lambda L: fn(L), grad=False)


# ---- comparisons, logic, predicates ---------------------------------------------------------------------------
COMPARE = [
    ('eq', lambda L, a, b: a == b, np.equal), ('ne', lambda L, a, b: a != b, np.not_equal),
    ('lt', lambda L, a, b: a < b, np.less), ('le', lambda L, a, b: a <= b, np.less_equal),
    ('gt', lambda L, a, b: a > b, np.greater), ('ge', lambda L, a, b: a >= b, np.greater_equal),
    ('eq_fn', lambda L, a, b: L.eq(a, b), np.equal), ('gt_method', lambda L, a, b: a.gt(b), np.greater),
    ('greater_equal', lambda L, a, b: L.greater_equal(a, b), np.greater_equal),
    ('logical_and', lambda L, a, b: L.logical_and(a, b), np.logical_and),
    ('logical_or', lambda L, a, b: a.logical_or(b), np.logical_or),
    ('logical_xor', lambda L, a, b: L.logical_xor(a, b), np.logical_xor),
]


@pytest.mark.parametrize('name,fn,ref', COMPARE, ids=[c[0] for c in COMPARE])
@pytest.mark.parametrize('sa,sb', [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), ())], ids=str)
def test_comparisons_match_numpy(name, fn, ref, sa, sb):
    a = np.round(rnd(*sa))
    b = np.round(rnd(*sb))
    out = fn(ember, ember.tensor(a), ember.tensor(b))
    assert out.dtype == ember.bool and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), ref(a, b))
    if name.startswith('logical'):  # PyTorch's logical ops take tensors only
        with pytest.raises(TypeError, match="argument 'other'"):
            fn(ember, ember.tensor(a), 0.0)
    else:
        np.testing.assert_array_equal(fn(ember, ember.tensor(a), 0.0).numpy(), ref(a, 0.0))  # scalar operand


@pytest.mark.parametrize('name,fn,ref', COMPARE, ids=[c[0] for c in COMPARE])
def test_comparisons_parity_mixed_dtypes(name, fn, ref):
    a = np.array([[0, 1, 2, -1]], dtype=np.int64)
    b = np.array([[0.0], [1.0], [-1.5]])
    assert_parity(fn, a, b, grad=False)
    if not name.startswith('logical'):  # PyTorch's logical ops take tensors only
        assert_parity(lambda L, x: fn(L, x, 1), a, grad=False)


def test_comparison_with_grad_input_gives_no_grad():
    x = ember.ones(3, requires_grad=True)
    assert not (x > 0).requires_grad and (x > 0).grad_fn is None


@pytest.mark.parametrize('name,fn,ref', [
    ('isnan', lambda L, x: L.isnan(x), np.isnan), ('isinf', lambda L, x: x.isinf(), np.isinf),
    ('isfinite', lambda L, x: L.isfinite(x), np.isfinite), ('logical_not', lambda L, x: L.logical_not(x),
                                                            np.logical_not),
    ('invert_bool', lambda L, x: ~(x > 0), lambda a: ~(a > 0))])
def test_predicates(name, fn, ref):
    a = np.array([1.0, -np.inf, np.nan, np.inf, 0.0, -2.0])
    out = fn(ember, ember.tensor(a))
    assert out.dtype == ember.bool
    np.testing.assert_array_equal(out.numpy(), ref(a))
    assert_parity(fn, a, grad=False, rtol=0, atol=0)


def test_isclose_allclose_equal():
    a = ember.tensor([1.0, 2.0, float('nan')])
    b = ember.tensor([1.0 + 1e-9, 2.1, float('nan')])
    assert ember.isclose(a, b).tolist() == [True, False, False]
    assert ember.isclose(a, b, equal_nan=True).tolist() == [True, False, True]
    assert not ember.allclose(a, b) and ember.allclose(a[:1], b[:1])
    assert ember.equal(a[:2], a[:2]) and not ember.equal(a[:2], b[:2]) and not ember.equal(a[:2], a[:1])


def test_bitwise_ops_on_ints_and_bools():
    a, b = ember.tensor([12, 10]), ember.tensor([10, 6])
    assert (a & b).tolist() == [8, 2] and (a | b).tolist() == [14, 14] and (a ^ b).tolist() == [6, 12]
    assert (~a).tolist() == [-13, -11]
    m = ember.tensor([True, False])
    assert (m & ember.tensor([True, True])).tolist() == [True, False] and (~m).tolist() == [False, True]


# ---- gradients at special points, matching PyTorch's conventions ----------------------------------------------
@pytest.mark.parametrize('fn', [
    lambda L, x: L.relu(x), lambda L, x: x.abs(), lambda L, x: x.clamp(0.0, 1.0), lambda L, x: x.clamp(min=0.0),
    lambda L, x: L.maximum(x, L.zeros_like(x)), lambda L, x: L.minimum(x, L.ones_like(x)),
    lambda L, x: x.sqrt(), lambda L, x: x ** 2, lambda L, x: x ** 0.0, lambda L, x: x.sign(),
    lambda L, x: L.where(x > 0, x, x * 2), lambda L, x: x.floor() + x.round(),
    lambda L, x: x ** L.tensor([2.0, 2.0, 0.5, 3.0], dtype=L.float64),
    lambda L, x: L.tensor([0.0, 2.0, 0.0, 1.0], dtype=L.float64) ** x,
    lambda L, x: x ** L.tensor([0.0, 2.0, 0.0, 1.0], dtype=L.float64),
    lambda L, x: x.clamp(min=L.tensor([0.0, 1.0, 1.0, 0.0], dtype=L.float64)),
    lambda L, x: x.clamp(max=L.tensor([0.0, 1.0, 1.0, 0.0], dtype=L.float64)),
], ids=['relu', 'abs', 'clamp', 'clamp_min', 'maximum_tie', 'minimum_tie', 'sqrt', 'pow2', 'pow0', 'sign', 'where',
        'floor_round', 'pow_tensor_exp', 'pow_zero_base', 'pow_zero_exp_zero_base', 'clamp_tensor_min_tie',
        'clamp_tensor_max_tie'])
def test_gradients_at_kinks_match_torch(fn):
    assert_parity(fn, np.array([0.0, 1.0, 0.0, 1.0]))


def test_clamp_with_crossed_tensor_bounds_matches_torch():
    # lo > hi: hi wins, and the gradient goes to hi; lo == hi below the input: PyTorch routes it nowhere
    assert_parity(lambda L, x, lo, hi: L.clamp(x, lo, hi), np.array([0.0, 2.0, 1.0, 0.5, 3.0, 1.0]),
                  np.array([1.0, 1.0, 0.0, 1.0, 5.0, 2.0]), np.array([1.0, 1.0, 1.0, 2.0, 2.0, 1.0]))


# ---- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn', [
    lambda L: L.ones(2, 3) + L.ones(4, 3), lambda L: L.ones(2, 3) * L.ones(4, 3), lambda L: L.ones(2, 3) - L.ones(4, 3),
    lambda L: L.ones(2, 3) / L.ones(4, 3), lambda L: L.ones(2, 3) == L.ones(4, 3),
    lambda L: L.ones(2, 3) < L.ones(4, 3),
    lambda L: L.maximum(L.ones(2, 3), L.ones(4, 3)), lambda L: L.where(L.ones(2, 3) > 0, L.ones(4, 3), 0.0),
    lambda L: L.ones(2, 3) ** L.ones(4, 3), lambda L: L.ones(2, 3) % L.ones(4, 3),
    lambda L: L.ones(2, 3) // L.ones(4, 3), lambda L: L.logical_and(L.ones(2, 3), L.ones(4, 3)),
], ids=['add', 'mul', 'sub', 'div', 'eq', 'lt', 'maximum', 'where', 'pow', 'mod', 'floordiv', 'logical_and'])
def test_broadcast_failure_is_runtime_error_naming_sizes(fn):
    assert_both_raise(fn, RuntimeError, match=r'The size of tensor a \(2\) must match the size of tensor b \(4\) at '
                                              r'non-singleton dimension 0',
                      torch_match=r'size of tensor a \(2\) must match the size of tensor b \(4\)')


def test_broadcast_failure_reports_rightmost_clash_in_output_dims():
    with pytest.raises(RuntimeError, match=r'tensor a \(3\) must match the size of tensor b \(5\) at non-singleton '
                                           r'dimension 1'):
        ember.ones(2, 3) + ember.ones(4, 5)
    with pytest.raises(RuntimeError, match=r'tensor a \(2\) must match the size of tensor b \(4\) at non-singleton '
                                           r'dimension 1'):
        ember.ones(5, 2, 3) + ember.ones(4, 3)


def test_elementwise_errors():
    with pytest.raises(RuntimeError, match='Negation.*bool tensor'):
        -ember.tensor([True])
    with pytest.raises(RuntimeError, match='Integers to negative integer powers are not allowed'):
        ember.tensor([1, 2]) ** -1
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        ember.ones(3).clamp()
    with pytest.raises(RuntimeError, match='where expected condition to be a boolean tensor'):
        ember.where(ember.ones(2), ember.ones(2), ember.zeros(2))
    with pytest.raises(TypeError, match="argument 'other' must be Tensor or Number, not str"):
        ember.ones(2) + 'a'
    with pytest.raises(RuntimeError, match='rounding_mode'):
        ember.div(ember.ones(2), 2, rounding_mode='round')
    with pytest.raises(TypeError, match='bitwise_not'):
        ~ember.ones(2)


def _on_fake_cuda(t):
    """The same tensor re-labelled as living on another device (ops must refuse to mix devices before computing)."""
    dev = object.__new__(ember.device)
    dev.type, dev.index, dev.xp = 'cuda', 0, np
    t._device = dev
    return t


@pytest.mark.parametrize('fn', [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: ember.maximum(a, b),
                                lambda a, b: a < b, lambda a, b: ember.where(a > 0, a, b), lambda a, b: a @ b,
                                lambda a, b: ember.cat([a, b]), lambda a, b: a.add_(b)],
                         ids=['add', 'mul', 'maximum', 'lt', 'where', 'matmul', 'cat', 'add_'])
def test_mixing_devices_is_refused(fn):
    a, b = ember.ones(3), _on_fake_cuda(ember.ones(3))
    with pytest.raises(RuntimeError, match='Expected all tensors to be on the same device, but found at least two '
                                           'devices, cpu and cuda:0'):
        fn(a, b)


def test_fmod_and_remainder_signs():
    a, b = np.array([7.5, -7.5, 7.5, -7.5]), np.array([2.0, 2.0, -2.0, -2.0])
    np.testing.assert_array_equal(ember.fmod(ember.tensor(a), ember.tensor(b)).numpy(), np.fmod(a, b))
    np.testing.assert_array_equal(ember.remainder(ember.tensor(a), ember.tensor(b)).numpy(), np.mod(a, b))
    np.testing.assert_array_equal(ember.tensor(a).fmod(2).numpy(), np.fmod(a, 2))
    gradcheck_op(lambda L, x, y: L.fmod(x, y), np.array([7.5, -7.3, 1.1]), np.array([2.0, -1.5, 0.7]))


def test_where_with_condition_only_gives_indices():
    m = np.array([[True, False], [True, True]])
    rows, cols = ember.where(ember.tensor(m))
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(m)[0])
    np.testing.assert_array_equal(cols.numpy(), np.nonzero(m)[1])
    assert rows.dtype == ember.int64


# ---- integer scalars wrap, promotion of bitwise ops, integer powers (issue 10) -------------------------------------

@pytest.mark.parametrize('expr', ['u + (-2)', 'u - (-2)', 'u * -1', 'u + 300', 'u // -2', 'u % -3', 'u & -2',
                                  'u | 300', 'u < -2', 'u == -2', 'u > 300', 'i8 + 200', 'i8 < 200', 'u + (-2.0)',
                                  'i64 + 2 ** 63', 'u.add_(-2)', 'u.mul_(-3)'])
def test_integer_scalars_wrap_like_torch(expr):
    def run(T):
        env = {'u': T.tensor([1, 200, 0], dtype=T.uint8), 'i8': T.tensor([1, -3], dtype=T.int8),
               'i64': T.tensor([1, 2])}
        r = eval(expr, env)
        return str(r.dtype).split('.')[-1], r.tolist()
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', ['T.bitwise_and(T.tensor(3), v32)', 'T.bitwise_or(v32, T.tensor(3))',
                                  'T.bitwise_xor(T.tensor(3), v8)', 'T.tensor(3) & v32', 'v32 | T.tensor([1, 2])',
                                  'T.tensor(True) & v8', 'T.eq(T.tensor(3), v32)'])
def test_bitwise_ops_promote_like_torch(expr):
    def run(T):
        env = {'T': T, 'v32': T.tensor([1, 2], dtype=T.int32), 'v8': T.tensor([1, 2], dtype=T.uint8)}
        r = eval(expr, env)
        return str(r.dtype).split('.')[-1], r.tolist()
    assert_same_outcome(run)


@pytest.mark.parametrize('expr', ['i ** T.tensor(-1, dtype=T.int32)', 'i ** T.tensor(-2, dtype=T.int32)',
                                  'i ** i', '2 ** i', '(-2) ** T.tensor([-1, -2, 3])', 'i ** -1',
                                  'T.tensor([1, 2], dtype=T.uint8) ** -1', 'T.tensor([True]) ** -1'])
def test_integer_powers_like_torch(expr):
    def run(T):
        try:
            r = eval(expr, {'T': T, 'i': T.tensor([2, 1, -1, 0, -2, 3], dtype=T.int32)})
        except RuntimeError as e:
            return 'RuntimeError', str(e)
        return str(r.dtype).split('.')[-1], r.tolist()
    assert_same_outcome(run)


def _outcome(T, expr, grad_of=None):
    """expr's result (dtype, values) or exception type, and x's gradient when the result requires grad."""
    env = {'T': T, 'x': T.tensor([1.5, float('nan'), -2.0, 0.0], requires_grad=True),
           'b': T.tensor([True, False]), 'u': T.tensor([1, 200], dtype=T.uint8), 'i': T.tensor([3, -2])}
    try:
        r = eval(expr, env)
    except Exception as e:
        return type(e).__name__
    out = (str(r.dtype).split('.')[-1], np.nan_to_num(r.detach().numpy(), nan=7.0).tolist())
    if r.requires_grad:
        try:
            r.sum().backward()
        except RuntimeError as e:
            return out + (f'backward: {e}',)
        out += (np.nan_to_num(env['x'].grad.numpy(), nan=7.0).tolist(),)
    return out


@pytest.mark.parametrize('expr', [
    'b.abs()', 'b.floor()', 'b.round()', 'b.relu()', 'b.sign()', 'b.square()', 'b.clamp(0, 1)', 'b.clamp(False, True)',
    '+b', 'b - b', 'x - b', 'True - x', 'b // b', 'b % b', 'T.fmod(b, b)', 'b ** b', 'b ** False', 'b ** True', 'i.frac()',
    'i & 1.5', 'x & x', 'T.logical_and(b, 1)', 'T.maximum(x, 1)', 'u.clamp(300)', 'u.clamp(-1)', 'T.where(b, u, 300)',
    'u ** 300', '300 / u', 'T.add(2, b, alpha=3)', 'T.add(b, b, alpha=2)', 'T.add(i, 1.5, alpha=2)',
    'x.relu()', 'T.maximum(x, x.detach() * 0)', 'T.minimum(x, T.zeros(4))', 'x.sign()', 'x // 2', 'x ** T.ones(4)',
    'T.zeros(4) ** x', 'x ** T.tensor([True, False, True, True])', '2 ** i', '(-1) ** i', '2 ** T.tensor([64, 63])'])
def test_dtype_and_nan_edge_cases_match_torch(expr):
    assert_same_outcome(lambda T: _outcome(T, expr))
