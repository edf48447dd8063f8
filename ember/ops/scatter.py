"""gather and the scatter family (scatter, scatter_add, scatter_reduce): PyTorch's argument checks, 0-dim and empty
indices, every scatter_reduce reduction, and the gradients PyTorch defines for them."""
from ._util import Tensor, record, norm_dim, same_device, _wrap, renamed, not_implemented
from ..backends import scatter_add as _scatter_add, scatter_ufunc, checks_values

_IDENTITY = {'sum': 0, 'mean': 0, 'prod': 1}


def _along(dim, index, xp):
    """Fancy-index tuple addressing element [i0, .., index[i], ..] for every position i of ``index``."""
    nd = index.ndim
    key = []
    for d in range(nd):
        if d == dim:
            key.append(index)
        else:
            shape = [1] * nd
            shape[d] = index.shape[d]
            key.append(xp.arange(index.shape[d]).reshape(shape))
    return tuple(key)


def _size(t, i):
    """t's size at dim i, a 0-dim tensor counting as one element long (PyTorch's ensure_nonempty_size)."""
    return t.shape[norm_dim(i, t.ndim)] if t.ndim else 1


def _check_index(a, dim, index, op, src=None):
    """PyTorch's checks of a gather/scatter call; returns the wrapped dim (indices may be checked against the values
    only where that costs no device sync)."""
    d = norm_dim(dim, a.ndim)
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    same_device(a, index, op)
    if not index.numel():
        return d
    name = 'gather' if op == 'gather' else 'scatter'
    if index._data.dtype.name not in ('int64', 'int32'):
        raise RuntimeError(f'{name}(): Expected dtype int32/int64 for index')
    if isinstance(src, Tensor):
        same_device(a, src, op)
        if src._data.dtype != a._data.dtype:
            raise RuntimeError(f'{name}(): Expected self.dtype to be equal to src.dtype')
    if max(index.ndim, 1) != max(a.ndim, 1):
        raise RuntimeError(f'Index tensor must have the same number of dimensions as '
                           f'{"input" if op == "gather" else "self"} tensor')
    if isinstance(src, Tensor) and max(src.ndim, 1) < max(index.ndim, 1):
        _size(src, index.ndim - 1)  # PyTorch's IndexError for the missing dim
    for i in range(index.ndim):
        if op == 'gather':
            if i != d and index.shape[i] > _size(a, i):
                raise RuntimeError(f'Size does not match at dimension {i} expected index {list(index.shape)} to be no '
                                   f'larger than self {list(a.shape)} apart from dimension {d}')
        elif (i != d and index.shape[i] > _size(a, i)) or (isinstance(src, Tensor) and index.shape[i] > _size(src, i)):
            tail = f' and to be no larger size than src {list(src.shape)}' if isinstance(src, Tensor) else ''
            raise RuntimeError(f'Expected index {list(index.shape)} to be no larger than self {list(a.shape)} apart '
                               f'from dimension {d}{tail}')
    n = _size(a, d)
    # a host sync on cuda: checked there only with EMBER_CUDA_CHECKS=1 (PyTorch asserts on the device instead)
    if checks_values(a._device):
        bad = (index._data < 0) | (index._data >= n)
        if bad.any():
            v = int(index._data.reshape(-1)[bad.reshape(-1).argmax()])
            raise RuntimeError(f'index {v} is out of bounds for dimension {d} with size {n}')
    return d


def _vec(t):
    """A 0-dim tensor as a one-element vector (a 0-dim input indexes like one)."""
    return t.reshape(1) if t.ndim == 0 else t


def gather(a, dim, index, *, sparse_grad=False):
    d = _check_index(a, dim, index, 'gather')
    if not index.numel():
        xp = a._device.xp
        return record(xp.zeros(index.shape, a._data.dtype), a._device, (a,), 'GatherBackward0',
                      (lambda g, s=a.shape: _wrap(xp.zeros(s, g._data.dtype), g._device),))
    if a.ndim == 0 or index.ndim == 0:
        return renamed(gather(_vec(a), d, _vec(index)).reshape(index.shape), 'GatherBackward0', a)
    key = _along(d, index._data, a._device.xp)
    shape = a.shape
    return record(a._data[key], a._device, (a,), 'GatherBackward0',
                  (lambda g: _scatter_into_zeros(g, shape, d, index),), (index,))


