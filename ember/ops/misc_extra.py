"""Odds and ends of PyTorch's op surface: unfold, put, nanmedian, index_reduce('mean'), gradient, histogramdd,
nonzero_static and the strided/permuted empty constructors."""
import builtins

from .._dtype import int64
from ._util import Tensor, record, norm_dim, _wrap
from .reduce import values_indices
from .index import index_select, index_add, scatter_add
from .shape import narrow
from ..backends import scatter_add as _scatter_add


def unfold(input, dimension, size, step):
    """Every ``size``-long window along ``dimension`` (``step`` apart) as a new last dim."""
    if input.ndim == 0:
        if size > 1:
            raise RuntimeError(f'maximum size for tensor at dimension 0 is 1 but size is {size}')
        return input.reshape(1)
    d = norm_dim(dimension, input.ndim)
    n = input.shape[d]
    if size > n:
        raise RuntimeError(f'maximum size for tensor at dimension {d} is {n} but size is {size}')
    if step <= 0:
        raise RuntimeError(f'step is {step} but must be > 0')
    xp = input._device.xp
    count = (n - size) // step + 1
    idx = (xp.arange(count)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
    out = index_select(input, d, _wrap(idx.astype(int64.np), input._device))
    shape = list(input.shape)
    shape[d:d + 1] = [count, size]
    return out.reshape(shape).movedim(d + 1, -1)


def put(input, index, source, accumulate=False):
    flat = input.reshape(-1)
    n = flat.shape[0]
    idx = index.reshape(-1)
    if idx.numel() and (bool((idx._data >= n).any()) or bool((idx._data < -n).any())):
        raise IndexError(f'out of range: tried to access index {int(idx._data.max())} on a tensor of {n} elements.')
    idx = _wrap(idx._data % builtins.max(n, 1), idx._device)
    src = source.reshape(-1).to(input.dtype)
    if not accumulate:  # clear the written places, then add the new values there
        xp = input._device.xp
        keep = xp.ones(n, input._data.dtype)
        keep[idx._data] = 0
        flat = flat * _wrap(keep, input._device)
    return index_add(flat, 0, idx, src).reshape(input.shape)


def nanmedian(input, dim=None, keepdim=False):
    """The lower median of the non-NaN values (NaN where all are NaN)."""
    xp = input._device.xp
    full = dim is None
    x = input.reshape(-1) if full else input
    d = 0 if full or x.ndim == 0 else norm_dim(dim, x.ndim)
    a = x._data if x.ndim else x._data.reshape(1)
    if a.shape[d] == 0:
        if full:
            return _wrap(xp.asarray(xp.nan, a.dtype), input._device)
        raise IndexError(f'nanmedian(): Expected reduction dim {dim} to have non-zero size.')
    order = xp.argsort(a, axis=d, kind='stable')  # NaNs sort last
    valid = (~xp.isnan(a)).sum(axis=d, keepdims=True) if a.dtype.kind == 'f' else xp.full(
        a.shape[:d] + (1,) + a.shape[d + 1:], a.shape[d])
    k = xp.maximum(valid - 1, 0) // 2
    idx = xp.take_along_axis(order, k, axis=d)
    vals = xp.take_along_axis(a, idx, axis=d)
    src = x if x.ndim else x.reshape(1)
    index = _wrap(idx, input._device)
    shape = src.shape

    def grad(g):
        gk = g.reshape(index.shape) if g.shape != index.shape else g
        return scatter_add(_wrap(xp.zeros(shape, g._data.dtype), g._device), d, index, gk).reshape(x.shape)
    if full:
        return _median_full(input, vals, idx)
    if not keepdim or input.ndim == 0:
        vals, idx = xp.squeeze(vals, d), xp.squeeze(idx, d)
        if input.ndim == 0:
            vals, idx = vals.reshape(()), idx.reshape(())
    out = record(vals, input._device, (x,), 'NanmedianBackward1', (grad,), holds=True)
    return values_indices['median'](out, _wrap(idx, input._device))


def _median_full(input, vals, idx):
    xp = input._device.xp
    shape = input.shape
    flat_idx = int(idx.reshape(-1)[0])

    def grad(g):
        z = xp.zeros(shape, g._data.dtype).reshape(-1)
        z[flat_idx] = 1
        return g * _wrap(z.reshape(shape), g._device)
    return record(vals.reshape(()), input._device, (input,), 'NanmedianBackward0', (grad,))


def _index_reduce_ufunc(input, d, index, source, reduce, include_self):
    """prod/amax/amin: the slices of ``input`` along ``d`` picked by ``index`` combined with ``source``'s (NumPy's
    ufunc.at; on cuda CuPy lacks multiply.at, so prod there raises)."""
    xp = input._device.xp
    x, src, idx = xp.moveaxis(input._data, d, 0), xp.moveaxis(source._data, d, 0), index._data.reshape(-1)
    n = x.shape[0]
    touched = xp.zeros(n, bool)
    touched[idx] = True
    out = x.copy()
    kind = x.dtype.kind
    big = xp.inf if kind == 'f' else (xp.iinfo(x.dtype).max if kind in 'iu' else True)
    if not include_self:
        out[touched] = {'prod': 1, 'amax': -big if kind != 'b' else False, 'amin': big}[reduce]
    {'prod': xp.multiply, 'amax': xp.maximum, 'amin': xp.minimum}[reduce].at(out, idx, src)
    tmask = touched.reshape((-1,) + (1,) * (x.ndim - 1))

    def grads(g):
        gm = xp.moveaxis(g._data, d, 0)
        if reduce == 'prod':
            gi = xp.where(tmask, gm * out / x if include_self else 0, gm)
            gs = (gm * out)[idx] / src
        else:  # shared evenly among the values equal to the result (input's own included when it counts)
            self_hit = tmask & (x == out) if include_self else xp.zeros(x.shape, bool)
            src_hit = src == out[idx]
            count = self_hit.astype(gm.dtype)
            _scatter_add(count, idx, src_hit.astype(gm.dtype))
            share = gm / xp.maximum(count, 1)
            gi = xp.where(tmask, share * self_hit, gm)
            gs = share[idx] * src_hit
        return _wrap(xp.moveaxis(gi, 0, d), g._device), _wrap(xp.moveaxis(gs, 0, d), g._device)
    return record(xp.moveaxis(out, 0, d), input._device, (input, source), 'IndexReduceBackward0',
                  (lambda g: grads(g)[0], lambda g: grads(g)[1]), (input, source), holds=True)


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    if reduce not in ('prod', 'mean', 'amax', 'amin'):
        raise RuntimeError(f'index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.')
    if input.ndim and reduce != 'mean':
        return _index_reduce_ufunc(input, norm_dim(dim, input.ndim), index, source, reduce, include_self)
    if input.ndim == 0:  # as a 1-element vector (index_add wants an axis)
        return index_reduce(input.reshape(1), dim, index.reshape(-1), source.reshape(1), reduce,
                            include_self=include_self).reshape(())
    d = norm_dim(dim, input.ndim)
    xp = input._device.xp
    sums = index_add(input * 0, d, index, source)
    counts = xp.zeros(input.shape[d] if input.ndim else 1, input._data.dtype)
    _scatter_add(counts, index._data.reshape(-1), 1)
    counts = counts.reshape(tuple(-1 if i == d else 1 for i in range(input.ndim)))
    touched = _wrap(counts > 0, input._device)
    if include_self:
        out = (input + sums) / _wrap(counts + 1, input._device)
    else:
        out = sums / _wrap(xp.maximum(counts, 1), input._device)
    from .elementwise import where
    out = where(touched, out, input)
    return out if out.dtype == input.dtype else out.to(input.dtype)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Second-order central differences inside, first- or second-order one-sided ones at the edges."""
    import numpy as np  # coefficients from the (non-differentiated) coordinates are host-side constants
    dims = list(range(input.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    dims = [norm_dim(x, input.ndim) for x in dims]
    if not isinstance(spacing, (list, tuple)):
        spacing = [spacing] * len(dims)
    if len(spacing) != len(dims):
        raise RuntimeError(f'torch.gradient expected spacing to be unspecified, a scalar or it\'s spacing and dim '
                           f'arguments to have the same length, but got a spacing argument of length {len(spacing)} '
                           f'and a dim argument of length {len(dims)}.')
    outs = []
    for d, h in zip(dims, spacing):
        n = input.shape[d]
        if n < edge_order + 1:
            raise RuntimeError('torch.gradient expected each dimension size to be at least edge_order+1')
        f = input if input._data.dtype.kind == 'f' else input.float()
        x = h._data.astype(float) if isinstance(h, Tensor) else np.arange(n) * float(1 if h is None else h)

        def sl(start, length):
            return narrow(f, d, start, length)

        def c(v):
            shape = [1] * f.ndim
            shape[d] = -1
            return _wrap(np.asarray(v, dtype=f._data.dtype).reshape(shape), f._device)
        dx1, dx2 = np.diff(x)[:-1], np.diff(x)[1:]
        parts = []
        if edge_order == 1:
            parts.append((sl(1, 1) - sl(0, 1)) * c([1 / (x[1] - x[0])]))
        else:
            a1, a2 = x[1] - x[0], x[2] - x[1]
            parts.append(sl(0, 1) * c([-(2 * a1 + a2) / (a1 * (a1 + a2))]) + sl(1, 1) * c([(a1 + a2) / (a1 * a2)]) +
                         sl(2, 1) * c([-a1 / (a2 * (a1 + a2))]))
        if n > 2:
            parts.append(sl(0, n - 2) * c(-dx2 / (dx1 * (dx1 + dx2))) + sl(1, n - 2) * c((dx2 - dx1) / (dx1 * dx2)) +
                         sl(2, n - 2) * c(dx1 / (dx2 * (dx1 + dx2))))
        if edge_order == 1:
            parts.append((sl(n - 1, 1) - sl(n - 2, 1)) * c([1 / (x[-1] - x[-2])]))
        else:
            a1, a2 = x[-2] - x[-3], x[-1] - x[-2]
            parts.append(sl(n - 3, 1) * c([a2 / (a1 * (a1 + a2))]) + sl(n - 2, 1) * c([-(a2 + a1) / (a1 * a2)]) +
                         sl(n - 1, 1) * c([(2 * a2 + a1) / (a2 * (a1 + a2))]))
        from .shape import cat
        outs.append(cat(parts, d))
    return tuple(outs)


def _upper_bound(edges, v, xp):
    """The index of the first edge > v by C++'s std::upper_bound probing (PyTorch's bin search; on unsorted edges
    the probing order decides, so it is reproduced rather than delegated to searchsorted)."""
    first = xp.zeros(v.shape, 'int64')
    count = xp.full(v.shape, edges.shape[0], 'int64')
    while bool((count > 0).any()):
        step = count // 2
        it = first + step
        go = (count > 0) & ~(v < edges[xp.minimum(it, edges.shape[0] - 1)])
        first = xp.where(go, it + 1, first)
        count = xp.where(go, count - step - 1, xp.where(count > 0, step, 0))
    return first


def histogramdd(input, bins=10, *, range=None, weight=None, density=False):
    """Counts (or weights) of the rows of ``input`` (..., D) in a D-dim grid of bins: per dim a count of equal bins
    over ``range`` (else the data's min..max, widened by 0.5 each way when empty) or explicit edges; a value on the
    last edge is in the last bin, one outside the edges in none."""
    from .._creation import linspace
    from .._printing import return_type
    xp = input._device.xp
    D = input.shape[-1]
    pts = input._data.reshape(-1, D)
    dt = input._data.dtype
    if isinstance(bins, int):
        bins = [bins] * D
    edges = []
    for i, b in enumerate(bins):
        if isinstance(b, Tensor):
            edges.append(b._data.astype(dt))  # (a copy: the result's edges are not the argument's memory)
            continue
        if range is not None:
            lo, hi = float(range[2 * i]), float(range[2 * i + 1])
        elif pts.shape[0]:
            lo, hi = float(pts[:, i].min()), float(pts[:, i].max())
        else:
            lo, hi = 0.0, 1.0
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges.append(linspace(lo, hi, int(b) + 1, dtype=input.dtype, device=input._device)._data)
    nb = [e.shape[0] - 1 for e in edges]
    flat = xp.zeros(pts.shape[0], 'int64')
    inside = xp.ones(pts.shape[0], bool)
    for i, e in enumerate(edges):
        v = pts[:, i]
        inside &= (v >= e[0]) & (v <= e[-1])
        pos = xp.minimum(_upper_bound(e, v, xp) - 1, nb[i] - 1)  # (the last edge closes the last bin)
        flat = flat * nb[i] + xp.clip(pos, 0, builtins.max(nb[i] - 1, 0))
    w = xp.ones(pts.shape[0], dt) if weight is None else weight._data.reshape(-1).astype(dt, copy=False)
    size = 1
    for n in nb:
        size *= n
    hist = xp.bincount(flat[inside], weights=w[inside], minlength=size).astype(dt).reshape(tuple(nb))
    if density:
        hist = hist / hist.sum()
        for i, e in enumerate(edges):
            shape = [1] * D
            shape[i] = nb[i]
            hist = hist / (e[1:] - e[:-1]).reshape(shape)
    res = return_type('histogramdd', ('hist', 'bin_edges'))
    return res(_wrap(hist.astype(dt, copy=False), input._device), tuple(_wrap(e, input._device) for e in edges))


def nonzero_static(input, *, size, fill_value=-1):
    xp = input._device.xp
    nz = xp.argwhere(input._data).astype(int64.np)  # (count, ndim), also for 0-d input
    k = nz.shape[0]
    if k >= size:
        return _wrap(nz[:size].copy(), input._device)
    pad = xp.full((size - k, nz.shape[1]), fill_value, dtype=nz.dtype)
    return _wrap(xp.concatenate([nz, pad]), input._device)


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """An uninitialised tensor of ``size`` (NumPy storage is dense: ``stride`` is accepted, not reproduced)."""
    from .._creation import empty
    return empty(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad=False,
                   pin_memory=False):
    return empty_strided(size, None, dtype=dtype, device=device, requires_grad=requires_grad)


def new_empty_strided(self, size, stride, *, dtype=None, layout=None, device=None, requires_grad=False,
                      pin_memory=False):
    return empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)


def zero_(input):
    return input.zero_()


METHODS = (unfold, put, nanmedian, index_reduce, new_empty_strided)
__all__ = ['unfold', 'put', 'nanmedian', 'index_reduce', 'gradient', 'histogramdd', 'nonzero_static',
           'empty_strided', 'empty_permuted', 'new_empty_strided', 'zero_']
