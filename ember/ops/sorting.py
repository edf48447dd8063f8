"""Order statistics and counting: sort, argsort, topk, kthvalue, median, unique, bincount, histc."""
from ._util import Tensor, norm_dim, _wrap
from .reduce import values_indices


def sort(a, dim=-1, descending=False, stable=False):
    xp = a._device.xp
    d = norm_dim(dim, a.ndim)
    x = a._data if a.ndim else a._data.reshape(1)
    idx = xp.argsort(-x if descending and x.dtype.kind != 'b' else x, axis=d, kind='stable')
    if descending and x.dtype.kind == 'b':
        idx = xp.flip(xp.argsort(x, axis=d, kind='stable'), axis=d)
    idx = idx.reshape(a.shape).astype('int64')
    it = _wrap(idx, a._device)
    return values_indices['sort'](a.gather(d, it) if a.ndim else a.clone(), it)


def argsort(a, dim=-1, descending=False, stable=False):
    return sort(a, dim, descending, stable).indices


def topk(a, k, dim=-1, largest=True, sorted=True):
    d = norm_dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f'selected index k out of range (k={k}, size of dim {d} is {n})')
    s = sort(a, d, descending=largest)
    key = (slice(None),) * d + (slice(0, k),)
    idx = s.indices[key]
    return values_indices['topk'](a.gather(d, idx), idx)


def kthvalue(a, k, dim=-1, keepdim=False):
    d = norm_dim(dim, a.ndim)
    n = a.shape[d]
    if not 1 <= k <= n:
        raise RuntimeError(f'kthvalue(): selected number k out of range for dimension {d} (k={k}, size {n})')
    s = sort(a, d)
    idx = s.indices[(slice(None),) * d + (slice(k - 1, k),)]
    vals = a.gather(d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return values_indices['kthvalue'](vals, idx)


def median(a, dim=None, keepdim=False):
    if dim is None:
        flat = a.reshape(-1)
        return kthvalue(flat, (flat.shape[0] + 1) // 2, 0).values
    d = norm_dim(dim, a.ndim)
    r = kthvalue(a, (a.shape[d] + 1) // 2, d, keepdim)
    return values_indices['median'](r.values, r.indices)


def unique(a, sorted=True, return_inverse=False, return_counts=False, dim=None):
    xp = a._device.xp
    if dim is not None:
        raise NotImplementedError('unique(dim=...) is not supported by ember')
    vals, inv, counts = xp.unique(a._data.reshape(-1), return_inverse=True, return_counts=True)
    out = [_wrap(vals, a._device)]
    if return_inverse:
        out.append(_wrap(inv.reshape(a.shape).astype('int64'), a._device))
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
