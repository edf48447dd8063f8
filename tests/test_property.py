"""Property-based tests: random shapes, broadcast pairs, dims and dtypes; ember against NumPy and PyTorch."""
import numpy as np
import pytest

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import given, settings, strategies as st, HealthCheck  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import ember  # noqa: E402
from _parity import torch, run_op, Rnd  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    report_multiple_bugs=False)
DTYPES = ['float32', 'float64', 'int32', 'int64', 'bool']
rnd = Rnd(0)  # (every draw names its seed: the data follows the example)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def compare(fn, arrays, ref=None, grad=True, rtol=1e-5, atol=1e-6):
    """ember's forward (and NumPy's reference when given) against PyTorch's; float64 gradients against PyTorch's,
    or against finite differences when PyTorch is missing."""
    ev, ed, eg = run_op(ember, fn, arrays, grad=False)
    if ref is not None:
        expect = ref(*arrays)
        expect = list(expect) if isinstance(expect, (tuple, list)) else [expect]
        for e, x in zip(ev, expect):
            assert e.shape == np.shape(x)
            tol = max(rtol, 2e-6) if e.dtype == np.float32 else rtol  # int inputs compute in float32
            np.testing.assert_allclose(e.astype(np.float64), np.asarray(x).astype(np.float64), rtol=tol, atol=atol,
                                       equal_nan=True)
    grad = grad and all(a.dtype == np.float64 for a in arrays)
    if torch is not None:
        tv, td, _ = run_op(torch, fn, arrays, grad=False)
        assert ed == td, (ed, td)
        for e, t in zip(ev, tv):
            assert e.shape == t.shape
            np.testing.assert_allclose(e, t, rtol=rtol, atol=atol, equal_nan=True)
        if grad:
            _, _, eg = run_op(ember, fn, arrays, grad=True)
            _, _, tg = run_op(torch, fn, arrays, grad=True)
            for e, t in zip(eg, tg):
                assert (e is None) == (t is None)
                if e is not None:
                    np.testing.assert_allclose(e, t, rtol=1e-7, atol=1e-9)
    elif grad and sum(a.size for a in arrays) <= 48:
        leaves = [ember.tensor(a, requires_grad=True) for a in arrays]
        assert ember.autograd.gradcheck(lambda *ts: fn(ember, *ts), tuple(leaves))


# ---- elementwise ----------------------------------------------------------------------------------------------
BINARY = {
    'add': (lambda L, a, b: a + b, np.add), 'sub': (lambda L, a, b: a - b, np.subtract),
    'mul': (lambda L, a, b: a * b, np.multiply), 'div': (lambda L, a, b: a / b, None),
    'maximum': (lambda L, a, b: L.maximum(a, b), np.maximum), 'minimum': (lambda L, a, b: L.minimum(a, b), np.minimum),
    'eq': (lambda L, a, b: a == b, np.equal), 'lt': (lambda L, a, b: a < b, np.less),
    'ge': (lambda L, a, b: a >= b, np.greater_equal), 'where': (lambda L, a, b: L.where(a > b, a, b), None),
    'logical_or': (lambda L, a, b: L.logical_or(a, b), np.logical_or),
}


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES), op=st.sampled_from(sorted(BINARY)),
       seed=st.integers(0, 2 ** 16))
def test_binary_broadcasting(shapes, da, db, op, seed):
    fn, ref = BINARY[op]
    if op in ('sub',) and 'bool' in (da, db):
        da = db = 'float64'  # subtraction of bools is an error in both libraries
    if op in ('maximum', 'minimum', 'where') and (da == 'bool') != (db == 'bool'):
        db = da
    a, b = rnd(*shapes.input_shapes[0], dtype=da, seed=seed), rnd(*shapes.input_shapes[1], dtype=db, seed=seed + 1)
    if op == 'div':
        b = np.where(b == 0, 1, b).astype(b.dtype) if db != 'bool' else np.ones_like(b, dtype=np.float64)
    # NumPy's value promotion differs from PyTorch's dtype promotion: its reference applies to same-dtype pairs
    compare(fn, [a, b], ref if da == db and da != 'bool' else None)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16), op=st.sampled_from(['add', 'sub', 'mul', 'div', 'maximum', 'where']))
