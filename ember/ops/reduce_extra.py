"""More reductions and scans: nan-aware sums, aminmax, cummax/cummin, logcumsumexp, mode, quantile, cov, diff, ..."""
import builtins
from collections import namedtuple

from .._dtype import int64, get_default_dtype
from ._util import Tensor, record, norm_dim, _wrap, no_complex
from .elementwise import where, isnan, exp, sqrt, clamp, logical_xor
from .reduce import values_indices, sum as _sum, amin, amax, cumsum
from .shape import flip, narrow, cat, diagonal, stack
from .index import gather, scatter_add
from .sorting import sort

_aminmax = namedtuple('aminmax', ['min', 'max'])


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    x = input if dtype is None else input.to(dtype)
    if x._data.dtype.kind == 'f':
        x = where(isnan(x), 0.0, x)
    return _sum(x, dim, keepdim)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    x = input if dtype is None else input.to(dtype)
    if x._data.dtype.kind != 'f':
        raise RuntimeError(f'nanmean(): expected input to have floating point or complex dtype but got '
                           f'{x.dtype.name}')
    count = (~isnan(x)).to(x.dtype).sum(dim, keepdim)
    return nansum(x, dim, keepdim) / count


def aminmax(input, *, dim=None, keepdim=False):
    no_complex(input, 'aminmax_cpu')
    if input.numel() == 0 and (dim is None or input.shape[norm_dim(dim, input.ndim)] == 0):
        raise RuntimeError('aminmax(): cannot compute aminmax over an empty dimension as the operation has no '
                           'identity.')
    d = () if dim is None else dim
    return _aminmax(amin(input, d, keepdim), amax(input, d, keepdim))


def _cum_extreme(input, dim, is_max):
    name = 'cummax' if is_max else 'cummin'
    d = norm_dim(dim, input.ndim)
    xp = input._device.xp
    x = xp.moveaxis(input._data, d, 0) if input.ndim else input._data.reshape(1)
    vals = x.copy()
    idx = xp.zeros(x.shape, dtype=int64.np)
    for i in range(1, x.shape[0] if x.ndim else 0):
        prev, cur = vals[i - 1], x[i]
        better = (cur >= prev) if is_max else (cur <= prev)
        if cur.dtype.kind == 'f':
            better = better | xp.isnan(cur)
        vals[i] = xp.where(better, cur, prev)
        idx[i] = xp.where(better, i, idx[i - 1])
    if input.ndim:
        vals, idx = xp.moveaxis(vals, 0, d), xp.moveaxis(idx, 0, d)
    else:
        vals, idx = vals.reshape(()), idx.reshape(())
    index = _wrap(idx, input._device)
    shape = input.shape
    out = record(vals, input._device, (input,), f'{name.capitalize()}Backward0',
                 (lambda g: scatter_add(g * 0, d, index, g) if len(shape) else g,), holds=True)
    return values_indices[name](out, index)


def cummax(input, dim):
    no_complex(input, 'cummax_cpu')
    return _cum_extreme(input, dim, True)


def cummin(input, dim):
    no_complex(input, 'cummin_cpu')
    return _cum_extreme(input, dim, False)


def logcumsumexp(input, dim):
    d = norm_dim(dim, input.ndim)
    xp = input._device.xp
    x = input._data if input._data.dtype.kind == 'f' else input._data.astype(get_default_dtype().np)
    data = xp.logaddexp.accumulate(x, axis=d) if input.ndim else x.copy()

    def grad(g):  # x_bar_i = sum_{j >= i} g_j exp(x_i - out_j), shifted by the row max for range
        out = _wrap(data, input._device)
        if not input.ndim:
            return g
        m = _wrap(xp.where(xp.isfinite(data), data, 0).max(axis=d, keepdims=True) if data.size else data,
                  input._device)
        rev = flip(cumsum(flip(g * exp(m - out), [d]), d), [d])
        return exp(input - m) * rev
    return record(data, input._device, (input,), 'LogcumsumexpBackward0', (grad,), (input,))


