"""Convolution, transposed convolution, pooling, unfold/fold and padding: im2col GEMMs, forward next to backward."""
import itertools

from ._util import record
from .._tensor_core import _wrap
from ..autograd.grad_mode import _State

# Layout notes. A convolution is one GEMM between the weight, as a (O, C*K) matrix, and the input's patches, as a
# (C*K, M) "cols" matrix (K kernel offsets, M output positions over the batch). The patches are a strided view of
# the (padded) input, copied once. Copies and slice-adds run fastest when their innermost contiguous run is long,
# so cols is laid out either as (c, k..., n, out...) ("batch-middle": runs of one output row) or as
# (c, k..., out..., n) ("batch-last": runs of a whole output row times the batch, after transposing the input to
# C, spatial..., N). col2im (the input gradient / transposed convolution) is a loop over the K kernel offsets,
# each a slice-add of a (C, M) block — K Python iterations, never a loop over batch, channels or pixels; measured
# against a full-correlation im2col of the padded gradient (K times more copying) and a strided-diagonal buffer
# summed over K (more memory traffic), the slice-adds were fastest. Per convolution: one GEMM for the output, one
# for the weight gradient (reusing the forward's cols) and one for the input gradient (then col2im).
# Pooling reads the K strided views of the (padded) input directly: NumPy reductions over small window axes of a
# reshaped array (x.reshape(N, C, H/2, 2, W/2, 2).max((3, 5))) and argmax over a copied window axis measured 10-30x
# slower than K elementwise passes over strided views, so even the kernel == stride case goes through the views.
# Strided windows use xp.lib.stride_tricks.as_strided (NumPy and CuPy both have it).


class Geom:
    """Geometry of a sliding-window op over the last nd dims: kernel, stride, padding (low/high), dilation,
    input spatial size S and output spatial size OS. Instances are cached (a model reuses a handful)."""
    __slots__ = ('nd', 'k', 'st', 'lo', 'hi', 'dl', 'S', 'OS', 'Sp', 'K', 'offsets', 'slices', 'overlap', 'trivial')
    _cache = {}

    def __new__(cls, k, st, lo, hi, dl, S, OS=None):
        key = (tuple(k), tuple(st), tuple(lo), tuple(hi), tuple(dl), tuple(S), None if OS is None else tuple(OS))
        g = cls._cache.get(key)
        if g is None:
            g = object.__new__(cls)
            g._setup(*key)
            if len(cls._cache) > 1024:
                cls._cache.clear()
            cls._cache[key] = g
        return g

    def _setup(self, k, st, lo, hi, dl, S, OS):
        self.nd = len(k)
        self.k, self.st, self.lo, self.hi, self.dl, self.S = (tuple(int(v) for v in t) for t in (k, st, lo, hi, dl, S))
        if OS is None:
            OS = tuple((s + a + b - d * (kk - 1) - 1) // t + 1
                       for s, a, b, d, kk, t in zip(self.S, self.lo, self.hi, self.dl, self.k, self.st))
        self.OS = tuple(int(v) for v in OS)
        # the padded buffer must hold every window: at least S + lo + hi, more for ceil-mode overhang
        self.Sp = tuple(max(s + a + b, d * (kk - 1) + t * (o - 1) + 1)
                        for s, a, b, d, kk, t, o in zip(self.S, self.lo, self.hi, self.dl, self.k, self.st, self.OS))
        K = 1
        for kk in self.k:
            K *= kk
        self.K = K
        self.offsets = list(itertools.product(*[range(kk) for kk in self.k]))
        # per kernel offset, the slice of the padded buffer it reads for every output position
        self.slices = [tuple(slice(o * d, o * d + t * (n - 1) + 1, t)
                             for o, d, t, n in zip(off, self.dl, self.st, self.OS)) for off in self.offsets]
        self.overlap = any(kk > 1 and o > 1 and t < d * (kk - 1) + 1
                           for t, d, kk, o in zip(self.st, self.dl, self.k, self.OS))
        self.trivial = all(a == 0 for a in self.lo) and self.Sp == self.S

    def crop(self):
        return tuple(slice(a, a + s) for a, s in zip(self.lo, self.S))