def test_binary_broadcasting_float64_gradients(shapes, seed, op):
    a = rnd(*shapes.input_shapes[0], dtype='float64', seed=seed)
    b = rnd(*shapes.input_shapes[1], dtype='float64', seed=seed + 1, kind='pos' if op == 'div' else 'any')
    compare(BINARY[op][0], [a, b], None)


@SETTINGS
@given(sa=shapes, sb=shapes)
def test_broadcast_compatibility_agrees_with_numpy(sa, sb):
    try:
        expect = np.broadcast_shapes(sa, sb)
    except ValueError:
        with pytest.raises(RuntimeError, match='must match the size of tensor b'):
            ember.ones(sa) + ember.ones(sb)
    else:
        assert tuple((ember.ones(sa) * ember.ones(sb)).shape) == expect


UNARY = {
    'neg': (lambda L, x: -x, np.negative, 'any'), 'abs': (lambda L, x: x.abs(), np.abs, 'any'),
    'exp': (lambda L, x: x.exp(), np.exp, 'any'), 'log': (lambda L, x: x.log(), np.log, 'pos'),
    'sqrt': (lambda L, x: x.sqrt(), np.sqrt, 'pos'), 'tanh': (lambda L, x: x.tanh(), np.tanh, 'any'),
    'sigmoid': (lambda L, x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), 'any'),
    'relu': (lambda L, x: x.relu(), lambda a: np.maximum(a, 0), 'any'),
    'sin': (lambda L, x: x.sin(), np.sin, 'any'), 'square': (lambda L, x: x * x, np.square, 'any'),
    'clamp': (lambda L, x: x.clamp(-1, 1), lambda a: np.clip(a, -1, 1), 'any'),
    'pow_scalar': (lambda L, x: x ** 3, lambda a: a ** 3, 'any'), 'rsub': (lambda L, x: 1 - x, None, 'any'),
    'scalar_mul': (lambda L, x: x * 2.5, None, 'any'), 'scalar_div': (lambda L, x: x / 2, None, 'any'),
    'sign': (lambda L, x: x.sign(), np.sign, 'any'), 'isfinite': (lambda L, x: x.isfinite(), np.isfinite, 'any'),
    'gt_scalar': (lambda L, x: x > 0.5, None, 'any'),
}
FLOAT_ONLY = {'log', 'sqrt'}


@SETTINGS
@given(shape=shapes, dtype=st.sampled_from(['float32', 'float64', 'int64', 'int32']), op=st.sampled_from(sorted(UNARY)),
       seed=st.integers(0, 2 ** 16))
def test_unary(shape, dtype, op, seed):
    fn, ref, kind = UNARY[op]
    if op == 'sign' and dtype.startswith('int'):
        ref = None
    x = rnd(*shape, dtype=dtype, seed=seed, kind=kind)
    compare(fn, [x], ref if dtype.startswith('float') or op not in FLOAT_ONLY else None,
            rtol=2e-6 if dtype == 'float32' else 1e-12)


# ---- reductions ------------------------------------------------------------------------------------------------
@st.composite
def shape_and_dims(draw, max_dims=4):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=4))
    n = len(shape)
    dims = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    dims = tuple(d - n if draw(st.booleans()) else d for d in dims)  # negative spellings too
    return shape, dims


MULTI = {
    'sum': (lambda L, x, d, k: x.sum(d, keepdim=k), np.sum),
    'mean': (lambda L, x, d, k: x.mean(d, keepdim=k), np.mean),
    'amax': (lambda L, x, d, k: x.amax(d, keepdim=k), np.max),
    'amin': (lambda L, x, d, k: x.amin(d, keepdim=k), np.min),
    'var': (lambda L, x, d, k: x.var(d, keepdim=k, correction=0), np.var),
    'std': (lambda L, x, d, k: x.std(d, keepdim=k, correction=0), np.std),
    'logsumexp': (lambda L, x, d, k: x.logsumexp(d, keepdim=k), None),
    'norm': (lambda L, x, d, k: x.norm(p=2, dim=d, keepdim=k), None),
    'any': (lambda L, x, d, k: (x > 0).any(d, keepdim=k),
            lambda a, axis, keepdims: np.any(a > 0, axis, keepdims=keepdims)),
    'all': (lambda L, x, d, k: (x > 0).all(d, keepdim=k),
            lambda a, axis, keepdims: np.all(a > 0, axis, keepdims=keepdims)),
}
INT_OK = {'sum', 'amax', 'amin', 'any', 'all'}