def mode(input, dim=-1, keepdim=False):
    d = norm_dim(dim, input.ndim)
    xp = input._device.xp
    x = xp.moveaxis(input._data, d, -1) if input.ndim else input._data.reshape(1)
    n = x.shape[-1]
    if n == 0:
        raise IndexError(f'mode(): Expected reduction dim {dim} to have non-zero size.')
    rows = x.reshape(-1, n)
    vals = xp.empty(rows.shape[0], x.dtype)
    idx = xp.empty(rows.shape[0], int64.np)
    for r in range(rows.shape[0]):  # the smallest most frequent value, at its last position (PyTorch's choice)
        u, counts = xp.unique(rows[r], return_counts=True)
        v = u[int(xp.argmax(counts))]
        vals[r] = v
        idx[r] = n - 1 - int(xp.argmax(rows[r][::-1] == v))
    shape = x.shape[:-1]
    vals, idx = vals.reshape(shape), idx.reshape(shape)
    if keepdim and input.ndim:
        vals, idx = xp.expand_dims(vals, d), xp.expand_dims(idx, d)
    index = _wrap(idx, input._device)

    def grad(g):
        if not input.ndim:
            return g
        gi, ii = (g, index) if keepdim else (g.unsqueeze(d), index.unsqueeze(d))
        return scatter_add(_wrap(xp.zeros(input.shape, g._data.dtype), g._device), d, ii, gi)
    out = record(vals, input._device, (input,), 'ModeBackward0', (grad,), holds=True)
    return values_indices['mode'](out, index)


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan):
    name = 'nanquantile' if ignore_nan else 'quantile'
    if input._data.dtype.kind != 'f':
        raise RuntimeError(f'{name}() input tensor must be either float or double dtype')
    xp = input._device.xp
    scalar_q = not isinstance(q, Tensor)
    qa = xp.asarray([q] if scalar_q else q._data, dtype=input._data.dtype).reshape(-1)
    if not isinstance(q, Tensor) or q.ndim == 0:
        scalar_q = True
    if qa.size and (qa.min() < 0 or qa.max() > 1):
        raise RuntimeError(f'{name}() q values must be in the range [0, 1]')
    if interpolation not in ('linear', 'lower', 'higher', 'midpoint', 'nearest'):
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, midpoint or nearest. Got "
                         f"{interpolation}")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else norm_dim(dim, input.ndim)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.shape[d] == 0:
        raise RuntimeError(f'{name}() input tensor must be non-empty')
    s = sort(x, d).values.movedim(d, -1)  # NaNs sort last
    n = s.shape[-1]
    nan_count = isnan(s)._data.sum(-1, keepdims=True)
    valid = (n - nan_count) if ignore_nan else xp.full(nan_count.shape, n)
    outs = []
    for qv in qa.tolist():
        pos = qv * (valid - 1).astype(input._data.dtype)
        lo = xp.floor(pos).astype(int64.np)
        hi = xp.ceil(pos).astype(int64.np)
        if interpolation == 'nearest':
            lo = hi = xp.round(pos).astype(int64.np)  # round half to even, as PyTorch
        elif interpolation == 'lower':
            hi = lo
        elif interpolation == 'higher':
            lo = hi
        lo, hi = xp.clip(lo, 0, n - 1), xp.clip(hi, 0, n - 1)
        vlo = gather(s, -1, _wrap(lo, s._device))
        vhi = gather(s, -1, _wrap(hi, s._device))
        if interpolation == 'midpoint':
            v = vlo + (vhi - vlo) * 0.5
        elif interpolation == 'linear':
            w = _wrap((pos - xp.floor(pos)).astype(input._data.dtype), s._device)
            v = vlo + (vhi - vlo) * w
        else:
            v = vlo
        bad = (valid == 0) if ignore_nan else (nan_count > 0)
        if bad.any():
            v = where(_wrap(bad, s._device), float('nan'), v)
        outs.append(v.squeeze(-1))
    out = stack(outs, 0)  # (len(q), *rest)
    if keepdim and input.ndim:
        if dim is None:
            out = out.reshape((len(qa),) + (1,) * input.ndim)
        else:
            out = out.unsqueeze(d + 1)
    return out[0] if scalar_q else out


