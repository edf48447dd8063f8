"""Order statistics and counting: sort, argsort, topk, kthvalue, median, unique, bincount, histc."""
from ._util import Tensor, norm_dim, _wrap, record, renamed, no_complex
from .reduce import values_indices


def sort(a, dim=-1, descending=False, stable=False):
    no_complex(a, 'sort')
    xp = a._device.xp
    d = norm_dim(dim, a.ndim)
    x = a._data if a.ndim else a._data.reshape(1)
    idx = _sort_index(x, d, descending, xp).reshape(a.shape).astype('int64')
    it = _wrap(idx, a._device)
    return renamed(values_indices['sort'](a.gather(d, it) if a.ndim else a.clone(), it), 'SortBackward0', a)


def _sort_index(x, d, descending, xp):
    """Stable sorting permutation along d; NaN counts as the largest value, as in PyTorch."""
    if not descending:
        return xp.argsort(x, axis=d, kind='stable')
    if x.dtype.kind in 'biu':  # ~x reverses the order without overflow (and keeps ties stable, unlike a flip)
        return xp.argsort(~x, axis=d, kind='stable')
    idx = xp.argsort(-x, axis=d, kind='stable')
    nan = xp.isnan(x)
    if xp.__name__ != 'numpy' or nan.any():  # NaNs first: a second stable pass (always on cuda: no sync)
        first = xp.argsort(~xp.take_along_axis(nan, idx, axis=d), axis=d, kind='stable')
        idx = xp.take_along_axis(idx, first, axis=d)
    return idx


def argsort(a, dim=-1, descending=False, stable=False):
    return sort(a, dim, descending, stable).indices


def _check_sortable(a, kernel):
    if a._data.dtype.kind == 'b':
        from ._util import not_implemented
        raise not_implemented(kernel, a._data.dtype)


def _scalar_pick(a, name, node):
    """A 0-d input's kthvalue/median/topk: the value itself at index 0 (PyTorch's answer for every keepdim)."""
    idx = _wrap(a._device.xp.zeros((), dtype='int64'), a._device)
    return renamed(values_indices[name](a.clone(), idx), node, a)


def topk(a, k, dim=-1, largest=True, sorted=True):
    no_complex(a, 'topk')
    d = norm_dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError('selected index k out of range')
    if a._data.dtype.kind == 'b':
        raise RuntimeError('topk does not support bool dtypes on CPU')
    if not a.ndim:  # even k=0 gives the 0-d value back, as in PyTorch
        return _scalar_pick(a, 'topk', 'TopkBackward0')
    s = sort(a, d, descending=largest)
    key = (slice(None),) * d + (slice(0, k),)
    idx = s.indices[key]
    return renamed(values_indices['topk'](a.gather(d, idx), idx), 'TopkBackward0', a)


def _pick(a, d, pos, keepdim, name, node):
    """The element at sorted position ``pos`` (an int, or an array broadcasting against the reduced shape) along d."""
    xp = a._device.xp
    order = _sort_index(a._data, d, False, xp)
    if isinstance(pos, int):
        pos = xp.full(a.shape[:d] + (1,) + a.shape[d + 1:], pos, dtype='int64')
    idx = _wrap(xp.take_along_axis(order, pos, axis=d).astype('int64'), a._device)
    vals = a.gather(d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return renamed(values_indices[name](vals, idx), node, a)


def _reduce_dim(a, dim, kernel):
    d = norm_dim(dim, a.ndim)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f'{kernel}(): Expected reduction dim {d} to have non-zero size.')
    return d


def kthvalue(a, k, dim=-1, keepdim=False):
    no_complex(a, 'kthvalue_cpu')
    d = _reduce_dim(a, dim, 'kthvalue')
    n = a.shape[d] if a.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f'kthvalue(): selected number k out of range for dimension {d}')
    _check_sortable(a, 'kthvalue_cpu')
    if not a.ndim:
        return _scalar_pick(a, 'kthvalue', 'KthvalueBackward0')
    return _pick(a, d, k - 1, keepdim, 'kthvalue', 'KthvalueBackward0')


def median(a, dim=None, keepdim=False):
    no_complex(a, 'median_cpu')
    if dim is None:
        _check_sortable(a, 'median_cpu')
        flat = a._data.reshape(-1)
        xp = a._device.xp
        if not flat.size:
            raise IndexError('median() input tensor cannot be empty')
        v = xp.sort(flat)[(flat.size - 1) // 2]  # NaNs sort last, so a NaN median means the input holds NaN
        if flat.dtype.kind == 'f':  # (a where, not an if: no host sync on cuda)
            v = xp.where(xp.isnan(flat).any(), xp.asarray(xp.nan, dtype=flat.dtype), v)
        shape = a.shape

        def grad(g):
            # the gradient is shared evenly by every element equal to the median, as in PyTorch
            mask = (a._data == v) | (xp.isnan(a._data) & xp.isnan(v)) if flat.dtype.kind == 'f' else a._data == v
            return g * _wrap((mask / mask.sum()).astype(g._data.dtype), g._device).reshape(shape)
        return record(xp.asarray(v, dtype=flat.dtype), a._device, (a,), 'MedianBackward0', (grad,), (a,), holds=True)
    d = _reduce_dim(a, dim, 'median')
    _check_sortable(a, 'median_out')
    if not a.ndim:
        return _scalar_pick(a, 'median', 'MedianBackward1')
    n = a.shape[d]
    pos = (n - 1) // 2
    if a._data.dtype.kind == 'f':  # a slice holding NaN has median NaN: its first NaN, which sorts after the numbers
        xp = a._device.xp
        nans = xp.isnan(a._data).sum(axis=d, keepdims=True)
        pos = xp.where(nans > 0, n - nans, pos).astype('int64')
    return _pick(a, d, pos, keepdim, 'median', 'MedianBackward1')


def unique(a, sorted=True, return_inverse=False, return_counts=False, dim=None):
    xp = a._device.xp
    if dim is not None:  # unique slices along dim, in lexicographic order
        d = norm_dim(dim, a.ndim)
        vals, inv, counts = xp.unique(a._data, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    else:
        vals, inv, counts = xp.unique(a._data.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    out = [_wrap(vals, a._device)]
    if return_inverse:
        out.append(_wrap(inv.astype('int64'), a._device))
    if return_counts:
        out.append(_wrap(counts.astype('int64'), a._device))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(a, weights=None, minlength=0):
    if a.ndim != 1 or a._data.dtype.kind not in 'iu':
        raise RuntimeError(f'bincount only supports 1-d non-negative integral inputs, got {a.ndim}-d {a.dtype.name}')
    if a.numel() and int(a._data.min()) < 0:
        raise RuntimeError('bincount only supports 1-d non-negative integral inputs.')
    xp = a._device.xp
    w = weights._data if isinstance(weights, Tensor) else weights
    data = xp.bincount(a._data, weights=w, minlength=minlength)
    if w is None:
        data = data.astype('int64')
    elif weights._data.dtype.kind == 'f':
        data = data.astype(weights._data.dtype)
    return _wrap(data, a._device)


def histc(a, bins=100, min=0, max=0):
    xp = a._device.xp
    x = a._data
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    counts, _ = xp.histogram(x, bins=bins, range=(lo, hi))
    return _wrap(counts.astype(x.dtype if x.dtype.kind == 'f' else 'float32'), a._device)