@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), op=st.sampled_from(sorted(MULTI)),
       dtype=st.sampled_from(['float64', 'float32', 'int64', 'int32']), seed=st.integers(0, 2 ** 16),
       as_int=st.booleans())
def test_reductions_over_dims(sd, keepdim, op, dtype, seed, as_int):
    shape, dims = sd
    if op not in INT_OK:
        dtype = 'float64' if dtype.startswith('int') else dtype
    fn, ref = MULTI[op]
    d = dims[0] if as_int else dims
    x = rnd(*shape, dtype=dtype, seed=seed)
    axis = tuple(a % len(shape) for a in ((d,) if isinstance(d, int) else d))
    numpy_ref = (lambda a: ref(a, axis=axis, keepdims=keepdim)) if ref is not None else None
    compare(lambda L, t: fn(L, t, d, keepdim), [x], numpy_ref, rtol=1e-4 if dtype == 'float32' else 1e-10)


SINGLE = {
    'prod': lambda L, x, d, k: x.prod(d, keepdim=k),
    'max': lambda L, x, d, k: x.max(d, keepdim=k),
    'min': lambda L, x, d, k: x.min(d, keepdim=k),
    'argmax': lambda L, x, d, k: x.argmax(d, keepdim=k),
    'softmax': lambda L, x, d, k: x.softmax(d),
    'log_softmax': lambda L, x, d, k: x.log_softmax(d),
    'cumsum': lambda L, x, d, k: x.cumsum(d),
    'sort': lambda L, x, d, k: x.sort(d, descending=k),
    'topk': lambda L, x, d, k: x.topk(1, d, largest=k),
}


@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), op=st.sampled_from(sorted(SINGLE)), seed=st.integers(0, 2 ** 16),
       dtype=st.sampled_from(['float64', 'float32', 'int64']))
def test_single_dim_reductions(sd, keepdim, op, seed, dtype):
    shape, dims = sd
    if op in ('softmax', 'log_softmax') and dtype == 'int64':
        dtype = 'float64'
    x = rnd(*shape, dtype=dtype, seed=seed)
    if dtype.startswith('float'):
        x = x + np.arange(x.size).reshape(shape) * 1e-3  # no ties: max/sort indices are then unique
    else:  # distinct integers: which of tied elements topk/sort/max return is unspecified in PyTorch
        x = np.argsort(x.ravel(), kind='stable').reshape(shape) - x.size // 2
    compare(lambda L, t: SINGLE[op](L, t, dims[0], keepdim), [x.astype(dtype)],
            rtol=1e-4 if dtype == 'float32' else 1e-10)