def _scatter_into_zeros(g, shape, d, index):
    xp = g._device.xp
    z = _wrap(xp.zeros(shape, dtype=g._data.dtype), g._device)
    return scatter_add(z, d, index, g)


def _pad_to(g, shape):
    """A gradient for the index-shaped corner of a larger src."""
    if g.shape == shape:
        return g
    xp = g._device.xp
    z = xp.zeros(shape, dtype=g._data.dtype)
    z[tuple(slice(0, n) for n in g.shape)] = g._data
    return _wrap(z, g._device)


def _unchanged(a, src, name):
    """A scatter with an empty index: a copy of ``a``; src gets zero gradients."""
    return record(a._data.copy(), a._device, (a, src), name,
                  (lambda g: g, lambda g, s=src.shape: _wrap(g._device.xp.zeros(s, g._data.dtype), g._device)))


def _corner(src, index):
    return src._data[tuple(slice(0, n) for n in index.shape)]


def _nd_args(a, index, src):
    """Whether a 0-dim tensor takes part, in which case the op runs on one-element vectors."""
    return a.ndim == 0 or index.ndim == 0 or (isinstance(src, Tensor) and src.ndim == 0)


def scatter(a, dim, index, src=None, value=None, *, reduce=None):
    if src is None and value is None:
        raise TypeError('scatter() missing 1 required argument: src or value')
    if src is not None and not isinstance(src, Tensor):
        value, src = src, None
    if reduce is not None and reduce not in ('add', 'multiply'):
        raise RuntimeError('reduce argument must be either add or multiply.')
    d = _check_index(a, dim, index, 'scatter', src)
    if not index.numel():
        return renamed(a.clone(), 'ScatterBackward0' if src is not None else 'ScatterBackward1', a)
    if _nd_args(a, index, src):
        out = scatter(_vec(a), d, _vec(index), _vec(src) if src is not None else value, reduce=reduce)
        return renamed(out.reshape(a.shape), 'ScatterBackward0' if src is not None else 'ScatterBackward1', a)
    xp = a._device.xp
    key = _along(d, index._data, xp)
    data = a._data.copy()
    vals = _corner(src, index) if src is not None else value
    if reduce is None:
        data[key] = vals
    elif reduce == 'add':
        _scatter_add(data, key, vals)
    else:
        scatter_ufunc(data, key, vals, 'multiply')
    ins, fns = [a], [lambda g: g.scatter(d, index, 0)]
    if src is not None:
        ss = src.shape
        ins.append(src)
        fns.append(lambda g: _pad_to(g.gather(d, index), ss))
    return record(data, a._device, tuple(ins), 'ScatterBackward0' if src is not None else 'ScatterBackward1',
                  tuple(fns), (index,))


def scatter_add(a, dim, index, src):
    d = _check_index(a, dim, index, 'scatter_add', src)
    if not index.numel():
        return _unchanged(a, src, 'ScatterAddBackward0')
    if _nd_args(a, index, src):
        return renamed(scatter_add(_vec(a), d, _vec(index), _vec(src)).reshape(a.shape), 'ScatterAddBackward0', a)
    xp = a._device.xp
    key = _along(d, index._data, xp)
    data = a._data.copy()
    _scatter_add(data, key, _corner(src, index))
    ss = src.shape
    return record(data, a._device, (a, src), 'ScatterAddBackward0',
                  (lambda g: g, lambda g: _pad_to(g.gather(d, index), ss)), (index,))