def quantile(input, q, dim=None, keepdim=False, *, interpolation='linear'):
    return _quantile(input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation='linear'):
    return _quantile(input, q, dim, keepdim, interpolation, True)


def msort(input):
    return sort(input, 0).values


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f'trace: expected a matrix, but got tensor with dim {input.ndim}')
    d = diagonal(input, 0, 0, 1)
    return d.sum() if input._data.dtype.kind != 'b' else d.to(int64).sum()


def cov(input, *, correction=1, fweights=None, aweights=None):
    if input.ndim > 2:
        raise ValueError(f'cov(): expected input to have two or fewer dimensions but got an input with '
                         f'{input.ndim} dimensions')
    x = input.reshape(1, -1) if input.ndim < 2 else input
    if x._data.dtype.kind != 'f':
        x = x.to(get_default_dtype())
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = fweights.to(x.dtype)
    if aweights is not None:
        w = aweights.to(x.dtype) if w is None else w * aweights.to(x.dtype)
    if w is None:
        wsum = float(n)
        avg = x.mean(1, keepdim=True) if n else x.sum(1, keepdim=True)
    else:
        wsum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / wsum
    if w is None:
        norm = wsum - correction
    elif correction == 0:
        norm = wsum
    elif aweights is None:
        norm = wsum - correction
    else:
        norm = wsum - correction * (w * aweights.to(x.dtype)).sum() / wsum
    if not isinstance(norm, Tensor) and norm <= 0:
        norm = 0.0
    elif isinstance(norm, Tensor):
        norm = clamp(norm, min=0)
    xm = x - avg
    xw = xm if w is None else xm * w
    c = (xw @ xm.mT) / norm
    return c.reshape(()) if x.shape[0] == 1 else c


def corrcoef(input):
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = diagonal(c, 0, 0, 1)
    sd = sqrt(d)
    c = c / sd.unsqueeze(1) / sd.unsqueeze(0)
    return clamp(c, -1, 1)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    if input.ndim == 0:
        raise RuntimeError('diff expects input to be at least one-dimensional')
    d = norm_dim(dim, input.ndim)
    x = input
    if prepend is not None or append is not None:
        parts = ([prepend.expand(tuple(n_ if i != d else prepend.shape[d] for i, n_ in enumerate(x.shape)))
                  if prepend.ndim == x.ndim else prepend.reshape(1).expand(tuple(1 if i == d else n_ for i, n_ in
                                                                              enumerate(x.shape)))]
                 if prepend is not None else []) + [x] + (
            [append if append.ndim == x.ndim else append.reshape(1).expand(tuple(1 if i == d else n_ for i, n_ in
                                                                             enumerate(x.shape)))]
            if append is not None else [])
        x = cat(parts, d)
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        a, b = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = logical_xor(a, b) if x._data.dtype.kind == 'b' else a - b
    return x


def trapezoid(y, x=None, *, dx=None, dim=-1):
    d = norm_dim(dim, y.ndim)
    m = y.shape[d]
    if m == 0:
        return y.sum(d) * 0
    left, right = narrow(y, d, 0, m - 1), narrow(y, d, 1, m - 1)
    if x is not None:
        if isinstance(x, Tensor):
            xd = diff(x, dim=dim if x.ndim == y.ndim else -1)
            if xd.ndim == 1 and y.ndim > 1:
                xd = xd.reshape(tuple(-1 if i == d else 1 for i in range(y.ndim)))
            return ((left + right) * xd).sum(d) / 2
        dx = x
    return (left + right).sum(d) * ((1.0 if dx is None else dx) / 2)


def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    d = norm_dim(dim, y.ndim)
    m = y.shape[d]
    if m == 0:
        return y
    left, right = narrow(y, d, 0, m - 1), narrow(y, d, 1, m - 1)
    if isinstance(x, Tensor):
        xd = diff(x, dim=dim if x.ndim == y.ndim else -1)
        if xd.ndim == 1 and y.ndim > 1:
            xd = xd.reshape(tuple(-1 if i == d else 1 for i in range(y.ndim)))
        return cumsum((left + right) * xd / 2, d)
    step = x if x is not None else (1.0 if dx is None else dx)
    return cumsum((left + right) * (step / 2), d)