# ---- shape ops ------------------------------------------------------------------------------------------------
@st.composite
def shape_op(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    n = len(shape)
    kind = draw(st.sampled_from(['permute', 'transpose', 'reshape', 'unsqueeze', 'squeeze', 'flip', 'roll', 'expand',
                                 'cat', 'stack', 'split', 'chunk', 'narrow', 'slice', 'flatten', 'repeat', 'index']))
    d = draw(st.integers(-n, n - 1))
    if kind == 'permute':
        perm = draw(st.permutations(range(n)))
        return shape, (lambda L, x: x.permute(*perm)), (lambda a: a.transpose(perm))
    if kind == 'transpose':
        e = draw(st.integers(-n, n - 1))
        return shape, (lambda L, x: x.transpose(d, e)), (lambda a: np.swapaxes(a, d, e))
    if kind == 'reshape':
        new = tuple(reversed(shape)) + (1,)
        return shape, (lambda L, x: x.reshape(new)), (lambda a: a.reshape(new))
    if kind == 'flatten':
        s, e = sorted((d % n, draw(st.integers(0, n - 1))))
        return shape, (lambda L, x: x.flatten(s, e)), (lambda a: a.reshape(a.shape[:s] + (-1,) + a.shape[e + 1:]))
    if kind == 'unsqueeze':
        u = draw(st.integers(-n - 1, n))
        return shape, (lambda L, x: x.unsqueeze(u)), (lambda a: np.expand_dims(a, u))
    if kind == 'squeeze':
        return shape, (lambda L, x: x.squeeze(d)), (lambda a: a.squeeze(d) if a.shape[d] == 1 else a)
    if kind == 'flip':
        dims = tuple(sorted(set(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))))
        return shape, (lambda L, x: x.flip(dims)), (lambda a: np.flip(a, dims))
    if kind == 'roll':
        k = draw(st.integers(-5, 5))
        return shape, (lambda L, x: x.roll(k, d)), (lambda a: np.roll(a, k, d))
    if kind == 'expand':
        target = (2,) + tuple(draw(st.sampled_from([s, 3])) if s == 1 else s for s in shape)
        return shape, (lambda L, x: x.expand(target)), (lambda a: np.broadcast_to(a, target))
    if kind == 'repeat':
        reps = tuple(draw(st.lists(st.integers(1, 2), min_size=n, max_size=n + 1)))
        return shape, (lambda L, x: x.repeat(reps)), (lambda a: np.tile(a, reps))
    if kind == 'cat':
        return shape, (lambda L, x: L.cat([x, x * 2, x[tuple(slice(0, 1) if i == d % n else slice(None)
                                                               for i in range(n))]], d)), \
            (lambda a: np.concatenate([a, a * 2, np.take(a, [0], d)], d))
    if kind == 'stack':
        s = draw(st.integers(-n - 1, n))
        return shape, (lambda L, x: L.stack([x, -x], s)), (lambda a: np.stack([a, -a], s))
    if kind == 'split':
        size = draw(st.integers(1, 4))
        return shape, (lambda L, x: x.split(size, d)), \
            (lambda a: tuple(np.split(a, range(size, a.shape[d], size), d)))
    if kind == 'chunk':
        c = draw(st.integers(1, 4))
        return shape, (lambda L, x: x.chunk(c, d)), None
    if kind == 'narrow':
        size = shape[d]
        start = draw(st.integers(0, size - 1))
        length = draw(st.integers(0, size - start))
        return shape, (lambda L, x: x.narrow(d, start, length)), (lambda a: np.take(a, range(start, start + length), d))
    if kind == 'index':
        idx = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=5))
        return shape, (lambda L, x: x[idx]), (lambda a: a[idx])
    # basic slicing with random starts/stops/positive steps
    key = tuple(slice(draw(st.integers(-s, s)), draw(st.integers(-s, s + 1)), draw(st.integers(1, 3)))
                for s in shape[:draw(st.integers(1, n))])
    return shape, (lambda L, x: x[key]), (lambda a: a[key])


@SETTINGS
@given(case=shape_op(), seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(['float64', 'float32', 'int64', 'bool']))
def test_shape_ops(case, seed, dtype):
    shape, fn, ref = case
    x = rnd(*shape, dtype=dtype, seed=seed)
    if dtype == 'bool':  # arithmetic in some cases: keep them numeric
        x = x.astype(np.int64)
    compare(fn, [x], ref, rtol=1e-12, atol=0)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=st.integers(0, 2 ** 16),
       threshold=st.floats(-1.0, 1.0))
def test_mask_read_and_write(shape, seed, threshold):
    x = rnd(*shape, dtype='float64', seed=seed)

    def read(L, t):
        return t[t > threshold] * 2

    def write(L, t):
        y = t * 1
        y[t < threshold] = 0
        return y
    compare(read, [x], lambda a: a[a > threshold] * 2)
    compare(write, [x], lambda a: np.where(a < threshold, 0, a))


@SETTINGS
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2 ** 16),
       vec=st.sampled_from(['none', 'left', 'right', 'both']))
def test_matmul_shapes(batch, n, k, m, seed, vec):
    sa = (k,) if vec in ('left', 'both') else batch.input_shapes[0] + (n, k)
    sb = (k,) if vec in ('right', 'both') else batch.input_shapes[1] + (k, m)
    a, b = rnd(*sa, dtype='float64', seed=seed), rnd(*sb, dtype='float64', seed=seed + 1)
    compare(lambda L, x, y: x @ y, [a, b], np.matmul, rtol=1e-10, atol=1e-12)
