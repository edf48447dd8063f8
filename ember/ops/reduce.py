"""Reductions over dims (int, tuple or all) with keepdim: sums, means, extrema, statistics, softmax family, scans."""
import builtins
import math

from .._dtype import to_dtype, get_default_dtype
from ._util import Tensor, record, record_with_output, norm_dim, norm_dims, _wrap, renamed, no_complex
from .elementwise import masked_grad
from .._printing import return_type
from ..autograd.grad_mode import _State

values_indices = {name: return_type(name, ('values', 'indices')) for name in
                  ('max', 'min', 'sort', 'topk', 'kthvalue', 'median', 'mode', 'cummax', 'cummin')}


def _np_names(dim, keepdim, axis, keepdims):
    return (axis if axis is not None else dim), (keepdims if keepdims is not None else keepdim)


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _restore(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not _State.grad_enabled:  # a plain backward builds no graph: the same views straight on the array
        x = g._data
        if not keepdim and x.ndim:  # (a 0-d gradient broadcasts as it is)
            x = x.reshape(_kept_shape(shape, dims))
        if x.shape != shape:
            n = _numel(shape)
            if x.size == n:
                x = x.reshape(shape)
            elif n <= 2048:  # small: filling a new array costs less than NumPy's broadcast_to (~2 us of Python)
                out = g._device.xp.empty(shape, x.dtype)
                out[...] = x
                x = out
            else:
                x = g._device.xp.broadcast_to(x, shape)
        return _wrap(x, g._device)
    if not keepdim:
        g = g.reshape(_kept_shape(shape, dims))
    return g.expand(shape)


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def sum(a, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    dims = norm_dims(dim, a.ndim)
    x = a._data
    if dtype is not None:
        x = x.astype(to_dtype(dtype).np)
    elif x.dtype.kind in 'bu' or (x.dtype.kind == 'i' and x.dtype.itemsize < 8):
        x = x.astype('int64')
    data = x.sum(axis=dims, keepdims=keepdim)
    shape = a.shape
    return record(_arr(data, a), a._device, (a,), 'SumBackward1' if dim is not None else 'SumBackward0',
                  (lambda g: _restore(g, shape, dims, keepdim),))


def _arr(data, a):
    """NumPy reductions return scalars for 0-d results; keep them arrays (CuPy's are 0-d arrays already)."""
    return data if isinstance(data, a._device.xp.ndarray) else a._device.xp.asarray(data)


def mean(a, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    if a._data.dtype.kind not in 'fVc':  # 'V': bfloat16 (ml_dtypes)
        raise RuntimeError(f'mean(): could not infer output dtype. Input dtype must be either a floating point or '
                           f'complex dtype. Got: {a.dtype.name}')
    dims = norm_dims(dim, a.ndim)
    n = 1
    for d in dims:
        n *= a.shape[d]
    data = a._data.mean(axis=dims, keepdims=keepdim) if n else a._data.sum(axis=dims, keepdims=keepdim) / n
    shape = a.shape
    return record(_arr(data, a), a._device, (a,), 'MeanBackward1' if dim is not None else 'MeanBackward0',
                  (lambda g: _restore(g / n, shape, dims, keepdim),))


def prod(a, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    if dim is None:
        return renamed(prod(a.reshape(-1), 0, False), 'ProdBackward0', a)
    if a.ndim == 0:
        norm_dim(dim, 0)
        return prod(a.reshape(1), 0, False).reshape(())
    xp = a._device.xp
    d = norm_dim(dim, a.ndim)
    x = a._data
    data = x.prod(axis=d, keepdims=keepdim)
    if x.dtype.kind in 'biu':
        data = data.astype('int64')
    shape = a.shape

    def make(out):
        def grad(g):
            g = _restore(g, shape, (d,), keepdim)
            # on cuda the zero test would be a host sync: the division-free form below is always right
            if a._device.type == 'cpu' and not (x == 0).any():
                return g * _restore(out(), shape, (d,), keepdim) / a
            # product of all the others without dividing: exclusive cumulative products from both sides
            lead = (slice(None),) * d
            ones = xp.ones_like(x[lead + (slice(0, 1),)])
            head = x[lead + (slice(0, shape[d] - 1),)]
            tail = xp.flip(x, axis=d)[lead + (slice(0, shape[d] - 1),)]
            left = xp.cumprod(xp.concatenate([ones, head], axis=d), axis=d)
            right = xp.flip(xp.cumprod(xp.concatenate([ones, tail], axis=d), axis=d), axis=d)
            return g * _wrap(left * right, g._device)
        return (grad,)
    return record_with_output(_arr(data, a), a._device, (a,), 'ProdBackward1', make, (a,))


def _extreme(a, dim, keepdim, is_max):
    xp = a._device.xp
    name = 'max' if is_max else 'min'
    no_complex(a, name + '_all' if dim is None else name)
    if dim is None:
        if a.numel() == 0:
            raise RuntimeError(f'{name}(): Expected reduction dim to be specified for input.numel() == 0. '
                               f'Specify the reduction dim with the \'dim\' argument.')
        return _amaxmin(a, None, False, is_max, f'{name.capitalize()}Backward1')
    d = norm_dim(dim, a.ndim)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f'{name}(): Expected reduction dim {d} to have non-zero size.')
    x = a._data if a.ndim else a._data.reshape(1)
    idx = (xp.argmax if is_max else xp.argmin)(x, axis=d if a.ndim else 0)
    idx_k = xp.expand_dims(idx, d if a.ndim else 0)
    vals = xp.take_along_axis(x, idx_k, axis=d if a.ndim else 0)
    if not keepdim or not a.ndim:
        vals = vals.reshape(idx.shape)
    else:
        idx = idx_k
    shape = a.shape

    def grad(g):
        from .index import scatter
        gk = g if keepdim else g.unsqueeze(d)
        zeros = _wrap(xp.zeros(shape, dtype=g._data.dtype), g._device)
        return scatter(zeros, d, _wrap(idx_k, g._device), gk) if a.ndim else g.reshape(shape)
    values = record(vals, a._device, (a,), f'{name.capitalize()}Backward0', (grad,), holds=True)
    return values_indices[name](values, _wrap(idx.astype('int64'), a._device))


def max(a, dim=None, keepdim=False, *, out=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    if isinstance(dim, Tensor):
        from .elementwise import maximum
        return maximum(a, dim)
    return _extreme(a, dim, keepdim, True)


def min(a, dim=None, keepdim=False, *, out=None, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    if isinstance(dim, Tensor):
        from .elementwise import minimum
        return minimum(a, dim)
    return _extreme(a, dim, keepdim, False)


def _amaxmin(a, dim, keepdim, is_max, name):
    no_complex(a, 'max_values_cpu' if is_max else 'min_values_cpu')
    dims = norm_dims(dim, a.ndim)
    x = a._data
    if dim is None and x.size == 0:
        op = name[:4].lower()
        raise RuntimeError(f'{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the '
                           f'reduction dim with the \'dim\' argument.')
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f'{name[:4].lower()}(): Expected reduction dim {d} to have non-zero size.')
    data = x.max(axis=dims, keepdims=True) if is_max else x.min(axis=dims, keepdims=True)
    out = data if keepdim else data.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
    shape = a.shape

    def grad(g):
        # ties share the gradient evenly
        mask = x == data
        if dim is None and x.dtype.kind == 'f' and name[0] == 'M':  # max()/min(): NaNs share the gradient
            mask = mask | (x != x) & (data != data)
        share = (mask / mask.sum(axis=dims, keepdims=True)).astype(g._data.dtype, copy=False)  # g's dtype
        return masked_grad(_restore(g, shape, dims, keepdim), share)
    return record(out, a._device, (a,), name, (grad,), (a,), holds=True)


def amax(a, dim=(), keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return _amaxmin(a, None if dim == () else dim, keepdim, True, 'AmaxBackward0')


def amin(a, dim=(), keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return _amaxmin(a, None if dim == () else dim, keepdim, False, 'AminBackward0')


def argmax(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return _argext(a, dim, keepdim, True)


def argmin(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return _argext(a, dim, keepdim, False)


def _argext(a, dim, keepdim, is_max):
    xp = a._device.xp
    fn = xp.argmax if is_max else xp.argmin
    name = 'argmax' if is_max else 'argmin'
    no_complex(a, name)
    if a._data.dtype.kind == 'b':
        raise RuntimeError(f'{name}(): does not support bool input')
    if dim is None and a._data.size == 0:
        raise IndexError(f'{name}(): Expected reduction dim to be specified for input.numel() == 0.')
    if dim is not None and a.ndim and a.shape[norm_dim(dim, a.ndim)] == 0:
        raise IndexError(f'{name}(): Expected reduction dim {norm_dim(dim, a.ndim)} to have non-zero size.')
    if dim is None:
        data = fn(a._data.reshape(-1))
        if keepdim:
            data = xp.asarray(data).reshape((1,) * a.ndim)
    else:
        d = norm_dim(dim, a.ndim)
        data = fn(a._data, axis=d, keepdims=keepdim) if a.ndim else fn(a._data.reshape(1))
    return _wrap(xp.asarray(data, dtype='int64'), a._device)


def var(a, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return renamed(_var(a, dim, unbiased, keepdim, correction), 'VarBackward0', a)


def _var(a, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var(x, False): the old positional 'unbiased'
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if a._data.dtype.kind == 'c':  # a real variance: the spreads of the real and imaginary parts add up
        return _var(a.real, dim, unbiased, keepdim, correction) + _var(a.imag, dim, unbiased, keepdim, correction)
    if a._data.dtype.kind != 'f':
        raise RuntimeError('std and var only support floating point and complex dtypes')
    dims = norm_dims(dim, a.ndim)
    n = 1
    for d in dims:
        n *= a.shape[d]
    xp, x = a._device.xp, a._data
    denom = float(builtins.max(n - correction, 0))
    if n:
        c = x - x.mean(axis=dims, keepdims=True)
        data = (c * c).sum(axis=dims, keepdims=keepdim)
    else:  # the mean of nothing is NaN
        data = xp.full(_kept_shape(x.shape, dims) if keepdim else tuple(
            s for i, s in enumerate(x.shape) if i not in dims), math.nan, dtype=x.dtype)
    data = data / denom  # (n <= correction: inf or nan, as in PyTorch)
    shape = a.shape
    scale = 2.0 / denom if denom else math.inf

    def grad(g):
        # 2 (x - mean) / (n - correction): no gradient through the mean (its terms sum to 0), so an inf in x gives
        # -inf/nan where it meets the others, as in PyTorch, rather than nan everywhere
        return _restore(g, shape, dims, keepdim) * (a - a.mean(dims, keepdim=True)) * scale
    return record(data, a._device, (a,), 'VarBackward0', (grad,), (a,))


def std(a, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    return _std_sqrt(_var(a, dim, unbiased, keepdim, correction))


def _std_sqrt(v):
    """sqrt of a variance whose gradient is 0 where the std is 0 (a constant slice), as in PyTorch."""
    data = v._device.xp.sqrt(v._data)

    def make(out):
        def grad(g):
            o = out()
            zero = o._data == 0
            if o._device.type == 'cpu' and not zero.any():  # (on cuda the test would be a host sync)
                return g / (2 * o)
            return masked_grad(g / (2 * (o + _wrap(zero.astype(o._data.dtype), o._device))), ~zero)
        return (grad,)
    return record_with_output(data, v._device, (v,), 'StdBackward0', make)


def var_mean(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):  # var_mean(x, False): the old positional 'unbiased'
        dim, unbiased = None, dim
    v, m = var(a, dim, unbiased, keepdim, correction=correction), a.mean(dim, keepdim=keepdim)
    return renamed(v, 'VarMeanBackward0', a), renamed(m, 'VarMeanBackward0', a)


def std_mean(a, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    s, m = std(a, dim, unbiased, keepdim, correction=correction), a.mean(dim, keepdim=keepdim)
    return renamed(s, 'StdMeanBackward0', a), renamed(m, 'StdMeanBackward0', a)


def norm(a, p='fro', dim=None, keepdim=False, dtype=None):
    if p == 'nuc':  # (PyTorch's nuclear norm is a matrix_norm: its node is the final sum's)
        return _norm(a, p, dim, keepdim, dtype)
    return renamed(_norm(a, p, dim, keepdim, dtype), 'LinalgVectorNormBackward0', a)  # PyTorch's node for norm


def _norm(a, p, dim, keepdim, dtype):
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    if a._data.dtype.kind == 'c':  # the norm of the moduli (a real result)
        a = a.abs()
    if a._data.dtype.kind != 'f':
        raise RuntimeError(f'linalg.vector_norm: Expected a floating point or complex tensor as input. '
                           f'Got {a.dtype.name}')
    if p == 'fro' and isinstance(dim, (tuple, list)) and len(dim) > 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    if p == 'fro' or p == 2:
        dims = norm_dims(dim, a.ndim)
        xp = a._device.xp
        x = a._data
        data = xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        shape = a.shape

        def make(out):
            def grad(g):
                o = _restore(out(), shape, dims, keepdim)
                safe = o + _wrap((o._data == 0).astype(o._data.dtype), o._device)  # the norm's subgradient at 0 is 0
                return _restore(g, shape, dims, keepdim) * a / safe
            return (grad,)
        return record_with_output(_arr(data, a), a._device, (a,), 'NormBackward1', make, (a,))
    if p in (math.inf, float('inf'), 'inf'):
        return a.abs().amax(() if dim is None else dim, keepdim)
    if p in (-math.inf, float('-inf')):
        return a.abs().amin(() if dim is None else dim, keepdim)
    if p == 0:  # the count of nonzeros: recorded (PyTorch's result requires grad) but with no gradient to give
        count = (a != 0).to(a.dtype).sum(dim, keepdim)
        return record(count._data, a._device, (a,), 'NormBackward1', (lambda g: None,))
    if p == 1:
        return a.abs().sum(dim, keepdim)
    if p == 'nuc':
        return _nuclear(a, dim, keepdim)
    dims = norm_dims(dim, a.ndim)
    xp = a._device.xp
    data = (xp.abs(a._data) ** p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
    shape = a.shape

    def make_p(out):
        def grad(g):
            # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); 0 where the norm is 0, as in PyTorch
            o = _restore(out(), shape, dims, keepdim)
            zero = o._data == 0
            safe = o + _wrap(zero.astype(o._data.dtype), o._device) if o._device.type != 'cpu' or zero.any() else o
            return _restore(g, shape, dims, keepdim) * a.sign() * a.abs() ** (p - 1) / safe ** (p - 1)
        return (grad,)
    return record_with_output(_arr(data, a), a._device, (a,), 'NormBackward1', make_p, (a,))


def _nuclear(a, dim, keepdim):
    """The sum of the singular values of the matrices over ``dim`` (the whole 2-D input by default)."""
    if dim is None and a.ndim < 2:
        raise RuntimeError('linalg.matrix_norm: The input tensor A must have at least 2 dimensions.')
    dims = tuple(range(a.ndim)) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    if len(dims) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
    if a.ndim < 2:
        raise RuntimeError('linalg.matrix_norm: The input tensor A must have at least 2 dimensions.')
    d0, d1 = norm_dim(dims[0], a.ndim), norm_dim(dims[1], a.ndim)
    if d0 == d1:
        raise RuntimeError(f'linalg.matrix_norm: dims must be different. Got ({dims[0]}, {dims[1]})')
    from .linalg_extra import svdvals
    r = svdvals(a.movedim((d0, d1), (-2, -1))).sum(-1)
    if keepdim:
        for d in sorted((d0, d1)):
            r = r.unsqueeze(d)
    return r


def logsumexp(a, dim, keepdim=False):
    dims = norm_dims(dim, a.ndim)
    xp = a._device.xp
    x = a._data if a._data.dtype.kind in 'fc' else a._data.astype(get_default_dtype().np)
    if x.size:
        m = x.real.max(axis=dims, keepdims=True)  # (complex: shifted by the largest real part)
        m = xp.where(xp.isfinite(m), m, 0)
        data = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
    else:  # an empty sum is 0: its log is -inf (the max, which has no identity, is not needed)
        data = xp.full(_kept_shape(x.shape, dims), -math.inf, dtype=x.dtype)
    out = data if keepdim else data.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
    shape = a.shape

    def make(out_get):
        return (lambda g: _restore(g, shape, dims, keepdim) * (a - _restore(out_get(), shape, dims, keepdim)).exp(),)
    return record_with_output(out, a._device, (a,), 'LogsumexpBackward0', make, (a,))


def softmax(a, dim=None, dtype=None):
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    d = _softmax_dim(a, dim)
    xp = a._device.xp
    if a._data.dtype.kind != 'f':
        _no_int_kernel(a, d, 'softmax')
        return _wrap(a._data.copy(), a._device)  # empty: nothing computed, the dtype kept
    x = a._data
    if x.size and x.ndim:
        e = x - x.max(axis=d, keepdims=True)
        xp.exp(e, out=e)
    elif x.size:
        e = xp.exp(x - x.max(axis=d, keepdims=True))
    else:
        e = x.copy()  # (an empty max has no identity)
    e /= e.sum(axis=d, keepdims=True)

    def make(out):
        def grad(g):
            y = out()
            if not _State.grad_enabled and y._data.ndim:  # the same arithmetic on arrays, in one scratch array
                t = g._data * y._data
                xp.subtract(g._data, t.sum(axis=d, keepdims=True), out=t)
                t *= y._data
                return _wrap(t, g._device)
            return y * (g - (g * y).sum(d, keepdim=True))
        return (grad,)
    return record_with_output(e, a._device, (a,), 'SoftmaxBackward0', make)


def log_softmax(a, dim=None, dtype=None):
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    d = _softmax_dim(a, dim)
    xp = a._device.xp
    if a._data.dtype.kind != 'f':
        _no_int_kernel(a, d, 'log_softmax')
        return _wrap(a._data.copy(), a._device)  # empty: nothing computed, the dtype kept
    x = a._data
    shifted = x - x.max(axis=d, keepdims=True) if x.size else x.copy()  # (an empty max has no identity)
    data = shifted - xp.log(xp.exp(shifted).sum(axis=d, keepdims=True))

    def make(out):
        return (lambda g: g - out().exp() * g.sum(d, keepdim=True),)
    return record_with_output(data, a._device, (a,), 'LogSoftmaxBackward0', make)


def _no_int_kernel(a, d, name):
    """PyTorch's softmax kernels are floating only (pass dtype= to compute in one); an empty input runs none."""
    if a._data.size:
        from ._util import not_implemented
        last = '_lastdim' if d == a.ndim - 1 or a.ndim == 0 else ''
        raise not_implemented(f'{name}{last}_kernel_impl', a._data.dtype)


def _softmax_dim(a, dim):
    if dim is None:
        # PyTorch's legacy implicit choice, with its warning's advice
        dim = 0 if a.ndim in (0, 1, 3) else 1
    return norm_dim(dim, a.ndim) if a.ndim else norm_dim(dim, 0) * 0


def cumsum(a, dim, dtype=None):
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    d = norm_dim(dim, a.ndim)
    x = a._data
    if x.dtype.kind in 'bu' or (x.dtype.kind == 'i' and x.dtype.itemsize < 8):
        x = x.astype('int64')
    data = a._device.xp.cumsum(x, axis=d) if a.ndim else x.copy()
    nd = a.ndim  # (not a: like PyTorch's, the backward keeps no tensor, so it can run twice)
    return record(data, a._device, (a,), 'CumsumBackward0',
                  (lambda g: g.flip(d).cumsum(d).flip(d) if nd else g,))


def cumprod(a, dim, dtype=None):
    if dtype is not None:
        a = a.to(to_dtype(dtype))
    d = norm_dim(dim, a.ndim)
    xp = a._device.xp
    x = a._data
    if x.dtype.kind in 'bu' or (x.dtype.kind == 'i' and x.dtype.itemsize < 8):
        x = x.astype('int64')
    if not a.ndim or a.shape[d] == 1:  # nothing multiplied: the gradient passes (even through inf, as PyTorch)
        return record(x.copy(), a._device, (a,), 'CumprodBackward0', (lambda g: g,))
    data = xp.cumprod(x, axis=d)

    def make(out):
        def grad(g):
            if (x != 0).all():  # d out_j / d x_i = out_j / x_i for j >= i
                return (g * out()).flip(d).cumsum(d).flip(d) / a
            return _wrap(_cumprod_grad_with_zeros(x, g._data, d, xp), g._device)
        return (grad,)
    return record_with_output(data, a._device, (a,), 'CumprodBackward0', make, (a,))


def _cumprod_grad_with_zeros(x, g, d, xp):
    """sum_{j>=i} g_j * prod_{k<=j, k!=i} x_k without dividing by x_i (O(n^2) along d; used only with zeros)."""
    xm, gm = xp.moveaxis(x, d, -1), xp.moveaxis(g, d, -1)
    n = xm.shape[-1]
    ones = xp.ones(xm.shape[:-1] + (1,), dtype=xm.dtype)
    left = xp.cumprod(xp.concatenate([ones, xm[..., :-1]], axis=-1), axis=-1)  # prod_{k<i} x_k
    upper = xp.arange(n)[None, :] > xp.arange(n)[:, None]  # [i, j]: j > i
    # [.., i, j] = prod_{i<k<=j} x_k for j >= i: cumulative products of x_j (j > i) after ones (j <= i)
    right = xp.cumprod(xp.where(upper, xm[..., None, :], 1), axis=-1) * (~upper.T | upper)
    out = left * (right * gm[..., None, :]).sum(-1)
    return xp.moveaxis(out, -1, d).astype(g.dtype, copy=False)


def all(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    dims = None if dim is None else norm_dims(dim, a.ndim)
    return _wrap(_logical_result(a._data.all(axis=dims, keepdims=keepdim), a), a._device)


def any(a, dim=None, keepdim=False, *, axis=None, keepdims=None):
    if axis is not None or keepdims is not None:  # NumPy's spellings, which PyTorch accepts too
        dim, keepdim = _np_names(dim, keepdim, axis, keepdims)
    dims = None if dim is None else norm_dims(dim, a.ndim)
    return _wrap(_logical_result(a._data.any(axis=dims, keepdims=keepdim), a), a._device)


def _logical_result(data, a):
    """all/any give bool, except on uint8 input, where PyTorch keeps uint8."""
    return data.astype(a._data.dtype) if a._data.dtype.kind == 'u' else data


def count_nonzero(a, dim=None):
    dims = None if dim is None else norm_dims(dim, a.ndim)
    return _wrap(_arr(a._device.xp.count_nonzero(a._data, axis=dims), a).astype('int64'), a._device)