def _reduce_into(base, key, vals, reduce, include_self):
    """The scatter_reduce result as an array: ``base`` with ``vals`` combined in at ``key``."""
    xp = _xp_of(base)
    out = base.copy()
    kind = out.dtype.kind
    if not include_self:
        if reduce in _IDENTITY:
            ident = _IDENTITY[reduce]
        else:
            big = xp.inf if kind == 'f' else (xp.iinfo(out.dtype).max if kind in 'iu' else True)
            lo = -xp.inf if kind == 'f' else (xp.iinfo(out.dtype).min if kind in 'iu' else False)
            ident = lo if reduce == 'amax' else big
        out[key] = ident
    if reduce in ('sum', 'mean'):
        _scatter_add(out, key, vals)
    else:
        scatter_ufunc(out, key, vals, {'prod': 'multiply', 'amax': 'maximum', 'amin': 'minimum'}[reduce])
    if reduce == 'mean':
        count = xp.zeros(out.shape, out.dtype if kind == 'f' else 'int64')
        _scatter_add(count, key, 1)
        count = count + 1 if include_self else xp.maximum(count, 1)
        out = out / count if kind == 'f' else xp.floor_divide(out, count).astype(out.dtype)
    return out


def _xp_of(arr):
    from ..backends import device_of_array
    return device_of_array(arr).xp


def scatter_reduce(a, dim, index, src, reduce, *, include_self=True):
    reduce = {'max': 'amax', 'min': 'amin'}.get(reduce, reduce)  # (PyTorch still takes the old names)
    if reduce not in ('sum', 'prod', 'mean', 'amax', 'amin'):
        raise RuntimeError(f'reduce argument must be either sum, prod, mean, amax or amin, got {reduce}')
    d = _check_index(a, dim, index, 'scatter_reduce', src)
    if not index.numel():
        return _unchanged(a, src, 'ScatterReduceBackward0')
    if _nd_args(a, index, src):
        out = scatter_reduce(_vec(a), d, _vec(index), _vec(src), reduce, include_self=include_self)
        return renamed(out.reshape(a.shape), 'ScatterReduceBackward0', a)
    if reduce == 'mean' and a._data.dtype.kind == 'b':
        raise not_implemented('scatter_gather_tensor_cpu_reduce_mean', a._data.dtype)
    xp = a._device.xp
    key = _along(d, index._data, xp)
    x, s = a._data, _corner(src, index)
    out = _reduce_into(x, key, s, reduce, include_self)
    if x.dtype.kind != 'f':
        return _wrap(out, a._device)
    f_self, pre, post = _reduce_grads(x, s, out, key, reduce, include_self)
    dev, ss = a._device, src.shape

    def fself(g):
        gs = g if f_self is None else g * _wrap(f_self, dev)
        return gs if include_self else gs.scatter(d, index, 0)

    def fsrc(g):
        gs = (g if pre is None else g * _wrap(pre, dev)).gather(d, index)
        return _pad_to(gs if post is None else gs * _wrap(post, dev), ss)
    return record(out, a._device, (a, src), 'ScatterReduceBackward0', (fself, fsrc), (index,), holds=True)


def _reduce_grads(x, s, out, key, reduce, include_self):
    """PyTorch's scatter_reduce gradients as constant factors (None: one): ``grad_self = g * f_self`` and
    ``grad_src = (g * pre).gather(index) * post``. prod: the product of the other factors, exact where one is zero;
    amax/amin: shared evenly among the values equal to the result; mean: divided by the count."""
    xp = _xp_of(x)
    if reduce == 'sum':
        return None, None, None
    if reduce == 'mean':
        count = xp.zeros(x.shape, x.dtype)
        _scatter_add(count, key, 1)
        inv = 1 / (count + 1 if include_self else xp.maximum(count, 1))
        return inv, inv, None
    if reduce == 'prod':
        masked_self = xp.where(x == 0, 1, x)
        f_self = _reduce_into(masked_self, key, s, 'prod', include_self) / masked_self
        zero = s == 0
        zeros_per_slot = xp.zeros(x.shape, x.dtype)
        _scatter_add(zeros_per_slot, key, zero.astype(x.dtype))
        single = zero & (zeros_per_slot[key] == 1)
        others = _reduce_into(x, key, xp.where(single, 1, s), 'prod', include_self)
        # the others' product where src is its slot's only zero, else out / src (zero where another factor is zero)
        return f_self, None, xp.where(single, others[key], out[key] / xp.where(zero, 1, s))
    self_hit = (x == out).astype(x.dtype)
    src_hit = (s == out[key]).astype(x.dtype)
    n = self_hit.copy()
    _scatter_add(n, key, src_hit)
    share = 1 / n
    return self_hit * share, share, src_hit