def _as_strided(xp, a, shape, strides):
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def _padded(xp, x, g, order, value=0, contiguous=False):
    """x (lead..., spatial...) with axes reordered by ``order`` (a permutation of the lead axes placed around the
    spatial ones) and padded: a view when no padding is needed and ``contiguous`` is not asked for."""
    src = x.transpose(order) if order is not None else x
    if g.trivial:
        return xp.ascontiguousarray(src) if contiguous else src
    sp = [i for i, o in enumerate(order or range(x.ndim)) if o >= x.ndim - g.nd]
    shape = list(src.shape)
    key = [slice(None)] * src.ndim
    for j, i in enumerate(sp):
        shape[i] = g.Sp[j]
        key[i] = slice(g.lo[j], g.lo[j] + g.S[j])
    buf = xp.full(shape, value, dtype=x.dtype) if value != 0 else xp.zeros(shape, dtype=x.dtype)
    buf[tuple(key)] = src
    return buf


def _batch_last(N, g):
    """The patch layout: batch-last when output rows are short (the patch copy and col2im's slice-adds then get
    runs of a row times the batch instead of a few elements), batch-middle otherwise (then the (N, C) <-> (C, N)
    transposes are cheap block swaps; moving N innermost is a slow cache-unfriendly transpose for big tensors)."""
    return N > 1 and g.OS[-1] * g.st[-1] < 16


def im2col(xp, x, g, batch_last):
    """Patches of x (N, C, S...) as a C-contiguous (C*K, M) matrix in the chosen layout."""
    N, C = x.shape[:2]
    nd = g.nd
    if batch_last:
        buf = _padded(xp, x, g, (1,) + tuple(range(2, 2 + nd)) + (0,), contiguous=True)   # (C, Sp..., N)
        s = buf.strides
        shape = (C,) + g.k + g.OS + (N,)
        strides = ((s[0],) + tuple(s[1 + i] * g.dl[i] for i in range(nd)) +
                   tuple(s[1 + i] * g.st[i] for i in range(nd)) + (s[-1],))
    else:
        buf = _padded(xp, x, g, (1, 0) + tuple(range(2, 2 + nd)))                        # (C, N, Sp...)
        s = buf.strides
        shape = (C,) + g.k + (N,) + g.OS
        strides = ((s[0],) + tuple(s[2 + i] * g.dl[i] for i in range(nd)) + (s[1],) +
                   tuple(s[2 + i] * g.st[i] for i in range(nd)))
    return xp.ascontiguousarray(_as_strided(xp, buf, shape, strides)).reshape(C * g.K, -1)


def to_rows(xp, y, batch_last):
    """(N, O, OS...) -> the (O, M) matrix matching cols' column order."""
    nd = y.ndim - 2
    if batch_last:
        return xp.ascontiguousarray(y.transpose((1,) + tuple(range(2, 2 + nd)) + (0,))).reshape(y.shape[1], -1)
    return xp.ascontiguousarray(y.swapaxes(0, 1)).reshape(y.shape[1], -1)


def from_rows(xp, y, N, OS, batch_last, bias=None):
    """(O, M) matrix -> contiguous (N, O, OS...), with the bias added in the same pass."""
    O, nd = y.shape[0], len(OS)
    if batch_last:
        v = y.reshape((O,) + tuple(OS) + (N,)).transpose((nd + 1, 0) + tuple(range(1, nd + 1)))
    else:
        v = y.reshape((O, N) + tuple(OS)).swapaxes(0, 1)
    out = xp.empty((N, O) + tuple(OS), dtype=y.dtype)
    if bias is not None:
        xp.add(v, bias.reshape((1, O) + (1,) * nd), out=out)
    else:
        out[...] = v
    return out