def dist(input, other, p=2):
    from .reduce import norm
    return norm((input - other).reshape(-1), p)


def renorm(input, p, dim, maxnorm):
    d = norm_dim(dim, input.ndim)
    others = tuple(i for i in range(input.ndim) if i != d)
    from .reduce import norm
    nrm = norm(input, p, others, True)
    factor = where(nrm > maxnorm, maxnorm / (nrm + 1e-7), 1.0)
    return input * factor


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    res = namedtuple('histogram', ['hist', 'bin_edges'])
    xp = input._device.xp
    b = bins._data if isinstance(bins, Tensor) else bins
    h, edges = xp.histogram(input._data, bins=b, range=range, weights=None if weight is None else weight._data,
                            density=density)
    dt = input._data.dtype
    return res(_wrap(h.astype(dt), input._device), _wrap(edges.astype(dt), input._device))


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    xp = boundaries._device.xp
    x = input._data if isinstance(input, Tensor) else xp.asarray(input)
    idx = xp.searchsorted(boundaries._data, x, side='right' if right else 'left')
    return _wrap(xp.asarray(idx).astype('int32' if out_int32 else 'int64'), boundaries._device)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    xp = sorted_sequence._device.xp
    if side is not None:
        right = side == 'right'
    seq = sorted_sequence._data
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, -1)
    scalar = not isinstance(input, Tensor)
    x = xp.asarray(input) if scalar else input._data
    s = 'right' if right else 'left'
    if seq.ndim == 1:
        idx = xp.searchsorted(seq, x, side=s)
    else:
        if x.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(f'torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 '
                               f'dimensions of boundaries tensor and input value tensor must match, but we got '
                               f'boundaries tensor {list(seq.shape)} and input value tensor {list(x.shape)}')
        rs, rx = seq.reshape(-1, seq.shape[-1]), x.reshape(-1, x.shape[-1])
        idx = xp.stack([xp.searchsorted(rs[i], rx[i], side=s) for i in builtins.range(rs.shape[0])]).reshape(
            x.shape) if rs.shape[0] else xp.zeros(x.shape, 'int64')
    return _wrap(xp.asarray(idx).astype('int32' if out_int32 else 'int64'), sorted_sequence._device)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    dev = (elements if isinstance(elements, Tensor) else test_elements)._device
    xp = dev.xp
    e = elements._data if isinstance(elements, Tensor) else xp.asarray(elements)
    t = test_elements._data if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return _wrap(xp.isin(e, t, invert=invert), dev)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    xp = input._device.xp
    if dim is None:
        x = input._data.reshape(-1)
        if x.size == 0:
            change = xp.zeros(0, bool)
        else:
            change = xp.concatenate([xp.ones(1, bool), x[1:] != x[:-1]])
        vals = x[change]
        inv = (xp.cumsum(change) - 1).reshape(input.shape)
    else:
        d = norm_dim(dim, input.ndim)
        x = xp.moveaxis(input._data, d, 0)
        n = x.shape[0]
        flat = x.reshape(n, -1)
        change = xp.ones(n, bool)
        if n > 1:
            change[1:] = (flat[1:] != flat[:-1]).any(axis=1)
        vals = xp.moveaxis(x[change], 0, d)
        inv = xp.cumsum(change) - 1
    pos = xp.flatnonzero(change)
    counts = xp.diff(xp.concatenate([pos, xp.asarray([change.shape[0]])])) if change.size else xp.zeros(0, 'int64')
    out = [_wrap(vals, input._device)]
    if return_inverse:
        out.append(_wrap(inv.astype('int64'), input._device))
    if return_counts:
        out.append(_wrap(counts.astype('int64'), input._device))
    return out[0] if len(out) == 1 else tuple(out)


METHODS = (nansum, nanmean, aminmax, cummax, cummin, logcumsumexp, mode, quantile, nanquantile, msort, trace, cov,
           corrcoef, diff, dist, renorm, histogram, isin, unique_consecutive)
__all__ = [f.__name__ for f in METHODS] + ['trapezoid', 'trapz', 'cumulative_trapezoid', 'bucketize',
                                           'searchsorted']