def col2im(xp, dcols, C, N, g, batch_last):
    """Adjoint of im2col: sum a (C*K, M) patch matrix back into (N, C, S...) (a loop over the K kernel offsets)."""
    nd = g.nd
    if batch_last:
        dc = dcols.reshape((C,) + g.k + g.OS + (N,))
        buf = xp.zeros((C,) + g.Sp + (N,), dtype=dcols.dtype)
        lead = (slice(None),)
    else:
        dc = dcols.reshape((C,) + g.k + (N,) + g.OS)
        buf = xp.zeros((C, N) + g.Sp, dtype=dcols.dtype)
        lead = (slice(None), slice(None))
    _add_windows(xp, buf, dc, g, lead, 1)
    crop = buf[lead + g.crop()] if not g.trivial else buf
    if batch_last:
        return xp.ascontiguousarray(crop.transpose((nd + 1, 0) + tuple(range(1, nd + 1))))
    return xp.ascontiguousarray(crop.swapaxes(0, 1))


def _add_windows(xp, buf, src, g, lead, kpos):
    """buf[lead + window(off)] += src[:kpos, off, ...] for every kernel offset (assignment when windows are
    disjoint and the buffer is fresh)."""
    pre = (slice(None),) * kpos
    for off, sl in zip(g.offsets, g.slices):
        dst = buf[lead + sl]
        piece = src[pre + off]
        if g.overlap:
            xp.add(dst, piece, out=dst)
        else:
            dst[...] = piece


def _gemm(a, b, G):
    """Block-diagonal product for grouped convolution: a (G*m, k), b (G*k, n) -> (G*m, n)."""
    if G == 1:
        return a @ b
    m, n = a.shape[0] // G, b.shape[1]
    return (a.reshape(G, m, -1) @ b.reshape(G, -1, n)).reshape(G * m, n)


def _gemm_tn(a, b, G):
    """a.T @ b per group: a (G*m, k), b (G*m, n) -> (G*k, n)."""
    if G == 1:
        return a.T @ b
    m, n = a.shape[0] // G, b.shape[1]
    return (a.reshape(G, m, -1).transpose(0, 2, 1) @ b.reshape(G, m, n)).reshape(-1, n)


def _gemm_nt(a, b, G):
    """a @ b.T per group: a (G*m, n), b (G*k, n) -> (G*m, k)."""
    if G == 1:
        return a @ b.T
    n = a.shape[1]
    return (a.reshape(G, -1, n) @ b.reshape(G, -1, n).transpose(0, 2, 1)).reshape(a.shape[0], -1)


def _needs(*ts):
    return _State.grad_enabled and any(t is not None and t.requires_grad for t in ts)


# ---- convolution ------------------------------------------------------------------------------------------------

def convolution(x, w, b, stride, lo, hi, dilation, groups, OS=None):
    """Cross-correlation of x (N, C, S...) with w (O, C/groups, k...), plus bias b (O,) or None.

    Backward: input grad = conv_transpose (recorded), weight grad = conv_weight (recorded, reusing the forward's
    patch matrix), bias grad = a sum: all differentiable again.
    """
    xp = x._device.xp
    N, C = x.shape[:2]
    O = w.shape[0]
    g = Geom(w.shape[2:], stride, lo, hi, dilation, x.shape[2:], OS)
    bl = _batch_last(N, g)
    cols = im2col(xp, x._data, g, bl)
    y = _gemm(w._data.reshape(O, -1), cols, groups)
    out = from_rows(xp, y, N, g.OS, bl, None if b is None else b._data)
    if not _needs(x, w, b):
        return _wrap(out, x._device)
    keep = [cols if w.requires_grad else None]
    memo = [None, None]

    def rows(gt):
        """The output gradient as an (O, M) matrix, shared by the input- and weight-gradient GEMMs."""
        if memo[0] is not gt:
            memo[0], memo[1] = gt, to_rows(xp, gt._data, bl)
        return memo[1]

    def gx(gt):
        return conv_transpose(gt, w, None, g.st, g.lo, g.hi, g.dl, groups, g.S, _rows=rows(gt), _layout=bl)

    def gw(gt):
        c, keep[0] = keep[0], None
        return conv_weight(x, gt, w.shape, g.st, g.lo, g.hi, g.dl, groups, _cols=(c, bl) if c is not None else None,
                           _rows=rows(gt))

    dims = (0,) + tuple(range(2, 2 + g.nd))
    return record(out, x._device, (x, w, b), 'ConvolutionBackward0', (gx, gw, lambda gt: gt.sum(dims)), (x, w))


def convolution_reference(x, w, b, stride, lo, hi, dilation, groups):
    """The definition of ``convolution`` in recorded ops, for reading and for the tests that pin the im2col path
    (and, through its gradients, ``conv_transpose`` and ``conv_weight``) to it: pad, then for each kernel offset
    multiply the strided window of the input it sees by that offset's (O, C/groups) weight slice, and sum."""
    N, C, O, G = x.shape[0], x.shape[1], w.shape[0], groups
    k = tuple(w.shape[2:])
    xpad = pad_constant(x, tuple(zip(lo, hi)))
    OS = tuple((n - d * (kk - 1) - 1) // s + 1 for n, d, kk, s in zip(xpad.shape[2:], dilation, k, stride))
    out = None
    for kpos in itertools.product(*(range(kk) for kk in k)):
        window = (slice(None), slice(None)) + tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                                                    for o, d, s, m in zip(kpos, dilation, stride, OS))
        seen = xpad[window].reshape(N, G, C // G, -1)                  # (N, G, C/G, M)
        term = w[(slice(None), slice(None)) + kpos].reshape(G, O // G, C // G).matmul(seen)
        out = term if out is None else out + term                       # (N, G, O/G, M)
    out = out.reshape((N, O) + OS)
    return out if b is None else out + b.reshape((1, O) + (1,) * len(k))


def conv_transpose(x, w, b, stride, lo, hi, dilation, groups, S, _rows=None, _layout=None):
    """The adjoint of ``convolution`` in its input: x (N, Cin, IS...), w (Cin, Cout/groups, k...) -> (N, Cout, S...).

    ``S`` is the output spatial size (PyTorch's output_padding is folded into it).
    """
    xp = x._device.xp
    N, Cin = x.shape[:2]
    Cout = w.shape[1] * groups
    g = Geom(w.shape[2:], stride, lo, hi, dilation, S, x.shape[2:])
    bl = _layout if _layout is not None else _batch_last(N, g)
    r = _rows if _rows is not None else to_rows(xp, x._data, bl)
    dcols = _gemm_tn(w._data.reshape(Cin, -1), r, groups)
    out = col2im(xp, dcols, Cout, N, g, bl)
    if b is not None:
        out += b._data.reshape((1, Cout) + (1,) * g.nd)
    if not _needs(x, w, b):
        return _wrap(out, x._device)
    dims = (0,) + tuple(range(2, 2 + g.nd))
    return record(out, x._device, (x, w, b), 'ConvolutionBackward0',
                  (lambda gt: convolution(gt, w, None, g.st, g.lo, g.hi, g.dl, groups, g.OS),
                   lambda gt: conv_weight(gt, x, w.shape, g.st, g.lo, g.hi, g.dl, groups),
                   lambda gt: gt.sum(dims)), (x, w))


def conv_weight(x, gy, wshape, stride, lo, hi, dilation, groups, _cols=None, _rows=None):
    """The weight gradient of ``convolution``: x (N, C, S...), gy (N, O, OS...) -> (O, C/groups, k...).

    Bilinear in (x, gy); its own backward is a transposed convolution (for x) and a convolution (for gy).
    """
    xp = x._device.xp
    N = x.shape[0]
    g = Geom(wshape[2:], stride, lo, hi, dilation, x.shape[2:], gy.shape[2:])
    if _cols is not None:
        cols, bl = _cols
    else:
        bl = _batch_last(N, g)
        cols = im2col(xp, x._data, g, bl)
    r = _rows if _rows is not None else to_rows(xp, gy._data, bl)
    dw = _gemm_nt(r, cols, groups).reshape(wshape)
    if not _needs(x, gy):
        return _wrap(dw, x._device)
    return record(dw, x._device, (x, gy), 'ConvolutionBackwardBackward0',
                  (lambda gt: conv_transpose(gy, gt, None, g.st, g.lo, g.hi, g.dl, groups, g.S),
                   lambda gt: convolution(x, gt, None, g.st, g.lo, g.hi, g.dl, groups, g.OS)), (x, gy))


# ---- unfold / fold (im2col in PyTorch's (N, C*K, L) layout) -----------------------------------------------------

def unfold(x, g):
    """x (N, C, S...) -> (N, C*K, L) patches; backward is fold."""
    xp = x._device.xp
    N, C = x.shape[:2]
    buf = _padded(xp, x._data, g, None)
    s = buf.strides
    nd = g.nd
    shape = (N, C) + g.k + g.OS
    strides = s[:2] + tuple(s[2 + i] * g.dl[i] for i in range(nd)) + tuple(s[2 + i] * g.st[i] for i in range(nd))
    L = 1
    for o in g.OS:
        L *= o
    out = xp.ascontiguousarray(_as_strided(xp, buf, shape, strides)).reshape(N, C * g.K, L)
    return record(out, x._device, (x,), 'Im2ColBackward0', (lambda gt: fold(gt, g),))


def fold(cols, g):
    """cols (N, C*K, L) -> (N, C, S...) summing overlapping patches; backward is unfold."""
    xp = cols._device.xp
    N = cols.shape[0]
    C = cols.shape[1] // g.K
    src = cols._data.reshape((N, C) + g.k + g.OS)
    buf = xp.zeros((N, C) + g.Sp, dtype=cols._data.dtype)
    _add_windows(xp, buf, src, g, (slice(None), slice(None)), 2)
    out = buf if g.trivial else xp.ascontiguousarray(buf[(slice(None), slice(None)) + g.crop()])
    return record(out, cols._device, (cols,), 'Col2ImBackward0', (lambda gt: unfold(gt, g),))


# ---- pooling ----------------------------------------------------------------------------------------------------

_NC = (slice(None), slice(None))


def _views(buf, g):
    """Per kernel offset, the strided view of buf (N, C, Sp...) it reads for every output position."""
    return [buf[_NC + sl] for sl in g.slices]


def _idx_dtype(K):
    return 'int8' if K < 128 else 'int16' if K < 32768 else 'int32'


def max_pool(x, g, return_indices=False):
    """Max over windows of x (N, C, S...) (padding counts as -inf). The window argmax (first maximum, as PyTorch)
    is kept as a small per-output offset index; backward scatters the gradient there."""
    xp = x._device.xp
    data = x._data
    buf = _padded(xp, data, g, None, value=-xp.inf) if data.dtype.kind == 'f' else _padded(
        xp, data, g, None, value=xp.iinfo(data.dtype).min)
    views = _views(buf, g)
    out = views[0].copy()
    for v in views[1:]:
        xp.maximum(out, v, out=out)
    grad = _needs(x)
    idx = None
    if grad or return_indices:
        # the first offset reaching the max wins (as PyTorch); boolean arithmetic is far faster than masked writes
        dt = _idx_dtype(g.K)
        idx = xp.zeros(out.shape, dtype=dt)
        found = views[0] == out
        for j in range(1, g.K):
            hit = views[j] == out
            xp.greater(hit, found, out=hit)                 # hit and not found before
            step = hit.view('int8')
            idx += step if j == 1 else step * xp.asarray(j, dtype=dt)
            if j < g.K - 1:
                found |= hit
    res = record(out, x._device, (x,), f'MaxPool{g.nd}DWithIndicesBackward0',
                 (lambda gt: pool_scatter(gt, idx, g),), holds=True) if grad else _wrap(out, x._device)
    if return_indices:
        return res, _wrap(flat_indices(xp, idx, g), x._device)
    return res


def flat_indices(xp, idx, g):
    """Offsets within each window -> flat positions in the unpadded input plane (PyTorch's return_indices)."""
    nd = g.nd
    rem = idx.astype('int64')
    flat = xp.zeros(idx.shape, dtype='int64')
    plane = 1
    for d in range(nd - 1, -1, -1):
        o = rem % g.k[d]
        rem //= g.k[d]
        shape = [1] * idx.ndim
        shape[2 + d] = g.OS[d]
        start = (xp.arange(g.OS[d], dtype='int64') * g.st[d] - g.lo[d]).reshape(shape)
        flat += (start + o * g.dl[d]) * plane
        plane *= g.S[d]
    return flat


def pool_scatter(gy, idx, g):
    """Put each output gradient at its window's argmax (summing where windows overlap); adjoint of pool_gather."""
    xp = gy._device.xp
    N, C = gy.shape[:2]
    buf = xp.zeros((N, C) + g.Sp, dtype=gy._data.dtype)
    for j, dst in enumerate(_views(buf, g)):
        if g.overlap:
            dst += xp.where(idx == j, gy._data, 0)
        else:
            xp.multiply(idx == j, gy._data, out=dst)
    out = buf if g.trivial else xp.ascontiguousarray(buf[(slice(None), slice(None)) + g.crop()])
    return record(out, gy._device, (gy,), 'MaxPoolBackwardBackward0', (lambda gt: pool_gather(gt, idx, g),),
                  holds=True)


def pool_gather(x, idx, g):
    """Read x at each window's argmax; adjoint of pool_scatter."""
    xp = x._device.xp
    buf = _padded(xp, x._data, g, None)
    out = xp.zeros(idx.shape, dtype=x._data.dtype)
    for j, v in enumerate(_views(buf, g)):
        xp.copyto(out, v, where=idx == j)
    return record(out, x._device, (x,), 'MaxPoolGatherBackward0', (lambda gt: pool_scatter(gt, idx, g),), holds=True)


def window_sum(x, g):
    """Sum of x (N, C, S...) over every window (zero padding); backward is window_spread."""
    xp = x._device.xp
    buf = _padded(xp, x._data, g, None)
    out = None
    for v in _views(buf, g):
        if out is None:
            out = v.copy()
        else:
            xp.add(out, v, out=out)
    return record(out, x._device, (x,), f'AvgPool{g.nd}DBackward0', (lambda gt: window_spread(gt, g),))


def window_spread(gy, g):
    """Adjoint of window_sum: each output's value added to every input position of its window."""
    xp = gy._device.xp
    N, C = gy.shape[:2]
    buf = xp.zeros((N, C) + g.Sp, dtype=gy._data.dtype)
    for dst in _views(buf, g):
        if g.overlap:
            xp.add(dst, gy._data, out=dst)
        else:
            dst[...] = gy._data
    out = buf if g.trivial else xp.ascontiguousarray(buf[(slice(None), slice(None)) + g.crop()])
    return record(out, gy._device, (gy,), 'AvgPoolBackwardBackward0', (lambda gt: window_sum(gt, g),))


# ---- constant padding -------------------------------------------------------------------------------------------

def pad_constant(x, pads, value=0):
    """Pad (or, for negative amounts, crop) the trailing dims: ``pads`` is ((lo, hi), ...) for the last dims in
    order. Backward is the opposite pad/crop with zeros."""
    xp = x._device.xp
    nd = len(pads)
    lead = x.ndim - nd
    shape = x.shape[:lead] + tuple(n + a + b for n, (a, b) in zip(x.shape[lead:], pads))
    if any(n < 0 for n in shape):
        raise RuntimeError(f'The input size {tuple(x.shape)}, plus negative padding {pads} resulted in a negative '
                           f'output size')
    src, dst = [slice(None)] * lead, [slice(None)] * lead
    for n, (a, b) in zip(x.shape[lead:], pads):
        src.append(slice(max(-a, 0), n - max(-b, 0)))
        dst.append(slice(max(a, 0), max(a, 0) + max(n - max(-a, 0) - max(-b, 0), 0)))
    if value == 0 or value is None:
        out = xp.zeros(shape, dtype=x._data.dtype)
    else:
        out = xp.full(shape, value, dtype=x._data.dtype)
    out[tuple(dst)] = x._data[tuple(src)]
    back = tuple((-a, -b) for a, b in pads)
    return record(out, x._device, (x,), 'ConstantPadNdBackward0', (lambda gt: pad_constant(gt, back, 0),))
